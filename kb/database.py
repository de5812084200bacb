"""Telling a lost database connection from a refused statement.

PostgreSQL restarting or failing over, an administrator's ``pg_terminate_backend`` or a proxy that
drops connections cut off whatever a connection was doing. Such work is worth doing again on a new
connection (the server rolled back what was not committed); a refused statement is not.
"""

from __future__ import annotations

from django.db import InterfaceError, OperationalError

# Operator intervention: admin_shutdown, crash_shutdown, cannot_connect_now.
_SERVER_SHUTDOWN_STATES = {"57P01", "57P02", "57P03"}


def connection_was_lost(error: BaseException | None) -> bool:
    """Whether a database error says the connection itself is gone: the server shut it down, a
    connection exception (SQLSTATE class 08), or psycopg found the socket closed (an error of its
    own, with no SQLSTATE). SQLite's errors never are: its "database is locked" is retried where
    kb writes (snapshots.services.links.atomic_retrying)."""
    if not isinstance(error, (OperationalError, InterfaceError)):
        return False
    cause = error.__cause__
    state = getattr(cause, "sqlstate", None)
    if state is None:
        return cause is not None and type(cause).__module__.startswith("psycopg")
    return state.startswith("08") or state in _SERVER_SHUTDOWN_STATES
