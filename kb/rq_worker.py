"""The rq worker kb runs (``RQ["WORKER_CLASS"]``): rq's own, except that it outlives Redis going away.

rq's ``Worker`` waits for Redis when it goes away between jobs, but quits when it goes away in the
middle of one (watching the job's process needs Redis, and its teardown then fails as well). Every
worker stopped together with Redis, and captures waited for a person (or a supervisor) to start
them again. This one waits for Redis to answer and starts working again, in the same process,
until it is asked to stop. The capture that was running finishes by itself (its process does not
need Redis to save the snapshot); captures Redis lost are queued again by ``snapshots.tasks``'s
recovery, which runs in this process too.
"""

from __future__ import annotations

import logging
import os
import time
from uuid import uuid4

import redis
from rq.worker import Worker

from kb.management.commands.serve import die_with

logger = logging.getLogger(__name__)

# Seconds between two looks at whether Redis answers again: doubling up to the last.
RECONNECT_WAITS = (1, 2, 4, 8, 15)


class ReconnectingWorker(Worker):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _children_die_with_this_process()

    def work(self, burst: bool = False, *args, **kwargs) -> bool:
        worked = False
        while True:
            try:
                worked = super().work(burst, *args, **kwargs) or worked
            except redis.exceptions.ConnectionError:  # the teardown, with Redis gone
                logger.warning("worker %s lost Redis", self.name)
            if burst or self._asked_to_stop():
                return worked
            self._wait_for_redis()
            # A Redis that kept its data still lists the old name as alive (its death was never
            # written): come back under a new one.
            self.name = uuid4().hex
            self._stop_requested = False
            logger.warning("Redis answers again: worker %s starts working", self.name)

    def _asked_to_stop(self) -> bool:
        # request_stop (SIGTERM, SIGINT) records when it came; nothing else sets it.
        return self._stop_requested or getattr(self, "_shutdown_requested_date", None) is not None

    def _wait_for_redis(self) -> None:
        for attempt in range(10**9):
            try:
                if self.connection.ping():
                    return
            except redis.exceptions.RedisError:
                pass
            if self._asked_to_stop():
                raise SystemExit(0)
            wait = RECONNECT_WAITS[min(attempt, len(RECONNECT_WAITS) - 1)]
            logger.warning("Redis does not answer; worker looks again in %d s", wait)
            time.sleep(wait)


_registered = False


def _children_die_with_this_process() -> None:
    """Every process this worker forks (a job's work horse, the scheduler) ends when it ends.

    A worker killed alone (kill -9, the OOM killer) otherwise left its scheduler running, holding
    copies of the worker's Redis connections: Redis handed the next job to the orphan's blocked
    read, and that capture waited 10-20 minutes for rq's cleanup.
    """
    global _registered
    if _registered:
        return
    _registered = True
    parent = os.getpid()

    def in_child() -> None:
        preexec = die_with(parent)
        if preexec is not None:
            preexec()

    os.register_at_fork(after_in_child=in_child)
