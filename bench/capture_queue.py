"""Capture queue throughput on the production path: captures per minute with 1 and 2 rq workers.

kb runs on PostgreSQL with KB_TASK_BACKEND=rq; each worker is started with the command line README's
Production section gives (``serve.RQ_WORKER``). A small corpus made here (pages with a stylesheet
and two images) is served on 127.0.0.1 by a separate process (``python -m http.server``). For each
worker count the bench waits until every worker has registered, asks for ``--pages`` captures
(``link_create``, as the API does), and times until none is pending or running.

    .venv/bin/python bench/capture_queue.py [--pages 40] [--workers 1 2] [--fairness]
        [--database-url postgres://postgres@127.0.0.1:5432/kb_bench_queue]
        [--redis-url redis://127.0.0.1:6379/14]

``--fairness`` instead times one link added by hand right after a ``--pages`` import (bulk) with
one worker: how long until it is captured, when it waits its turn (first come, first served:
before the fair queue) and when it is asked for by a person (``Snapshot.Priority.ASKED``: now).

The database is created afresh and dropped at the end; the Redis database is emptied (FLUSHDB)
before and after: give it one nothing else uses.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def write_corpus(folder: Path, pages: int) -> None:
    (folder / "site.css").write_text("body { font: 16px serif } h1 { color: #234 }\n" * 20)
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes(png(64, 48, (30, 60, 90)))
    paragraph = "<p>" + "Words of an article worth keeping for later reading. " * 30 + "</p>"
    for number in range(pages):
        (folder / f"page-{number}.html").write_text(
            f"<!doctype html><html><head><meta charset=utf-8><title>Page {number}</title>"
            '<link rel="stylesheet" href="site.css"></head><body><article>'
            f'<h1>Page {number}</h1>{paragraph * 5}<img src="a.png" alt=""><img src="b.png" alt="">'
            "</article></body></html>"
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/kb_bench_queue"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--fairness", action="store_true", help="time a hand add behind an import")
    return parser.parse_args()


ARGS = parse_args()
PORT = free_port()
WORK = Path(tempfile.mkdtemp(prefix="kb-bench-queue-"))
os.environ |= {
    "DJANGO_SETTINGS_MODULE": "kb.settings",
    "DATABASE_URL": ARGS.database_url,
    "KB_TASK_BACKEND": "rq",
    "REDIS_URL": ARGS.redis_url,
    "KB_DATA_DIR": str(WORK / "data"),
    "KB_FETCH_ALLOW_HOSTS": f"127.0.0.1:{PORT}",
    "LOG_LEVEL": "WARNING",
}

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402

from kb.management.commands.serve import RQ_WORKER  # noqa: E402
from snapshots.models import Snapshot  # noqa: E402
from snapshots.services.links import link_create  # noqa: E402
from tests.support.images import png  # noqa: E402


def live_workers(queue_store: redis.Redis) -> int:
    """rq workers registered and alive (a stopped one leaves its name until it unregisters)."""
    return sum(
        1
        for key in queue_store.smembers("rq:workers")
        if queue_store.exists(key) and queue_store.hget(key, "death") is None
    )


def recreate_database(url: str, *, create: bool = True) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(url, dbname="postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            admin.execute(f'CREATE DATABASE "{name}"')


def start_workers(count: int, queue_store: redis.Redis) -> list[subprocess.Popen]:
    workers = [
        subprocess.Popen(
            [sys.executable, "manage.py", *RQ_WORKER, "-v0"],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    while live_workers(queue_store) < count:
        time.sleep(0.2)
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def fairness(owner, queue_store: redis.Redis, pages: int) -> None:
    """Seconds a link added by hand waits behind a ``pages``-link import, without and with priority."""
    print("hand-added link behind an import, 1 worker   seconds until captured  import left")
    for round_number, (label, priority) in enumerate(
        [("first come, first served (before)", Snapshot.Priority.BULK),
         ("asked for by a person (now)", Snapshot.Priority.ASKED)]
    ):  # fmt: skip
        queue_store.flushdb()
        workers = start_workers(1, queue_store)
        try:
            for number in range(pages):  # an import: bulk, queued first
                link_create(
                    owner=owner,
                    url=f"http://127.0.0.1:{PORT}/page-{number}.html?import={round_number}",
                    priority=Snapshot.Priority.BULK,
                )
            started = time.monotonic()
            link, _ = link_create(
                owner=owner, url=f"http://127.0.0.1:{PORT}/page-0.html?hand={round_number}",
                priority=priority,
            )  # fmt: skip
            mine = Snapshot.objects.filter(link=link)
            deadline = started + 30 + 10 * pages
            while (
                mine.filter(status__in=[Snapshot.Status.PENDING, Snapshot.Status.RUNNING]).exists()
                and time.monotonic() < deadline
            ):
                time.sleep(0.1)
            seconds = time.monotonic() - started
            left = Snapshot.objects.filter(
                link__url__endswith=f"?import={round_number}", status=Snapshot.Status.PENDING
            ).count()
            status = mine.get().status
        finally:
            stop_workers(workers)
        print(f"{label:44s} {seconds:23.1f}  {left:11d}  ({status})")


def main() -> None:
    args = ARGS
    try:
        recreate_database(args.database_url)
        queue_store = redis.Redis.from_url(args.redis_url)
        queue_store.flushdb()
    except (psycopg.OperationalError, redis.ConnectionError) as error:
        print(f"capture_queue: PostgreSQL or Redis does not answer ({error}); skipping.")
        raise SystemExit(0) from None

    corpus = WORK / "corpus"
    corpus.mkdir()
    write_corpus(corpus, args.pages)
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(PORT), "--bind", "127.0.0.1"],
        cwd=corpus,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    call_command("migrate", "--noinput", verbosity=0)
    owner = get_user_model().objects.create_user("bench", password="bench bench 42")
    if args.fairness:
        try:
            fairness(owner, queue_store, args.pages)
        finally:
            server.terminate()
            server.wait()
            connections.close_all()
            queue_store.flushdb()
            recreate_database(args.database_url, create=False)
        return
    print(f"{args.pages} pages (stylesheet + 2 images each) from 127.0.0.1:{PORT}")
    print("workers  captures  seconds  captures/min  succeeded  failed  lost")
    try:
        for round_number, count in enumerate(args.workers):
            workers = [
                subprocess.Popen(
                    [sys.executable, "manage.py", *RQ_WORKER, "-v0"],
                    cwd=REPO,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for _ in range(count)
            ]
            try:
                while live_workers(queue_store) < count:
                    time.sleep(0.2)
                started = time.monotonic()
                for number in range(args.pages):
                    link_create(
                        owner=owner,
                        url=f"http://127.0.0.1:{PORT}/page-{number}.html?round={round_number}",
                    )
                ids = list(
                    Snapshot.objects.filter(link__url__endswith=f"?round={round_number}")
                    .order_by()
                    .values_list("pk", flat=True)
                )
                busy = Snapshot.objects.filter(
                    pk__in=ids, status__in=[Snapshot.Status.PENDING, Snapshot.Status.RUNNING]
                )
                deadline = started + 30 + 10 * args.pages
                while busy.exists() and time.monotonic() < deadline:
                    time.sleep(0.2)
                seconds = time.monotonic() - started
            finally:
                for worker in workers:
                    worker.send_signal(signal.SIGTERM)
                for worker in workers:
                    try:
                        worker.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        worker.kill()
                        worker.wait()
            done = Snapshot.objects.filter(pk__in=ids)
            succeeded = done.filter(status=Snapshot.Status.SUCCEEDED).count()
            failed = done.filter(status=Snapshot.Status.FAILED).count()
            print(
                f"{count:7d}  {len(ids):8d}  {seconds:7.1f}  {60 * len(ids) / seconds:12.1f}"
                f"  {succeeded:9d}  {failed:6d}  {len(ids) - succeeded - failed:4d}"
            )
    finally:
        server.terminate()
        server.wait()
        connections.close_all()
        queue_store.flushdb()
        recreate_database(args.database_url, create=False)


if __name__ == "__main__":
    main()
