"""Links, their snapshots (a dated capture history) and the content-addressed blobs they are stored in."""

import secrets
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from taggit.managers import TaggableManager

from kb.messages import from_json, translated
from snapshots.normalize import domain_of, host_key


class LinkQuerySet(models.QuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        # Imports save links in bulk, which skips save(): fill what it would.
        objs = list(objs)
        for link in objs:
            link.fill_domain()
        return super().bulk_create(objs, *args, **kwargs)


class Link(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="links",
        verbose_name=_("owner"),
    )
    url = models.URLField(_("URL"), max_length=2048)
    normalized_url = models.CharField(
        _("normalized URL"),
        max_length=2048,
        help_text=_(
            "The URL without tracking parameters, fragment or default port; unique per owner."
        ),
    )
    domain = models.CharField(_("domain"), max_length=255, blank=True, db_index=True)
    # The domain's labels reversed (normalize.host_key), kept with it by save() and bulk_create.
    host_key = models.CharField(_("host key"), max_length=256, blank=True, editable=False)
    title = models.CharField(_("title"), max_length=500, blank=True)
    # The page's title from the newest capture that succeeded (a failed or queued one keeps it).
    page_title = models.CharField(_("page title"), max_length=1000, blank=True)
    description = models.TextField(_("description"), blank=True)
    notes = models.TextField(_("notes"), blank=True, help_text=_("Markdown."))
    tags = TaggableManager(_("tags"), blank=True)
    private = models.BooleanField(
        _("private"), default=True, help_text=_("Only you can see a private link.")
    )
    unread = models.BooleanField(_("unread"), default=True)
    created = models.DateTimeField(_("created"), default=timezone.now)
    updated = models.DateTimeField(_("updated"), auto_now=True)
    latest_snapshot = models.ForeignKey(
        "Snapshot",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("latest snapshot"),
        help_text=_("Kept so that list pages show the capture state without another query."),
    )

    objects = LinkQuerySet.as_manager()

    class Meta:
        verbose_name = _("link")
        verbose_name_plural = _("links")
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "normalized_url"], name="link_unique_normalized_url_per_owner"
            )
        ]
        indexes = [
            models.Index(fields=["owner", "-created"], name="link_owner_created"),
            # The library's order, and after:/before: (and is:unread/read below) counted from the
            # index alone: with the id in it, PostgreSQL reads no link row (library_pages).
            models.Index(fields=["created", "id"], name="link_created_id"),
            models.Index(fields=["unread", "id"], name="link_unread_id"),
            # Who may not see a link (others' private ones): queries._invisible_ids.
            models.Index(fields=["private", "owner"], name="link_private_owner"),
            # site:host is a prefix of host_key: PostgreSQL serves LIKE 'prefix%' from a
            # pattern-ops index whatever the database's collation (SQLite ignores opclasses
            # and is asked a range instead, snapshots.queries).
            models.Index(
                fields=["host_key"], name="link_host_key", opclasses=["varchar_pattern_ops"]
            ),
        ]

    def __str__(self) -> str:
        return self.title or self.url

    def save(self, *args, **kwargs):
        self.fill_domain()
        if kwargs.get("update_fields") is not None and "domain" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "host_key"}
        super().save(*args, **kwargs)

    def fill_domain(self) -> None:
        if not self.domain:
            self.domain = domain_of(self.url)
        self.host_key = host_key(self.domain)

    @property
    def display_title(self) -> str:
        """What a person knows the link by: their own title, else the page's, else the URL.

        The page's title is the newest *succeeded* capture's: a re-capture that failed because the
        page has gone, or one still queued, leaves it (the library showed a bare URL exactly then).
        """
        return self.resolved_title or self.url

    @property
    def resolved_title(self) -> str:
        """The user's own title, else the newest succeeded capture's page title ("" if neither)."""
        return self.title or self.page_title

    @property
    def tag_names(self) -> list[str]:
        """The tag names in reading order (case-insensitive A-Z).

        Read from ``queries.TAG_LIST``'s prefetch when the queryset made one (every listing does),
        else one query.
        """
        tags = getattr(self, "prefetched_tags", None)
        if tags is None:
            tags = self.tags.all()
        return sorted((tag.name for tag in tags), key=str.casefold)


def link_content_type() -> ContentType:
    """Links' content type: taggit's TaggedItem rows name a link by it and the link's id."""
    return ContentType.objects.get_for_model(Link)


class Blob(models.Model):
    """Bytes stored once under their SHA-256, shared by every snapshot that uses them."""

    sha256 = models.CharField(_("SHA-256"), max_length=64, primary_key=True)
    size = models.BigIntegerField(_("size"))
    content_type = models.CharField(_("content type"), max_length=255, blank=True)
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("stored blob")
        verbose_name_plural = _("stored blobs")

    def __str__(self) -> str:
        return self.sha256


