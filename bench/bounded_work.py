"""How long a hostile deep tensor holds kb, and whether /healthz still answers meanwhile (issue 10).

    .venv/bin/python bench/bounded_work.py [--depth 64] [--parallel 16] [--timeout 30]

Starts ``manage.py serve`` (gunicorn, 2 workers × 4 threads, as ``make run`` does) on a fresh site in a
temporary folder, warms both workers (torch imported), then:

1. sends one ``--depth``-deep one-number ``logits`` each way — JSON to ``POST /api/losses/softmax``, a
   pasted ``tensor([[...]])`` in the softmax page's address, a ``--depth``-dimension ``.npy`` upload —
   and prints each one's time and status (``timeout`` when no answer came within ``--timeout``);
2. sends ``--parallel`` of them at once (the three ways in turn) while asking ``/healthz`` every 50 ms,
   and prints the burst's time and /healthz's median and slowest answer.

Only HTTP: it runs unchanged against an older checkout, to measure before and after. Never fails.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent


def nested(depth: int):
    value = 1.0
    for _ in range(depth):
        value = [value]
    return value


def npy_bytes(depth: int) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ones((1,) * depth, dtype=np.float32))
    return buffer.getvalue()


def start_site(data: Path) -> tuple[subprocess.Popen, str]:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env |= {
        "DJANGO_SETTINGS_MODULE": "kb.settings",
        "KB_DATA_DIR": str(data),
        "KB_STATIC_ROOT": str(data / "static"),
        "KB_TASK_BACKEND": "immediate",
        "DJANGO_SUPERUSER_PASSWORD": "bench horse 1",
    }
    for command in (
        ["migrate", "--noinput", "-v0"],
        ["collectstatic", "--noinput", "-v0"],
        ["createsuperuser", "--noinput", "--username", "root", "--email", "root@example.org"],
    ):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            requests.get(f"{base}/healthz", timeout=2)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    with ThreadPoolExecutor(8) as pool:  # both workers import torch now, not during the figures
        list(pool.map(lambda _: softmax_json(base, [1.0, 2.0], 120), range(8)))
    return server, base


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def softmax_json(base: str, logits, timeout: float) -> requests.Response:
    return requests.post(f"{base}/api/losses/softmax", json={"logits": logits}, timeout=timeout)


def ways(base: str, depth: int, timeout: float) -> dict:
    pasted = "tensor(" + "[" * depth + "1.0000" + "]" * depth + ")"
    npy = npy_bytes(depth)
    return {
        "JSON  ": lambda: softmax_json(base, nested(depth), timeout),
        "page  ": lambda: requests.get(
            f"{base}/losses/softmax/", {"logits": pasted}, timeout=timeout
        ),
        ".npy  ": lambda: requests.post(
            f"{base}/api/losses/softmax", files={"logits": ("l.npy", npy)}, timeout=timeout
        ),
    }


def timed(call) -> tuple[float, str]:
    start = time.perf_counter()
    try:
        status = str(call().status_code)
    except requests.Timeout:
        status = "timeout"
    except requests.ConnectionError:
        status = "connection lost"
    return time.perf_counter() - start, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=64)
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--skip-single", action="store_true", help="only the parallel burst")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kb-bench-") as folder:
        server, base = start_site(Path(folder))
        try:
            calls = ways(base, args.depth, args.timeout)
            if not args.skip_single:
                print(f"one {args.depth}-deep request each way (timeout {args.timeout:g} s):")
                for name, call in calls.items():
                    seconds, status = timed(call)
                    print(f"  {name} {seconds * 1e3:10.1f} ms   {status}")

            latencies: list[float] = []
            done = threading.Event()

            def ask_healthz() -> None:
                while not done.is_set():
                    seconds, status = timed(lambda: requests.get(f"{base}/healthz", timeout=30))
                    latencies.append(seconds if status == "200" else float("inf"))
                    time.sleep(0.05)

            burst = [list(calls.values())[i % 3] for i in range(args.parallel)]
            with ThreadPoolExecutor(args.parallel + 1) as pool:
                watcher = pool.submit(ask_healthz)
                start = time.perf_counter()
                results = list(pool.map(timed, burst))
                elapsed = time.perf_counter() - start
                done.set()
                watcher.result()
            statuses = sorted({status for _, status in results})
            print(
                f"{args.parallel} at once: all answered after {elapsed * 1e3:.1f} ms ({statuses})"
            )
            print(
                f"  /healthz during the burst: {len(latencies)} asks, median "
                f"{statistics.median(latencies) * 1e3:.1f} ms, slowest {max(latencies) * 1e3:.1f} ms"
            )
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
