"""What `manage.py capture` and `manage.py recapture` share: choosing the user, running captures
with a progress bar, and printing one line per result."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import filesizeformat
from tqdm import tqdm

from snapshots.models import Link, Snapshot
from snapshots.tasks import run_capture, snapshot_request


def resolve_user(username: str | None):
    """``--user``, or else the first superuser, or else the only account."""
    users = get_user_model().objects
    if username:
        user = users.filter(username=username).first()
        if user is None:
            raise CommandError(f"There is no user named {username!r}.")
        return user
    user = users.filter(is_superuser=True, is_active=True).order_by("pk").first()
    if user is None and users.count() == 1:
        user = users.get()
    if user is None:
        raise CommandError("Say whose library this is for with --user USERNAME.")
    return user


def describe(snapshot: Snapshot) -> str:
    if snapshot.status == Snapshot.Status.SUCCEEDED:
        details = [filesizeformat(snapshot.size)]
        if snapshot.assets_inlined or snapshot.assets_failed:
            details.append(f"{snapshot.assets_inlined} files inlined")
        if snapshot.assets_failed:
            details.append(f"{snapshot.assets_failed} failed")
        title = snapshot.title or snapshot.link.display_title
        return f"captured {snapshot.link.url} — {title} ({', '.join(details)})"
    if snapshot.status == Snapshot.Status.FAILED:
        return f"failed {snapshot.link.url}: {snapshot.error}"
    return f"{snapshot.get_status_display()} {snapshot.link.url}"


def add_engine_argument(parser) -> None:
    parser.add_argument(
        "--engine",
        choices=["auto", "static", "browser"],
        default="",
        help="how to capture (default: KB_CAPTURE_ENGINE); browser needs Chromium",
    )


def capture_links(
    command: BaseCommand, links: Iterable[Link], *, total: int, now: bool = True, engine: str = ""
) -> tuple[int, int]:
    """Request a snapshot of each link (with ``engine``, or KB_CAPTURE_ENGINE's); with ``now``,
    run it here. Returns (succeeded, failed)."""
    succeeded = failed = 0
    with tqdm(total=total, unit="link", disable=total < 2, file=command.stderr._out) as bar:
        for link in links:
            # Queued ones wait behind the captures people ask for in the meantime.
            snapshot = snapshot_request(
                link=link, enqueue=not now, engine=engine, priority=Snapshot.Priority.BULK
            )
            if now:
                run_capture(snapshot.pk, wait_for_retries=True)
                snapshot.refresh_from_db()
                if snapshot.status == Snapshot.Status.SUCCEEDED:
                    succeeded += 1
                    style = command.style.SUCCESS
                else:
                    failed += 1
                    style = command.style.ERROR
                bar.write(style(describe(snapshot)), file=command.stdout._out)
            else:
                bar.write(f"queued {link.url}", file=command.stdout._out)
            bar.update(1)
    return succeeded, failed
