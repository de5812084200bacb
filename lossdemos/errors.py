"""The loss engine's refusals, without torch, so that pages, forms and the API can catch them.

The input readers (``parsing``, ``operations``, ``uploads``) raise :class:`InputError`, and
:class:`TooMany` past a number limit, for input that cannot become a tensor; :mod:`lossdemos.losses`
raises :class:`LossInputError` for tensors a loss cannot take. Each carries the sentence a reader
will see and a ``location`` that says where. They live apart from the torch-backed modules that
raise them because the URL configuration imports the code that catches them in every process, and
most processes never compute a loss (see :mod:`lossdemos.engine`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["InputError", "LossInputError", "TooMany"]


class InputError(ValueError):
    """Input that cannot become a tensor. ``message`` is for the user; ``location`` says where."""

    def __init__(self, message: str, *, field: str, **location: Any) -> None:
        super().__init__(message)
        self.message = message
        self.location: dict[str, Any] = {"field": field, **location}


class TooMany(InputError):
    """More numbers than the limit allows (HTTP 413)."""


class LossInputError(ValueError):
    """Input a loss cannot take. ``message`` is for the user; ``location`` says where."""

    def __init__(self, message: str, *, field: str | None = None, **location: Any) -> None:
        super().__init__(message)
        self.message = message
        self.location: dict[str, Any] = {"field": field, **location} if field else dict(location)
