"""The library's lists of choices, each defined once with the words a person reads.

The library page's selects and the bulk-edit form show these labels; LibraryFilters (queries),
the link services and the API accept exactly these values, in this order.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from snapshots.models import Snapshot


class Sort(models.TextChoices):
    """How a listing is ordered (`?sort=`); a title sort goes by the title a row shows (the
    user's, else the captured page's, else the URL)."""

    NEWEST = "-created", _("Newest first")
    OLDEST = "created", _("Oldest first")
    TITLE = "title", _("Title A–Z")
    TITLE_DESCENDING = "-title", _("Title Z–A")
    DOMAIN = "domain", _("Domain A–Z")


class CaptureState(models.TextChoices):
    """A link's capture state (`?state=`): its latest snapshot's status, or none at all."""

    PENDING = Snapshot.Status.PENDING.value, Snapshot.Status.PENDING.label
    RUNNING = Snapshot.Status.RUNNING.value, Snapshot.Status.RUNNING.label
    SUCCEEDED = Snapshot.Status.SUCCEEDED.value, Snapshot.Status.SUCCEEDED.label
    FAILED = Snapshot.Status.FAILED.value, Snapshot.Status.FAILED.label
    NONE = "none", _("not captured")


class Visibility(models.TextChoices):
    """Who may see a link (`?visibility=`)."""

    PRIVATE = "private", _("Private")
    PUBLIC = "public", _("Public")


class CaptureEngine(models.TextChoices):
    """How a capture is made (KB_CAPTURE_ENGINE, the capture form, the API's `engine`)."""

    AUTO = "auto", _("Automatic")
    STATIC = "static", _("Static (no scripts)")
    BROWSER = "browser", _("Browser (runs scripts)")


class BulkAction(models.TextChoices):
    """What the library's bulk edit does to the selected links."""

    ADD_TAGS = "add_tags", _("Add tags")
    REMOVE_TAGS = "remove_tags", _("Remove tags")
    MARK_READ = "mark_read", _("Mark read")
    MARK_UNREAD = "mark_unread", _("Mark unread")
    MAKE_PRIVATE = "make_private", _("Make private")
    MAKE_PUBLIC = "make_public", _("Make public")
    CAPTURE = "capture", _("Capture again")
    DELETE = "delete", _("Delete")


# The bulk actions that need the tags typed beside them.
TAG_ACTIONS = frozenset({BulkAction.ADD_TAGS, BulkAction.REMOVE_TAGS})
