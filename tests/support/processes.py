"""Helpers for tests that run kb's own commands as processes: free ports, readiness, process trees.

``descendants(pid)`` and ``gone(pids)`` read ``/proc`` (Linux): a test of how processes end asks the
kernel, not the process that may have lied. A process that has exited but was not yet reaped (a
zombie; a container's PID 1 may never reap orphans) counts as gone.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = [
    "command_line",
    "descendants",
    "free_port",
    "gone",
    "still_running",
    "wait_for",
    "wait_until_serving",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], object], seconds: float, step: float = 0.2) -> object:
    """Call ``condition`` until it returns something true (returned) or ``seconds`` pass (None)."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def wait_until_serving(url: str, process: subprocess.Popen, seconds: float = 90) -> None:
    """Wait until ``url`` answers, failing at once if ``process`` (the server) has stopped."""

    def answers() -> bool:
        assert process.poll() is None, f"the server stopped with code {process.returncode}"
        try:
            urllib.request.urlopen(url, timeout=5).close()
        except OSError:
            return False
        return True

    assert wait_for(answers, seconds), f"{url} did not answer within {seconds} s"


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of ``pid`` from /proc, or None if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces
    return fields[0], int(fields[1])


def command_line(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None


def descendants(pid: int) -> dict[int, str]:
    """Every living process below ``pid``: its pid and command line."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None and stat[0] != "Z":
            parents.setdefault(stat[1], []).append(int(entry))
    found: dict[int, str] = {}
    todo = list(parents.get(pid, []))
    while todo:
        child = todo.pop()
        command = command_line(child)
        if command is None:
            continue
        found[child] = command
        todo.extend(parents.get(child, []))
    return found


def gone(pids: Iterable[int]) -> bool:
    """True when none of ``pids`` is still running (exited, zombies included)."""
    return all((stat := _stat(pid)) is None or stat[0] in "ZX" for pid in pids)


def still_running(processes: dict[int, str]) -> dict[int, str]:
    """Those of ``processes`` (pid: command line) still running the same command, wherever now."""
    return {
        pid: command
        for pid, command in processes.items()
        if not gone([pid]) and command_line(pid) == command
    }
