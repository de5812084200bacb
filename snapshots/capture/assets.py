"""A page's files fetched side by side, so that one slow host cannot cost the others.

``AssetFetcher`` is the ``fetch(url) -> Response`` a capture's ``Collector`` calls, plus
``prefetch``: before the walk over the page asks for its files one by one, a first walk over a
copy of the page (a ``Scout``) names every file the real walk will want, and they download
meanwhile. Each stylesheet that arrives is read for the files it names (fonts, images,
``@import``), which start too; so is each frame of the page's own site that the capture will
keep (``inline``), for the files it shows.

- At most ``workers`` downloads run at once, at most ``per_host`` to one host, hosts served in
  turn, so a host that hangs holds two slots and the others keep going.
- A host that refused, could not be found, or did not answer (a connect timeout; a read timeout
  from a host that has answered nothing yet) is not asked again in this capture: thirteen
  tracking pixels on a dead host cost one timeout, not thirteen.
- DNS answers are looked up once per capture (``guard.NameCache``).
- Every download is ``fetch.fetch`` under the capture's policy: the same guard, pinning and
  deadline as the page (or, after a render, the capture's ``ResponseCache``, which answers what
  the browser loaded and fetches the rest the same way). Sessions are not thread-safe: each
  running download takes its own, and gives it back for the next one (with the page's cookies).
- Nothing is downloaded twice in a capture: one download per address (its ``#fragment`` is never
  sent, so ``a.svg#x`` and ``a.svg#y`` are one file), and with ``shared`` (the capture's
  ``ResponseCache`` in ``engines``) each download is announced when it starts and handed over when
  it ends, so a render that follows ``close()`` waits for a download still under way instead of
  starting its own.

No Django import here.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urldefrag, urlsplit

import requests

from kb.messages import Text, gettext_noop
from snapshots.capture import errors
from snapshots.capture.archive import ASSET_SCHEME
from snapshots.capture.collector import LIMIT_SENTENCE, Collector, Limits
from snapshots.capture.css import decode_css, rewrite_css
from snapshots.capture.fetch import FetchPolicy, Response, fetch, new_session
from snapshots.capture.guard import NameCache

__all__ = ["AssetFetcher", "Scout", "SharedAnswers"]

logger = logging.getLogger(__name__)

WORKERS = 6
PER_HOST = 2
# What a scouting walk answers for every file: the real walk decides with the real answers.
_SOMEWHERE = ASSET_SCHEME + "0" * 64


class SharedAnswers(Protocol):
    """Where one capture's answers are kept for its other passes (``browser.ResponseCache``)."""

    def expect(self, url: str) -> None:
        """A download of ``url`` started: whoever asks for it waits for ``put`` or ``release``."""

    def put(self, url: str, response: Response) -> None:
        """The answer for ``url``."""

    def release(self, url: str) -> None:
        """The download of ``url`` failed: whoever asks for it next fetches it."""


@dataclass
class _Job:
    url: str
    host: str
    future: Future[Response]
    then: Callable[[Response], None] | None = None


