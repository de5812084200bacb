"""What a person sees of a page or an API answer, for the tests' assertions."""

import html
import json
import re


def visible_text(response) -> str:
    """The page's visible text: scripts, styles and tags stripped, entities decoded, spaces collapsed."""
    page = response.content.decode()
    page = re.sub(r"<(script|style|title)[^>]*>.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def post_loss(client, op: str, body: dict, **extra):
    """POST /api/losses/<op> with a JSON body."""
    return client.post(
        f"/api/losses/{op}", data=json.dumps(body), content_type="application/json", **extra
    )


def sign_in(tab, username: str, password: str = "correct horse 42"):
    """Sign ``tab`` in through the login page, as a person would; returns it."""
    tab.goto("/accounts/login/")
    tab.fill("input[name=username]", username)
    tab.fill("input[name=password]", password)
    tab.click("form.form button[type=submit]")
    tab.wait_for_url(lambda url: "/accounts/login/" not in url)
    return tab
