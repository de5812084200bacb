"""The Chinese catalogue is complete, and the compiled file a fresh clone uses matches it."""

import re
from pathlib import Path

import polib
import pytest

LOCALE = Path(__file__).resolve().parents[2] / "kb" / "locale" / "zh_Hans" / "LC_MESSAGES"


@pytest.fixture(scope="module")
def catalogue():
    return polib.pofile(str(LOCALE / "django.po"))


def test_every_string_has_a_chinese_translation(catalogue):
    missing = [entry.msgid for entry in catalogue if not entry.translated() and not entry.obsolete]
    assert missing == [], f"untranslated or fuzzy: {missing[:20]}"


def test_placeholders_survive_translation(catalogue):

    placeholder = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")
    wrong = []
    for entry in catalogue.translated_entries():
        expected = sorted(placeholder.findall(entry.msgid))
        if entry.msgstr and sorted(placeholder.findall(entry.msgstr)) != expected:
            wrong.append(entry.msgid)
        for form in entry.msgstr_plural.values():
            if (
                sorted(placeholder.findall(form))
                != sorted(placeholder.findall(entry.msgid_plural or entry.msgid))
                and sorted(placeholder.findall(form)) != expected
            ):
                wrong.append(entry.msgid)
    assert wrong == []


def test_compiled_catalogue_matches_the_source(catalogue):
    compiled = polib.mofile(str(LOCALE / "django.mo"))
    compiled_map = {(e.msgctxt, e.msgid): e.msgstr or e.msgstr_plural for e in compiled}
    stale = [
        entry.msgid
        for entry in catalogue.translated_entries()
        if compiled_map.get((entry.msgctxt, entry.msgid)) != (entry.msgstr or entry.msgstr_plural)
    ]
    assert stale == [], f"run `make messages` (compilemessages): {stale[:10]}"
