"""The browser engine: a page rendered by Chromium, every request of which kb's guarded fetcher answers.

Script-built pages (an app root filled from JSON, CSS inserted through the CSSOM, images that
load when scrolled to) are empty to the static engine. Here Playwright drives Debian's
``chromium``, headless, and hands back the DOM as the scripts left it, plus a screenshot of the
first screen; ``engines`` then inlines and extracts it like any page.

Nothing the page does reaches the network by itself (ARCHITECTURE §4):

- every request of the context (document, redirects, sub-resources, fetch/XHR, beacons, frames,
  popups) is intercepted (``context.route("**/*")``) and answered with ``fetch.fetch`` — the
  SSRF guard, IP pinning, size limits and the capture's deadline — through ``ResponseCache``,
  which remembers each answer so the inline step downloads nothing twice; anything but GET/HEAD,
  and a navigation of the page away from itself, is refused;
- WebSockets are closed before they connect, WebRTC is removed from every frame, service workers
  are blocked, downloads refused, popups closed;
- the second wall: Chromium is launched with a dead proxy and a host resolver that finds no host,
  so a request that escaped interception could neither resolve nor connect.

A page whose script never ends, a renderer that crashes (``--max-old-space-size`` bounds its
heap) or a browser that hangs ends the render with a ``BrowserFailed`` sentence; the browser is
then closed and launched again for the next capture. One browser per process, a fresh context per
capture; it lives in a thread of its own (Playwright's asyncio loop), so any thread may render.
No Django import here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urldefrag

from kb.messages import Text, gettext_noop
from snapshots.capture import errors
from snapshots.capture.fetch import FetchPolicy, Response

__all__ = [
    "BROWSER_OFF",
    "BrowserFailed",
    "Rendered",
    "ResponseCache",
    "find_chromium",
    "render",
    "shared_engine",
]

logger = logging.getLogger(__name__)

VIEWPORT = {"width": 1280, "height": 800}
SCREENSHOT_QUALITY = 70  # JPEG: a first screen in 50-150 KB
# How long the render may take at most, whatever time the capture has left (the inline step and
# extraction come after it).
RENDER_SECONDS = 30.0
LOAD_SECONDS = 15.0  # for the load event
SETTLE_SECONDS = 3.0  # for the network to go quiet, after the load and after scrolling
PROBE_SECONDS = 3.0  # a page that cannot answer a trivial evaluate in this long is stuck
SCROLL_STEPS = 25
SCROLL_PAUSE_MS = 120
FRAME_DEPTH = 3
MAX_REQUESTS = 600
# A hung renderer's heap is capped; a page that wants more crashes its renderer, not the machine.
RENDERER_HEAP_MB = 512
FETCH_THREADS = 6
# A long-lived browser grows; after this many renders the next capture gets a fresh one.
RELAUNCH_EVERY = 200

BROWSER_OFF = gettext_noop(
    "the browser engine is off: no Chromium was found (install chromium or set KB_CHROMIUM)"
)
SCRIPTS_HUNG = gettext_noop("the page's scripts did not stop running, so the browser gave up on it")
RENDERER_CRASHED = gettext_noop(
    "the browser's page crashed while rendering (it may have used too much memory)"
)
BROWSER_HUNG = gettext_noop("the browser did not finish the page in time and was restarted")
BROWSER_BROKEN = gettext_noop("the browser failed while rendering the page: %(reason)s")

# Launch flags. The last group is the second wall: nothing that escaped interception resolves
# or connects (a proxy nobody listens on, also for loopback, and no host names at all).
CHROMIUM_ARGS = (
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--mute-audio",
    "--hide-scrollbars",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    "--disable-breakpad",
    "--disable-quic",
    "--disable-features=DnsOverHttps,MediaRouter,OptimizationHints,Translate,"
    "AutofillServerCommunication,InterestFeedContentSuggestions,PrivacySandboxSettings4",
    f"--js-flags=--max-old-space-size={RENDERER_HEAP_MB}",
    # Fewer processes for one page at a time: no GPU process of its own, at most two renderers.
    "--in-process-gpu",
    "--renderer-process-limit=2",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--enforce-webrtc-ip-permission-check",
)

# Run in every frame before its own scripts: no peer connections (WebRTC talks UDP, which no
# route sees), no way to register a service worker even if blocking failed.
NO_ESCAPES = """(() => {
  for (const name of ["RTCPeerConnection", "webkitRTCPeerConnection", "RTCDataChannel",
                      "RTCIceCandidate", "RTCSessionDescription"]) {
    try { delete window[name]; } catch (e) {}
    try { Object.defineProperty(window, name, {value: undefined, configurable: false}); } catch (e) {}
  }
  try {
    if (navigator.mediaDevices) {
      navigator.mediaDevices.getUserMedia = () => Promise.reject(new Error("blocked"));
    }
  } catch (e) {}
})();"""

SCROLL = """async ([steps, pause]) => {
  const height = () => Math.max(document.documentElement.scrollHeight,
                                document.body ? document.body.scrollHeight : 0);
  let i = 0;
  for (; i < steps && window.scrollY + window.innerHeight < height(); i++) {
    window.scrollBy(0, Math.round(window.innerHeight * 0.9));
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
  if (i) {
    window.scrollTo(0, 0);
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
  return i;
}"""

# The DOM as the scripts left it, made to say what the page showed: CSS inserted through the
# CSSOM written into its <style>, adopted style sheets added as <style>, open shadow roots as
# declarative shadow DOM, form state as attributes, canvases as images; <noscript> dropped
# (scripts ran: what it holds was not shown).
SERIALIZE = """() => {
  const rulesOf = (sheet) => {
    try { return Array.from(sheet.cssRules, (rule) => rule.cssText).join("\\n"); }
    catch (e) { return null; }
  };
  const parsed = (text) => {
    try { const sheet = new CSSStyleSheet(); sheet.replaceSync(text); return rulesOf(sheet); }
    catch (e) { return null; }
  };
  const roots = [document];
  const shadowRoots = [];
  for (let i = 0; i < roots.length; i++) {
    for (const el of roots[i].querySelectorAll("*")) {
      if (el.shadowRoot) { roots.push(el.shadowRoot); shadowRoots.push(el.shadowRoot); }
    }
  }
  const adopted = (root, into) => {
    const sheets = root.adoptedStyleSheets || [];
    if (!sheets.length) return;
    const style = document.createElement("style");
    style.setAttribute("data-kb", "adopted");
    style.textContent = sheets.map(rulesOf).filter((t) => t).join("\\n");
    into.appendChild(style);
  };
  for (const root of roots) {
    for (const style of root.querySelectorAll("style")) {
      if (!style.sheet || /@import/i.test(style.textContent)) continue;
      const live = rulesOf(style.sheet);
      if (live !== null && live !== parsed(style.textContent)) style.textContent = live;
    }
    for (const el of root.querySelectorAll("input")) {
      const type = (el.type || "").toLowerCase();
      if (type === "checkbox" || type === "radio") el.toggleAttribute("checked", el.checked);
      else if (type !== "password" && type !== "file") el.setAttribute("value", el.value);
    }
    for (const el of root.querySelectorAll("textarea")) el.textContent = el.value;
    for (const el of root.querySelectorAll("option")) el.toggleAttribute("selected", el.selected);
    for (const canvas of root.querySelectorAll("canvas")) {
      let url = null;
      try { url = canvas.toDataURL("image/png"); } catch (e) {}
      if (!url || url.length > 8000000 || url === "data:,") continue;
      const img = document.createElement("img");
      for (const name of ["id", "class", "style", "title", "role", "aria-label"]) {
        if (canvas.hasAttribute(name)) img.setAttribute(name, canvas.getAttribute(name));
      }
      const box = canvas.getBoundingClientRect();
      img.setAttribute("width", String(Math.round(box.width) || canvas.width));
      img.setAttribute("height", String(Math.round(box.height) || canvas.height));
      img.setAttribute("alt", canvas.getAttribute("aria-label") || "");
      img.src = url;
      canvas.replaceWith(img);
    }
    for (const el of root.querySelectorAll("noscript")) el.remove();
  }
  adopted(document, document.head || document.documentElement);
  for (const root of shadowRoots) adopted(root, root);
  const html = document.documentElement;
  const attributes = Array.from(html.attributes, (a) =>
    ` ${a.name}="${a.value.replace(/&/g, "&amp;").replace(/"/g, "&quot;")}"`).join("");
  const inner = html.getHTML  // Chromium 125 and later; before, shadow roots are left out
    ? html.getHTML({serializableShadowRoots: true, shadowRoots}) : html.innerHTML;
  const doctype = document.doctype ? `<!DOCTYPE ${document.doctype.name}>` : "";
  return `${doctype}<html${attributes}>${inner}</html>`;
}"""

# Answer headers passed on to the page: what it needs to read them (type, CORS), not what would
# describe bytes it is not given (compression, length) or set state (cookies stay in kb's session).
_DROPPED_HEADERS = frozenset(
    {
        "content-encoding",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "set-cookie",
        "strict-transport-security",
        "alt-svc",
        "report-to",
        "nel",
        "link",
    }
)


class BrowserFailed(errors.CaptureError):
    """The render ended without a page: stuck scripts, a crash, a hang, no browser at all."""


def find_chromium(configured: str = "") -> str | None:
    """The Chromium to drive: ``configured`` (KB_CHROMIUM) if it is there, else one on PATH."""
    if configured:
        found = shutil.which(configured)
        return found if found and os.access(found, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


# --- one capture's answers ----------------------------------------------------------------------


class ResponseCache:
    """Every answer of one capture by URL, fetched at most once through the guarded ``fetch``.

    Shared by the static pass, the browser and the inline step: a URL the browser loaded (or that
    failed for it) is not asked again. Thread-safe: the browser's answers are fetched in parallel.
    """

    def __init__(self, fetch: Callable[[str], Response]) -> None:
        self._fetch = fetch
        self._answers: dict[str, Response | errors.CaptureError] = {}
        self._pending: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self.fetches = 0
        self.bytes = 0

    def put(self, url: str, response: Response) -> None:
        key = urldefrag(url)[0]
        with self._lock:
            self._answers[key] = response
            waiting = self._pending.pop(key, None)
        if waiting is not None:
            waiting.set()

    def expect(self, url: str) -> None:
        """Another pass (the static one's ``AssetFetcher``) is downloading ``url``: ``get`` waits
        for its ``put`` (or ``release``) instead of downloading it a second time."""
        key = urldefrag(url)[0]
        with self._lock:
            if key not in self._answers and key not in self._pending:
                self._pending[key] = threading.Event()
                self.fetches += 1

    def release(self, url: str) -> None:
        """That download failed: the next ``get`` fetches ``url`` itself."""
        with self._lock:
            waiting = self._pending.pop(urldefrag(url)[0], None)
        if waiting is not None:
            waiting.set()

    def get(self, url: str) -> Response:
        """The answer for ``url``; raises the ``CaptureError`` it failed with (also the first time)."""
        key = urldefrag(url)[0]
        while True:
            with self._lock:
                if key in self._answers:
                    answer = self._answers[key]
                    break
                waiting = self._pending.get(key)
                if waiting is None:
                    self._pending[key] = threading.Event()
                    self.fetches += 1
            if waiting is not None:
                waiting.wait()
                continue
            try:
                answer = self._fetch(key)
            except errors.CaptureError as error:
                answer = error
            except Exception as error:
                logger.warning("fetching %s for the browser failed", key, exc_info=True)
                answer = errors.CaptureError(Text.of(BROWSER_BROKEN, reason=type(error).__name__))
            with self._lock:
                self._answers[key] = answer
                if isinstance(answer, Response):
                    self.bytes += len(answer.body)
                waiting = self._pending.pop(key, None)
            if waiting is not None:
                waiting.set()
            break
        if isinstance(answer, errors.CaptureError):
            raise answer
        return answer


@dataclass
class Rendered:
    """What the browser made of a page: its serialized DOM and a JPEG of its first screen."""

    html: str
    final_url: str
    screenshot: bytes = b""
    # the rendered document of each frame, by its URL (what a frame shows, for the inline step)
    frames: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    refused: list[str] = field(default_factory=list)


# --- the engine ---------------------------------------------------------------------------------


class BrowserEngine:
    """One Chromium for this process, launched on first use and again after it failed."""

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._playwright = None
        self._browser = None
        self.launches = 0
        self.renders = 0

    # ---- the loop thread --------------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="kb-browser", daemon=True)
            thread.start()
            self._loop = loop
        return self._loop

    def render(
        self,
        url: str,
        cache: ResponseCache,
        policy: FetchPolicy,
        *,
        max_requests: int,
        max_bytes: int,
    ) -> Rendered:
        """Render ``url`` (already in ``cache``) and serialize it; raises ``BrowserFailed``."""
        budget = RENDER_SECONDS
        if policy.deadline is not None:
            budget = min(budget, policy.deadline - time.monotonic() - 2.0)
        if budget <= 1.0:
            raise errors.FetchTimeout("deadline")
        with self._lock:  # one render at a time in this process
            loop = self._ensure_loop()
            job = _Render(url, cache, budget, max_requests, max_bytes)
            future = asyncio.run_coroutine_threadsafe(self._run(job), loop)
            try:
                return future.result(timeout=budget + 15.0)
            except concurrent.futures.TimeoutError:
                future.cancel()
                logger.warning("the browser hung rendering %s; restarting it", url)
                self._restart()
                raise BrowserFailed(BROWSER_HUNG, transient=True) from None

    def close(self) -> None:
        if self._loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        with contextlib.suppress(Exception):
            future.result(timeout=15)

    def _restart(self) -> None:
        loop = self._loop
        if loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        try:
            future.result(timeout=15)
        except Exception:
            logger.warning("the browser did not shut down; starting a new one", exc_info=True)
            self._playwright = self._browser = None
            loop.call_soon_threadsafe(loop.stop)
            self._loop = None

    # ---- on the loop ------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        browser, playwright = self._browser, self._playwright
        self._browser = self._playwright = None
        if browser is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(browser.close(), 10)
        if playwright is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(playwright.stop(), 10)

    async def _ensure_browser(self):
        if self._browser is not None and self._browser.is_connected():
            return self._browser
        await self._shutdown()
        from playwright.async_api import async_playwright  # only a process that renders loads it

        try:
            self._playwright = await async_playwright().start()
            self._browser = await self._playwright.chromium.launch(
                executable_path=self.executable,
                headless=True,
                args=list(CHROMIUM_ARGS),
                timeout=30_000,
                handle_sigint=False,
                handle_sigterm=False,
                handle_sighup=False,
            )
        except Exception as error:  # noqa: BLE001 - any launch failure is the sentence's reason
            await self._shutdown()
            reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise BrowserFailed(Text.of(BROWSER_BROKEN, reason=reason[:300])) from None
        self.launches += 1
        return self._browser

    async def _run(self, job: _Render) -> Rendered:
        if self.renders and self.renders % RELAUNCH_EVERY == 0:
            await self._shutdown()
        browser = await self._ensure_browser()
        self.renders += 1
        try:
            return await job.run(browser)
        except BrowserFailed:
            if job.broken:
                await self._shutdown()
            raise
        except Exception as error:
            logger.warning("the browser failed on %s", job.url, exc_info=True)
            await self._shutdown()  # whatever broke, the next capture starts a fresh browser
            reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise BrowserFailed(Text.of(BROWSER_BROKEN, reason=reason[:300])) from None


class _Render:
    """One capture's context: routes, the page's life, and its serialization."""

    def __init__(
        self, url: str, cache: ResponseCache, budget: float, max_requests: int, max_bytes: int
    ) -> None:
        self.url = url
        self.cache = cache
        self.ends = time.monotonic() + budget
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.requests = 0
        self.refused: list[str] = []
        self.crashed = False
        self.broken = False  # the browser itself misbehaved: shut it down
        self.page = None
        self._document_served = False
        self._pool = concurrent.futures.ThreadPoolExecutor(
            FETCH_THREADS, thread_name_prefix="kb-browser-fetch"
        )

    def left(self, at_most: float) -> float:
        return max(0.1, min(at_most, self.ends - time.monotonic()))

    async def run(self, browser) -> Rendered:
        context = await browser.new_context(
            viewport=VIEWPORT,
            screen=VIEWPORT,
            device_scale_factor=1,
            service_workers="block",
            accept_downloads=False,
            locale="en-US",
        )
        try:
            await context.add_init_script(NO_ESCAPES)
            await context.route("**/*", self._answer)
            await context.route_web_socket(re.compile(r".*"), self._refuse_socket)
            page = await context.new_page()
            self.page = page
            page.on("crash", self._crashed)
            context.on("page", self._popup)
            return await self._render(page)
        finally:
            try:
                await asyncio.wait_for(context.close(), 10)
            except Exception:  # noqa: BLE001 - a context that will not close: the browser goes
                self.broken = True
            self._pool.shutdown(wait=False, cancel_futures=True)

    async def _render(self, page) -> Rendered:
        await self._step(
            page.goto(self.url, wait_until="commit", timeout=self.left(LOAD_SECONDS) * 1000),
            LOAD_SECONDS,
        )
        await self._load(page)
        await self._settle(page)
        scrolled = await self._evaluate(
            page, SCROLL, [SCROLL_STEPS, SCROLL_PAUSE_MS], SCROLL_STEPS * 0.3 + 2
        )
        if scrolled:  # what scrolling into view asked for, loaded
            await self._settle(page)
        screenshot = await self._step(
            page.screenshot(type="jpeg", quality=SCREENSHOT_QUALITY, timeout=self.left(10) * 1000),
            10,
        )
        frames = await self._frames(page)
        html = await self._evaluate(page, SERIALIZE, None, 10)
        return Rendered(
            html=html,
            final_url=page.url or self.url,
            screenshot=screenshot,
            frames=frames,
            requests=self.requests,
            refused=self.refused,
        )

    async def _frames(self, page) -> dict[str, str]:
        """The rendered document of each frame (by URL), so the archive can show what it showed."""
        documents: dict[str, str] = {}
        for frame in page.frames:
            if frame == page.main_frame or not frame.url.startswith(("http://", "https://")):
                continue
            depth, parent = 0, frame.parent_frame
            while parent is not None and parent != page.main_frame:
                depth, parent = depth + 1, parent.parent_frame
            if depth >= FRAME_DEPTH or frame.url in documents:
                continue
            with contextlib.suppress(Exception):  # a frame gone meanwhile is left to the inliner
                documents[frame.url] = await asyncio.wait_for(frame.evaluate(SERIALIZE), 5)
        return documents

    async def _load(self, page) -> None:
        """Wait for the load event, asking all along whether the page still answers at all."""
        loads_by = time.monotonic() + self.left(LOAD_SECONDS)
        while time.monotonic() < loads_by:
            await self._probe()
            try:
                await page.wait_for_load_state("load", timeout=1000)
                return
            except Exception:  # noqa: BLE001 - not loaded yet (or never: its DOM is kept)
                self._check_crash()

    async def _probe(self) -> None:
        """A page whose main thread never comes back (``while(true){}``) cannot be serialized."""
        try:
            await asyncio.wait_for(self.page.evaluate("document.readyState"), PROBE_SECONDS)
        except TimeoutError:
            self._check_crash()
            raise BrowserFailed(SCRIPTS_HUNG) from None
        except Exception as error:
            self._check_crash()
            if "context was destroyed" not in str(error):
                raise
            # a navigation of a frame was under way: the next look finds the new document

    async def _settle(self, page) -> None:
        with contextlib.suppress(Exception):  # a page that never goes quiet is kept as it is
            await page.wait_for_load_state("networkidle", timeout=self.left(SETTLE_SECONDS) * 1000)

    async def _evaluate(self, page, script: str, argument, seconds: float):
        for _ in range(2):
            try:
                return await self._step(page.evaluate(script, argument), seconds)
            except BrowserFailed:
                raise
            except Exception as error:
                if "context was destroyed" not in str(error):
                    raise
                await self._settle(page)  # the page replaced its document meanwhile: once more
        return await self._step(page.evaluate(script, argument), seconds)

    async def _step(self, awaitable, seconds: float):
        try:
            return await asyncio.wait_for(awaitable, self.left(seconds))
        except TimeoutError:
            self._check_crash()
            raise BrowserFailed(SCRIPTS_HUNG) from None
        except Exception:
            self._check_crash()
            raise

    def _check_crash(self) -> None:
        if self.crashed:
            raise BrowserFailed(RENDERER_CRASHED)

    def _crashed(self, _page) -> None:
        self.crashed = True

    async def _popup(self, page) -> None:
        if page is not self.page:
            with contextlib.suppress(Exception):
                await page.close()

    async def _refuse_socket(self, socket) -> None:
        # Never connected to its server: a WebSocket is the page talking to someone live.
        self.refused.append(socket.url)
        with contextlib.suppress(Exception):
            await socket.close(code=1008, reason="refused by the archiver")

    async def _answer(self, route) -> None:
        request = route.request
        url = request.url
        refusal = self._refusal(request)
        if refusal == "stay":
            # A 204 answer to a navigation leaves the page where it is (an abort would put an
            # error page in its place).
            self.refused.append(url)
            await _fulfill(route, 204, {}, b"")
            return
        if refusal:
            self.refused.append(url)
            await _abort(route)
            return
        self.requests += 1
        loop = asyncio.get_running_loop()
        try:
            response = await loop.run_in_executor(self._pool, self.cache.get, url)
        except errors.HTTPStatusError as error:
            await _fulfill(route, error.status, {"content-type": "text/plain"}, b"")
            return
        except errors.CaptureError:
            self.refused.append(url)
            await _abort(route)
            return
        except RuntimeError:  # the pool was shut down: the render is over
            await _abort(route)
            return
        headers = {
            name.lower(): value
            for name, value in response.headers.items()
            if name.lower() not in _DROPPED_HEADERS
        }
        await _fulfill(route, response.status, headers, response.body)

    def _refusal(self, request) -> str:
        """Why ``request`` is not sent ("" when it may be): GET and HEAD only, within the budget,
        and the page never navigates away from itself ("stay")."""
        navigation = request.is_navigation_request()
        main = False
        if navigation:
            try:
                main = request.frame == self.page.main_frame if self.page else True
            except Exception:  # noqa: BLE001 - a request without a frame is not a navigation
                main = False
            if main and self._document_served:
                return "stay"  # the page sends the tab elsewhere: keep the captured page
        if request.method not in ("GET", "HEAD"):
            return "stay" if main else "method"  # a post or a beacon changes something somewhere
        if self.requests >= self.max_requests or time.monotonic() >= self.ends:
            return "budget"
        if self.cache.bytes >= self.max_bytes:
            return "budget"
        if main:
            self._document_served = True
        return ""


async def _abort(route) -> None:
    with contextlib.suppress(Exception):
        await route.abort("blockedbyclient")


async def _fulfill(route, status: int, headers: dict[str, str], body: bytes) -> None:
    with contextlib.suppress(Exception):  # the page (or its frame) may be gone meanwhile
        await route.fulfill(status=status, headers=headers, body=body)


# --- the process's engine -----------------------------------------------------------------------

_shared: BrowserEngine | None = None
_shared_lock = threading.Lock()


def shared_engine(executable: str) -> BrowserEngine:
    """This process's browser (one per worker process, reused across captures)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.executable != executable:
            if _shared is not None:
                _shared.close()
            _shared = BrowserEngine(executable)
        return _shared


def _forget_engine_in_child() -> None:
    # A forked process (rq's work horse) has none of the parent's threads: it starts its own.
    global _shared, _shared_lock
    _shared = None
    _shared_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_engine_in_child)


def render(
    url: str,
    cache: ResponseCache,
    policy: FetchPolicy,
    *,
    executable: str,
    max_requests: int = MAX_REQUESTS,
    max_bytes: int = 50 * 1024 * 1024,
) -> Rendered:
    """Render ``url`` with this process's browser; see ``BrowserEngine.render``."""
    engine = shared_engine(executable)
    return engine.render(url, cache, policy, max_requests=max_requests, max_bytes=max_bytes)
