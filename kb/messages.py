"""Translatable sentences with values, without Django.

Code that must not import Django (the loss engine, the capture pipeline) still writes sentences
the Chinese pages show in Chinese. It marks each sentence with :func:`gettext_noop` (makemessages
collects calls by that name lexically) and, when a sentence carries values, builds a :class:`Text`:
an ordinary ``str`` holding the English sentence, which also remembers its template and values so
the web layer can translate the template and fill it in again (:func:`translated`).

A sentence that is stored (``Snapshot.error``) keeps its English text for the API and its
template and values as JSON (:func:`to_json` / :func:`from_json`) so a page can translate it later.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Text", "from_json", "gettext_noop", "to_json", "translated"]


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


def translated(message: Any) -> str:
    """``message`` in the active language.

    A :class:`Text` has its template looked up and its values put back in; a value that is itself
    a ``Text`` is translated the same way. A plain string is looked up as it is (a sentence marked
    with ``gettext_noop``; anything else has no translation and stays as it is).
    """
    from django.utils.translation import gettext  # here, so that importing Text needs no Django

    if isinstance(message, Text):
        params = {
            name: translated(value) if isinstance(value, Text) else value
            for name, value in message.params.items()
        }
        # gettext("") would answer the catalogue's header, so an empty sentence stays empty.
        return gettext(message.template) % params if message.template else ""
    text = str(message)
    return gettext(text) if text else text


def to_json(message: str) -> dict[str, Any]:
    """``{"template": ..., "params": {...}}`` for storing ``message`` (a Text or a plain sentence).

    A value that is a ``Text`` is stored the same way, nested; other values that JSON cannot hold
    are stored as their text.
    """
    if not isinstance(message, Text):
        return {"template": str(message), "params": {}}
    params: dict[str, Any] = {}
    for name, value in message.params.items():
        if isinstance(value, Text):
            params[name] = to_json(value)
        elif isinstance(value, bool | int | float) or value is None:
            params[name] = value
        else:
            params[name] = str(value)
    return {"template": message.template, "params": params}


def from_json(data: Any) -> Text | None:
    """The :class:`Text` that :func:`to_json` stored, or None when ``data`` is not one."""
    if not isinstance(data, dict) or not isinstance(data.get("template"), str):
        return None
    stored = data.get("params")
    if not isinstance(stored, dict):
        return None
    params: dict[str, Any] = {}
    for name, value in stored.items():
        if isinstance(value, dict):
            value = from_json(value)
            if value is None:
                return None
        params[name] = value
    try:
        return Text(data["template"], params)
    except (KeyError, TypeError, ValueError):  # a template and values that do not fit
        return None
