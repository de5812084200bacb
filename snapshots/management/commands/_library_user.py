"""The --user option the library's import/export commands share."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError


def resolve_user(username: str | None):
    """The named account, or the only one when there is exactly one."""
    users = get_user_model().objects
    if username:
        user = users.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"There is no account named {username!r}.")
        return user
    count = users.count()
    if count == 1:
        return users.get()
    if count == 0:
        raise CommandError(
            "There are no accounts yet: create one first (open the site, or createsuperuser)."
        )
    raise CommandError(f"There are {count} accounts: name one with --user USERNAME.")