class AssetFetcher:
    """Downloads one capture's files concurrently; call it like ``fetch`` for each file."""

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        names: NameCache | None = None,
        cookies: requests.cookies.RequestsCookieJar | None = None,
        limits: Limits | None = None,
        workers: int = WORKERS,
        per_host: int = PER_HOST,
        shared: SharedAnswers | None = None,
        download: Callable[[str], Response] | None = None,
    ) -> None:
        self.policy = policy
        # told each download as it starts and ends (the browser engine's cache: nothing twice)
        self.shared = shared
        # what a download is, instead of ``fetch`` under ``policy``: after a render, the capture's
        # cache, which holds what the browser loaded and fetches the rest through the same guard
        self._download = download
        self.names = names or NameCache()
        self.limits = limits or Limits()
        self._cookies = cookies
        self._workers = workers
        self._per_host = per_host
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kb-asset")
        self._lock = threading.Lock()
        self._futures: dict[str, Future[Response]] = {}
        self._waiting: dict[str, deque[_Job]] = {}  # by host, hosts in turn
        self._running: Counter[str] = Counter()
        self._answered: set[str] = set()
        self._dead_hosts: dict[str, str] = {}
        self._kept = 0
        self._bytes = 0
        self._sessions: list[requests.Session] = []
        self._closed = False

    # ---- what the capture calls ---------------------------------------------------------------

    def __call__(self, url: str) -> Response:
        """The file at ``url`` (downloaded already, or now, ahead of what is only prefetched)."""
        return self._submit(url, urgent=True).result()

    def prefetch(self, url: str) -> None:
        self._submit(url)

    def prefetch_then(self, url: str, then: Callable[[Response], None]) -> None:
        """Start ``url`` and, once it is here, call ``then`` with it (in the downloading thread)."""
        self._submit(url, then=then)

    def prefetch_stylesheet(self, url: str) -> None:
        """Start ``url`` and, once it is here, the files it names."""
        self._submit(url, then=lambda response: self._scout_stylesheet(url, response))

    def close(self) -> None:
        """Stop what has not started; downloads under way end by the capture's deadline."""
        with self._lock:
            self._closed = True
            waiting = [job for jobs in self._waiting.values() for job in jobs]
            self._waiting.clear()
            sessions, self._sessions = self._sessions, []
        for job in waiting:
            job.future.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        for session in sessions:
            session.close()

    def __enter__(self) -> AssetFetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- scheduling ---------------------------------------------------------------------------

    def _submit(
        self, url: str, *, urgent: bool = False, then: Callable[[Response], None] | None = None
    ) -> Future[Response]:
        url = urldefrag(url)[0]  # never sent: one file, whatever the fragment
        with self._lock:
            future = self._futures.get(url)
            if future is None:
                future = self._futures[url] = Future()
                job = _Job(url, _host_of(url), future, then)
                if self._closed:
                    future.set_exception(errors.FetchTimeout("deadline"))
                    return future
                jobs = self._waiting.setdefault(job.host, deque())
                if urgent:
                    jobs.appendleft(job)
                    self._waiting = {job.host: jobs, **self._waiting}  # its host goes first
                else:
                    jobs.append(job)
            elif urgent:
                self._hurry(url)
            ready = self._start_ready()
        for job, error in ready:
            self._start(job, error)
        return future

    def _hurry(self, url: str) -> None:
        """A file the walk waits for goes before the ones only prefetched."""
        for host, jobs in self._waiting.items():
            for job in jobs:
                if job.url == url:
                    jobs.remove(job)
                    jobs.appendleft(job)
                    self._waiting = {host: jobs, **self._waiting}
                    return

    def _start_ready(self) -> list[tuple[_Job, errors.CaptureError | None]]:
        """Jobs that may start now (under the lock), each with the error that ends it at once."""
        ready: list[tuple[_Job, errors.CaptureError | None]] = []
        running = sum(self._running.values())
        for host in list(self._waiting):
            jobs = self._waiting[host]
            while jobs:
                dead = self._dead_hosts.get(host)
                if dead is not None:
                    ready.append((jobs.popleft(), _not_asked(host, dead)))
                elif self._kept >= self.limits.max_assets or (
                    self._bytes >= self.limits.max_total_bytes
                ):
                    ready.append((jobs.popleft(), errors.CaptureError(LIMIT_SENTENCE)))
                elif running < self._workers and self._running[host] < self._per_host:
                    self._running[host] += 1
                    running += 1
                    ready.append((jobs.popleft(), None))
                else:
                    break
            if not jobs:
                del self._waiting[host]
        return ready

    def _start(self, job: _Job, error: errors.CaptureError | None) -> None:
        if error is not None:
            job.future.set_exception(error)
        else:
            try:
                self._pool.submit(self._run, job)
            except RuntimeError:  # closed meanwhile
                self._done(job, None, errors.FetchTimeout("deadline"))

    # ---- one download -------------------------------------------------------------------------

    def _run(self, job: _Job) -> None:
        session = self._session()
        response, error = None, None
        if self.shared is not None:
            self.shared.expect(job.url)
        try:
            if self._download is not None:
                response = self._download(job.url)
            else:
                response = fetch(job.url, self.policy, session=session, names=self.names)
            if self.shared is not None:
                self.shared.put(job.url, response)
            if job.then is not None:
                self._then(job, response)
        except errors.CaptureError as exc:
            error = exc
        except Exception as exc:  # a failing file is counted, never fatal
            logger.warning("asset download failed", exc_info=True)
            error = exc
        finally:
            if self.shared is not None and response is None:
                self.shared.release(job.url)
            self._give_back(session)
            self._done(job, response, error)

    def _then(self, job: _Job, response: Response) -> None:
        """What follows a download (naming a stylesheet's files) never costs the file itself."""
        try:
            job.then(response)  # type: ignore[misc]
        except Exception:
            logger.warning("could not read the files %s names", job.url, exc_info=True)

    def _done(self, job: _Job, response: Response | None, error: BaseException | None) -> None:
        with self._lock:
            self._running[job.host] -= 1
            if response is not None:
                self._answered.add(job.host)
                self._kept += 1
                self._bytes += len(response.body)
            elif self._download is None and _host_is_dead(
                error, answered=job.host in self._answered
            ):
                # (an error out of the cache may be the browser's, from before: the host's other
                # files may be there all the same, so only a download of its own condemns a host)
                self._dead_hosts.setdefault(job.host, str(error))
            ready = [] if self._closed else self._start_ready()
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(response)  # type: ignore[arg-type]
        for next_job, next_error in ready:
            self._start(next_job, next_error)

    def _session(self) -> requests.Session:
        with self._lock:
            if self._sessions:
                return self._sessions.pop()
        session = new_session()
        if self._cookies is not None:
            session.cookies.update(self._cookies)
        return session

    def _give_back(self, session: requests.Session) -> None:
        with self._lock:
            if not self._closed:
                self._sessions.append(session)
                return
        session.close()

    def _scout_stylesheet(self, url: str, response: Response) -> None:
        if response.content_type == "text/html":
            return
        text = decode_css(response.body, response.charset)
        rewrite_css(text, response.final_url or url, (url,), _StylesheetScout(self))


