"""The library's pages, one module per family: library, links, tags, transfer (import and
export), archive. Thin: validate a form, call one service or query, render.

Who sees what is decided in `snapshots.access`; every write is a POST (CSRF-checked by the
middleware) from a signed-in user on their own links — anyone else's link answers 404, exactly
like a link that does not exist.
"""
