"""Site-wide models: API tokens and the worker heartbeats the health check reads."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ApiToken(models.Model):
    """A bearer token for scripts and other clients (`Authorization: Bearer <key>`).

    Only the key's SHA-256 is stored: a copy of the database (a backup, a leaked dump) holds no key
    that works. The key itself is shown once, when it is made; a user may hold several, one per client.
    A SHA-256 suffices (no slow hash): keys are 256 random bits, not passwords anyone could guess.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name=_("user"),
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    key_hash = models.CharField(_("key hash"), max_length=64, unique=True, editable=False)
    prefix = models.CharField(_("begins with"), max_length=8, editable=False)
    created = models.DateTimeField(_("created"), auto_now_add=True)
    last_used = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.user} ({self.prefix}…)"

    @staticmethod
    def hash_of(key: str) -> str:
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()

    @classmethod
    def issue(cls, user, name: str = "") -> tuple["ApiToken", str]:
        """A new token for ``user`` and its key, which nothing stores: show it to the person now."""
        key = secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, key_hash=cls.hash_of(key), prefix=key[:6])
        return token, key

    @classmethod
    def user_for_key(cls, key: str):
        if not key:
            return None
        token = cls.objects.select_related("user").filter(key_hash=cls.hash_of(key)).first()
        if token is None or not token.user.is_active:
            return None
        now = timezone.now()
        # Written at most once a minute so that reads stay reads.
        if token.last_used is None or (now - token.last_used).total_seconds() > 60:
            cls.objects.filter(pk=token.pk).update(last_used=now)
        return token.user


class WorkerHeartbeat(models.Model):
    """One row per running worker process, rewritten every few seconds while it lives (kb.heartbeat).

    A row whose ``beat_at`` is older than three beats belongs to a dead process: the health check
    ignores it and the next live worker deletes it. A worker that stops cleanly deletes its own.
    """

    hostname = models.CharField(_("host name"), max_length=255)
    pid = models.PositiveIntegerField(_("process id"))
    queue = models.CharField(_("queue"), max_length=255, blank=True)
    started_at = models.DateTimeField(_("started"))
    beat_at = models.DateTimeField(_("last heartbeat"), db_index=True)

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")
        constraints = [
            models.UniqueConstraint(fields=["hostname", "pid"], name="worker_heartbeat_process")
        ]

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"


class UserSettings(models.Model):
    """What one person chose for themselves: language, new links' privacy, theme, library view.

    One row per user, made the first time they save their settings; until then ``for_user``
    answers the defaults without writing.
    """

    class Language(models.TextChoices):
        BROWSER = "", _("As the browser asks")
        ENGLISH = "en", "English"
        CHINESE = "zh-hans", "简体中文"

    class Theme(models.TextChoices):
        AUTO = "auto", _("As the system")
        LIGHT = "light", _("Light")
        DARK = "dark", _("Dark")

    class LibraryView(models.TextChoices):
        VISUAL = "visual", _("With pictures")
        COMPACT = "compact", _("Compact")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="kb_settings",
        verbose_name=_("user"),
    )
    language = models.CharField(
        _("language"), max_length=10, choices=Language.choices, default="", blank=True
    )
    new_links_private = models.BooleanField(
        _("new links are private"),
        default=True,
        help_text=_("Only you can see a private link; anyone can see a public one."),
    )
    theme = models.CharField(_("theme"), max_length=10, choices=Theme.choices, default="auto")
    library_view = models.CharField(
        _("library view"), max_length=10, choices=LibraryView.choices, default="visual"
    )

    class Meta:
        verbose_name = _("user settings")
        verbose_name_plural = _("user settings")

    def __str__(self) -> str:
        return str(self.user)

    @classmethod
    def for_user(cls, user) -> "UserSettings":
        """The user's settings (unsaved defaults for anyone without a row, visitors included)."""
        if user is None or not user.is_authenticated:
            return cls()
        found = cls.objects.filter(user=user).first()
        return found if found is not None else cls(user=user)
