"""Template context every page has: the viewer's own settings (theme, library view)."""

from django.http import HttpRequest

from kb.models import UserSettings


def user_settings(request: HttpRequest) -> dict:
    found = getattr(request, "kb_settings", None)
    return {"kb_settings": found if found is not None else UserSettings()}
