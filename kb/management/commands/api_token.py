"""`manage.py api_token USERNAME`: print that user's API token (made if needed) as the last line."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from kb.models import ApiToken


class Command(BaseCommand):
    help = "Print USERNAME's API token, making it if needed, as the last line."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        self.stdout.write(ApiToken.for_user(user).key)