def _host_of(url: str) -> str:
    try:
        return urlsplit(url).netloc.lower()
    except ValueError:
        return ""


def _host_is_dead(error: BaseException | None, *, answered: bool) -> bool:
    """Would asking this host again in this capture only waste time?"""
    if isinstance(error, errors.FetchTimeout):
        # One slow file on a host that answers is that file's problem, not the host's.
        return error.phase == "connect" or (error.phase == "read" and not answered)
    return isinstance(error, errors.ConnectionFailed) and not answered


def _not_asked(host: str, reason: str) -> errors.CaptureError:
    return errors.ConnectionFailed(
        Text.of(
            gettext_noop("not asked: %(host)s failed earlier in this capture (%(reason)s)"),
            host=host,
            reason=reason,
        )
    )


# --- naming the files a page will want -----------------------------------------------------------


class Scout(Collector):
    """A collector for a first walk over a copy of the page: it starts every file the walk asks
    for and answers as if each had arrived, so the walk names the same files the real one will
    (the first choice of each ``srcset``, the first icon...) without waiting for any."""

    def __init__(self, fetcher: AssetFetcher) -> None:
        super().__init__(fetcher, fetcher.limits)
        self.fetcher = fetcher

    def get(self, url: str) -> Response | None:
        self.fetcher.prefetch(url)
        return None  # only sprites ask for the response itself: they are read by the real walk

    def _ahead(self, url: str) -> str:
        self.fetcher.prefetch(url)
        return _SOMEWHERE

    def image(self, url: str) -> str | None:
        return self._ahead(url)

    def resource(self, url: str) -> str | None:
        return self._ahead(url)

    def media(self, url: str) -> str | None:
        return self._ahead(url)

    def stylesheet(
        self, url: str, stack: tuple[str, ...] = (), integrity: str | None = None
    ) -> str | None:
        self.fetcher.prefetch_stylesheet(url)
        return _SOMEWHERE


class _StylesheetScout:
    """Names the files of a stylesheet that arrived (``css.Loader``), starting each."""

    def __init__(self, fetcher: AssetFetcher) -> None:
        self.fetcher = fetcher

    def resource(self, url: str) -> str | None:
        self.fetcher.prefetch(url)
        return _SOMEWHERE

    def stylesheet(self, url: str, stack: tuple[str, ...]) -> str | None:
        if url not in stack and len(stack) <= 20:
            self.fetcher.prefetch_stylesheet(url)
        return _SOMEWHERE

    def data_stylesheet(self, data_url: str, stack: tuple[str, ...]) -> str | None:
        return None

    def wants_font(self, family: str, unicode_range: str) -> bool:
        return True  # the page's other stylesheets may not be here yet: fetch, decide later
