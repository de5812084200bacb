"""Translatable engine messages without Django.

The loss engine (``losses.py``, ``parsing.py``) is pure torch and must not import Django, yet the
Chinese pages need its sentences in Chinese. So the engine marks each sentence with
:func:`gettext_noop` (makemessages collects calls by that name lexically) and, when a sentence carries
values, returns a :class:`Text`: an ordinary ``str`` holding the English sentence, which also
remembers its template and values so the web layer can translate the template and fill it in again.
"""

from __future__ import annotations

from typing import Any


def gettext_noop(message: str) -> str:
    """Mark ``message`` for translation; return it unchanged (the web layer translates it)."""
    return message


class Text(str):
    """An English sentence ``template % params`` that keeps ``template`` and ``params``.

    It compares, hashes and prints as the English text, so code and tests that handle plain
    strings are unaffected. A param may itself be a :class:`Text` (a location such as " (at [1])")
    so that it is translated too.
    """

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, params: dict[str, Any]) -> Text:
        text = super().__new__(cls, template % params)
        text.template = template
        text.params = params
        return text

    @classmethod
    def of(cls, template: str, **params: Any) -> Text:
        return cls(template, params)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Text, (self.template, self.params))
