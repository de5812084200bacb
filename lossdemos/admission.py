"""How many loss computations one process runs at once: a few, and the rest are told to come back.

A loss request may hold hundreds of megabytes and seconds of CPU (a (512, 32000) ``.npy``); with no
limit, a handful of them at once starve every other request of the worker, /healthz included.
Each computation — reading the input, the engine, the answer — takes one of
``settings.KB_LOSS_CONCURRENCY`` slots (default 2). A request that finds none free within
:data:`WAIT_SECONDS` is refused with :class:`Busy`: the API answers 503 with ``Retry-After`` and its
JSON error, a page says so in its results. The slots are per process: gunicorn's workers each
have their own, which is what bounds each worker's memory. Callers import the engine (torch, once
per process, seconds) before taking a slot, so a cold worker does not turn its first requests away.

No torch here (see :mod:`lossdemos.engine`): pages and the API import this in every process.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from django.conf import settings

from kb.messages import Text, gettext_noop

__all__ = ["RETRY_AFTER_SECONDS", "WAIT_SECONDS", "Busy", "admitted"]

# Long enough for a small request to pass behind a running one; short enough to free the thread.
WAIT_SECONDS = 1.0
RETRY_AFTER_SECONDS = 5


class Busy(Exception):
    """Every slot stayed taken for the whole wait (HTTP 503 with Retry-After)."""

    def __init__(self, slots: int) -> None:
        self.message = Text.of(
            gettext_noop(
                "The server is busy with %(slots)s other loss calculations; try again in "
                "%(seconds)s seconds."
            ),
            slots=slots,
            seconds=RETRY_AFTER_SECONDS,
        )
        self.retry_after = RETRY_AFTER_SECONDS
        super().__init__(self.message)


_lock = threading.Lock()
_slots: threading.BoundedSemaphore | None = None
_size = 0


def _semaphore() -> tuple[threading.BoundedSemaphore, int]:
    """The process's slots, made again if the setting changed (tests change it)."""
    global _slots, _size
    size = max(1, int(settings.KB_LOSS_CONCURRENCY))
    with _lock:
        if _slots is None or size != _size:
            _slots, _size = threading.BoundedSemaphore(size), size
        return _slots, size


@contextlib.contextmanager
def admitted(wait: float | None = None) -> Iterator[None]:
    """Hold one slot for the block; raise :class:`Busy` if none frees up within ``wait`` seconds."""
    slots, size = _semaphore()
    if not slots.acquire(timeout=WAIT_SECONDS if wait is None else wait):
        raise Busy(size)
    try:
        yield
    finally:
        slots.release()
