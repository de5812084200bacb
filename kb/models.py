"""Site-wide models: API tokens and the worker heartbeat the health check reads."""

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ApiToken(models.Model):
    """One bearer token per user, for scripts and other clients (`Authorization: Bearer <key>`)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_token",
        verbose_name=_("user"),
    )
    key = models.CharField(_("key"), max_length=64, unique=True)
    created = models.DateTimeField(_("created"), auto_now_add=True)
    last_used = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.user} ({self.key[:6]}…)"

    @classmethod
    def for_user(cls, user) -> "ApiToken":
        """The user's token, made on first use."""
        token, _created = cls.objects.get_or_create(
            user=user, defaults={"key": secrets.token_urlsafe(32)}
        )
        return token

    @classmethod
    def user_for_key(cls, key: str):
        if not key:
            return None
        token = cls.objects.select_related("user").filter(key=key).first()
        if token is None or not token.user.is_active:
            return None
        now = timezone.now()
        # Written at most once a minute so that reads stay reads.
        if token.last_used is None or (now - token.last_used).total_seconds() > 60:
            cls.objects.filter(pk=token.pk).update(last_used=now)
        return token.user


class WorkerHeartbeat(models.Model):
    """A single row the worker touches whenever it starts or finishes a task."""

    last_seen = models.DateTimeField(_("last seen"))

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")

    def __str__(self) -> str:
        return str(self.last_seen)

    @classmethod
    def beat(cls) -> None:
        cls.objects.update_or_create(pk=1, defaults={"last_seen": timezone.now()})

    @classmethod
    def last(cls):
        row = cls.objects.filter(pk=1).first()
        return row.last_seen if row else None
