"""What a web server process does once, after loading kb and before its first request."""

import gc

from django.urls import get_resolver


def settle() -> None:
    """Load every view now, and leave what was loaded out of the garbage collector's rounds.

    A full collection walks every object Python tracks: 130,000 once kb is loaded, 60 ms, which
    struck about one request in a hundred (the single outliers of bench/library.py's p95). What
    lives as long as the process is frozen (gc.freeze), so a collection walks only what requests
    left behind; the first request no longer pays for importing the views either.
    """
    get_resolver().url_patterns  # noqa: B018 - imports every view and its modules
    gc.collect()
    gc.freeze()
