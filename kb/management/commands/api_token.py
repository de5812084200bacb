"""`manage.py api_token USERNAME`: print a new API token for that user as the last line.

Tokens are stored hashed, so a token cannot be shown again: each call makes a new one (named after
this command) and prints it once. Tokens made earlier keep working until revoked in the admin.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from kb.models import ApiToken


class Command(BaseCommand):
    help = (
        "Make a new API token for USERNAME and print it as the last line (it is shown only once)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="manage.py api_token", help="what the token is for")

    def handle(self, *args, username: str, name: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        _token, key = ApiToken.issue(user, name=name)
        self.stdout.write(key)
