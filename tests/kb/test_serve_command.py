"""`manage.py serve`: the worker command lines it starts are the ones README gives operators."""

import re

from django.conf import settings

from kb.management.commands.serve import RQ_WORKER

README = (settings.BASE_DIR / "README.md").read_text(encoding="utf-8")


def readme_section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no {title} section"
    return match.group(1)


def test_readme_gives_the_rq_worker_command_serve_starts():
    command = "manage.py " + " ".join(RQ_WORKER)
    assert command in readme_section("Configuration")
    assert command in readme_section("Production")
    assert "rqworker default" not in README  # the line that lost every capture