class Snapshot(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("queued")
        RUNNING = "running", _("capturing")
        SUCCEEDED = "succeeded", _("captured")
        FAILED = "failed", _("failed")

    class Priority(models.IntegerChoices):
        """Who waits for a capture: a person's goes ahead of bulk work (snapshots.tasks)."""

        BULK = 0, _("bulk (imports, scheduled re-captures)")
        ASKED = 100, _("asked for by a person")

    link = models.ForeignKey(
        Link, on_delete=models.CASCADE, related_name="snapshots", verbose_name=_("link")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.TextField(_("error"), blank=True)
    # The same sentence as {"template": ..., "params": {...}} (kb.messages.to_json) so a page can
    # show it in the reader's language; {} for sentences stored before it existed.
    error_message = models.JSONField(_("error message"), default=dict, blank=True)
    requested = models.DateTimeField(_("requested"), default=timezone.now)
    started = models.DateTimeField(_("started"), null=True, blank=True)
    # While a worker runs the capture it says so every few seconds (snapshots.tasks.capture_lease);
    # a running capture that stopped saying so lost its worker and is taken up again.
    alive_at = models.DateTimeField(_("last sign of its worker"), null=True, blank=True)
    finished = models.DateTimeField(_("finished"), null=True, blank=True)
    # The queue's order: higher first, then first asked (the task backend's priority too).
    priority = models.SmallIntegerField(
        _("queue priority"), choices=Priority.choices, default=Priority.BULK
    )
    task_id = models.CharField(_("task id"), max_length=64, blank=True)

    final_url = models.URLField(_("final URL"), max_length=2048, blank=True)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    content_type = models.CharField(_("content type"), max_length=255, blank=True)
    encoding = models.CharField(_("detected encoding"), max_length=64, blank=True)

    title = models.CharField(_("title"), max_length=1000, blank=True)
    description = models.TextField(_("description"), blank=True)
    author = models.CharField(_("author"), max_length=500, blank=True)
    site_name = models.CharField(_("site name"), max_length=500, blank=True)
    language = models.CharField(_("language"), max_length=35, blank=True)
    published = models.DateField(_("published"), null=True, blank=True)
    published_is_guess = models.BooleanField(_("published date is a guess"), default=False)
    image_url = models.URLField(_("lead image"), max_length=2048, blank=True)
    # The sha256 of the page icon the capture inlined (one of ``blobs``), or "" when it had none.
    icon_sha256 = models.CharField(_("icon"), max_length=64, blank=True)
    # The sha256 of the page's lead image (og:image) the capture kept (one of ``blobs``), or "":
    # the library's picture of the link.
    image_sha256 = models.CharField(_("lead image kept"), max_length=64, blank=True)
    # How the page was captured (capture.engines): "static" or "browser"; "" until it is.
    engine = models.CharField(_("capture engine"), max_length=16, blank=True)
    # The engine asked for (auto, static, browser); "" follows KB_CAPTURE_ENGINE.
    requested_engine = models.CharField(_("capture engine asked for"), max_length=16, blank=True)
    # The first screen as the browser showed it, or the page's og:image (one of ``blobs``).
    screenshot_sha256 = models.CharField(_("screenshot"), max_length=64, blank=True)
    text = models.TextField(_("main text"), blank=True)
    reader_html = models.TextField(_("reader HTML"), blank=True)

    archive = models.ForeignKey(
        Blob,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="archived_by",
        verbose_name=_("stored archive"),
        help_text=_("The page skeleton (HTML) or the document itself (PDF, image, text)."),
    )
    blobs = models.ManyToManyField(
        Blob, blank=True, related_name="snapshots", verbose_name=_("stored blobs")
    )
    size = models.BigIntegerField(_("size of the single file"), default=0)
    stored_bytes = models.BigIntegerField(_("new bytes stored"), default=0)
    assets_inlined = models.PositiveIntegerField(_("assets inlined"), default=0)
    assets_failed = models.PositiveIntegerField(_("assets that failed"), default=0)

    class Meta:
        verbose_name = _("snapshot")
        verbose_name_plural = _("snapshots")
        ordering = ["-requested", "-id"]
        indexes = [
            models.Index(fields=["link", "-requested"], name="snapshot_link_requested"),
            # The health check's oldest waiting capture: one index step per status, on SQLite too
            # (a partial index would not do there: SQLite cannot match it to a query's parameters).
            models.Index(fields=["status", "requested"], name="snapshot_status_requested"),
            # A waiting capture's place in the queue (tasks.captures_ahead): who goes first.
            models.Index(fields=["status", "priority", "requested"], name="snapshot_queue_order"),
        ]

    def __str__(self) -> str:
        return f"{self.link} @ {self.requested:%Y-%m-%d %H:%M}"

    @property
    def error_text(self) -> str:
        """Why the capture failed, in the active language (``error`` stays the English sentence)."""
        message = from_json(self.error_message) if self.error_message else None
        return translated(message) if message is not None else self.error

    @property
    def thumbnail_sha256(self) -> str:
        """The stored picture the library shows for this capture: its screenshot, else the page's
        lead image; "" for none."""
        return self.screenshot_sha256 or self.image_sha256

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


NEWEST_FIRST = "-created"  # choices.Sort.NEWEST


def new_feed_key() -> str:
    return secrets.token_urlsafe(24)


class SavedSearch(models.Model):
    """A search a person named to come back to: listed beside the library, with its own Atom feed.

    `q` is the search language (snapshots/search_language.py), which carries the filters too
    (#tag, site:, is:, after:/before:). The feed's address holds `feed_key`, a secret: a feed
    reader cannot sign in, and the feed lists what its owner sees, private links included.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="saved_searches",
        verbose_name=_("owner"),
    )
    name = models.CharField(_("name"), max_length=100)
    q = models.CharField(_("search"), max_length=500)
    # A choices.Sort value (choices.py imports this module, so the choices are checked by the service).
    sort = models.CharField(_("sort"), max_length=20, default=NEWEST_FIRST)
    feed_key = models.CharField(_("feed key"), max_length=64, unique=True, default=new_feed_key)
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("saved search")
        verbose_name_plural = _("saved searches")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="saved_search_unique_name")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def library_url(self) -> str:
        query = {"q": self.q} | ({"sort": self.sort} if self.sort != NEWEST_FIRST else {})
        return reverse("snapshots:library") + "?" + urlencode(query)

    @property
    def feed_url(self) -> str:
        return reverse("snapshots:feed_saved_search", kwargs={"key": self.feed_key})
