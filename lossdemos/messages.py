"""Translatable engine messages without Django.

The loss engine (``losses.py``, ``parsing.py``) is pure torch and must not import Django, yet the
Chinese pages need its sentences in Chinese. So the engine marks each sentence with
:func:`gettext_noop` and, when a sentence carries values, returns a :class:`Text`. Both live in
:mod:`kb.messages` (the capture pipeline uses them too); they are re-exported here so the engine's
imports stay as they are.
"""

from __future__ import annotations

from kb.messages import Text, gettext_noop

__all__ = ["Text", "gettext_noop"]
