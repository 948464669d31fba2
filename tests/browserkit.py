"""Real-browser test kit (test helper, not a test module; docs/browser-tests.md).

- :class:`LiveGateway` — the whole gateway (every participant, the async channel's delivery loop, the JSON APIs, the
  console at ``/ui/``) on ``127.0.0.1:<free port>``, with the NCALayer emulator (TLS with the test PKI's
  ``tls/localhost``, and its control port), both served by aiohttp in one event loop on a background thread, so the
  browser reaches them over real sockets while the test keeps the gateway object (its clock, records, journal).
- :func:`chromium` — a headless Chromium WebDriver (Debian's ``chromium`` and ``chromium-driver``, driven by
  Selenium with the driver at ``/usr/bin/chromedriver``: Selenium Manager never downloads anything). Missing
  Chromium FAILS the test with the install command; it is never skipped.
- :func:`wait_for`, :func:`wait_text`, :func:`visible` — explicit waits (``WebDriverWait``), never sleeps.

Fixtures ``browser`` (one Chromium per module) and ``live`` (a fresh gateway per test): a test module imports
``from browserkit import browser_fixture, live_fixture  # noqa: F401`` and asks for ``browser`` and ``live``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = "apt-get install -y chromium chromium-driver (as .ci/run does)"
WAIT_S = 30.0  # the longest any condition is waited for; a condition met earlier returns at once
START_S = 120.0  # building the gateway (fixtures, PKI signers) on a busy machine


class LiveGateway:
    """The gateway and the NCALayer emulator in an event loop on a thread. ``start()`` returns once both listen."""

    def __init__(self, settings, pki, *, clock=None, ncalayer_identity: str = "person/900101300017") -> None:
        self.settings = settings
        self.pki = pki
        self.clock = clock
        self.ncalayer_identity = ncalayer_identity
        self.loop: asyncio.AbstractEventLoop | None = None
        self.gateway = None
        self.url = ""
        self.ncalayer_url = ""
        self.ncalayer_control = ""
        self._thread: threading.Thread | None = None
        self._ready: Future[None] = Future()
        self._stop: asyncio.Event | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> LiveGateway:
        self._thread = threading.Thread(target=self._run, name="live-gateway", daemon=True)
        self._thread.start()
        self._ready.result(timeout=START_S)  # raises what the server raised while starting
        return self

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=60)
            assert not self._thread.is_alive(), "the live gateway did not stop within 60 s"

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # noqa: BLE001 - handed to start() if it was still waiting
            if not self._ready.done():
                self._ready.set_exception(exc)
        finally:
            loop.close()

    async def _serve(self) -> None:
        from aiohttp import web

        from shlyuz.gateway.app import build_gateway, create_app
        from shlyuz.ncalayer import server as ncl

        self._stop = asyncio.Event()
        self.gateway = build_gateway(self.settings, clock=self.clock, pki=self.pki)
        app = create_app(self.gateway)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        running = None
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            state = ncl.NcaLayer.build(self.pki, self.ncalayer_identity)
            running = await ncl.start(state, port=0, ssl_context=ncl.tls_context(self.pki), control_port=0)
            self.ncalayer_url = f"wss://127.0.0.1:{running.port}/"
            self.ncalayer_control = f"http://127.0.0.1:{running.control_port}"
            self._ready.set_result(None)
            await self._stop.wait()
        finally:
            if running is not None:
                await running.close()
            await runner.cleanup()

    # -- from the test's thread -----------------------------------------------------------------------------------
    def call(self, coro, timeout: float = WAIT_S) -> Any:
        """Run a coroutine in the server's loop (e.g. ``live.call(live.gateway.chains.get(run_id))``)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=timeout)

    def select_identity(self, identity: str) -> dict[str, Any]:
        """Choose who the NCALayer emulator signs as, through its control port (as a tester would)."""
        req = urllib.request.Request(f"{self.ncalayer_control}/identity", data=json.dumps({"identity": identity}).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(req, timeout=WAIT_S) as resp:  # 127.0.0.1: the emulator under test
            return json.loads(resp.read())

    def page(self, name: str, **query: str) -> str:
        """The URL of a console page; the portal page is told where NCALayer listens."""
        from urllib.parse import urlencode

        if name == "portal.html":
            query.setdefault("ncalayer", self.ncalayer_url)
        return f"{self.url}/ui/{name}" + (f"?{urlencode(query)}" if query else "")


def chromium(*, width: int = 1400, height: int = 1000):
    """A headless Chromium driven by Selenium through Debian's chromedriver. Fails (never skips) without them."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"the browser tests need Chromium and its driver: {', '.join(missing)} not found; {INSTALL}",
                    pytrace=False)  # fmt: skip
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("the browser tests need selenium: pip install -e '.[test]'", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        # the NCALayer emulator's wss:// presents the test PKI's tls/localhost; this throwaway browser accepts it
        # (a person's browser trusts the test root instead: docs/ncalayer.md)
        "--ignore-certificate-errors",
        f"--window-size={width},{height}",
        "--lang=en-US",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # an explicit driver path: Selenium Manager is not consulted, so nothing is ever downloaded
    service = Service(executable_path=str(CHROMEDRIVER), log_output=None)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(WAIT_S)
    return driver


# -- explicit waits ------------------------------------------------------------------------------------------------------
def wait_for(driver, condition: Callable[[Any], Any], message: str, timeout: float = WAIT_S) -> Any:
    """Poll ``condition(driver)`` until it is truthy; its value is returned. On timeout, fail with ``message``, the
    page's error box and its console log."""
    from selenium.common.exceptions import (
        StaleElementReferenceException,
        TimeoutException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    try:  # an element the page re-rendered while it was looked at: look again at the next poll
        return WebDriverWait(driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=(StaleElementReferenceException,)).until(condition)  # fmt: skip
    except TimeoutException:
        raise AssertionError(f"{message} (after {timeout:.0f} s); {page_state(driver)}") from None


def page_state(driver) -> str:
    from selenium.webdriver.common.by import By

    boxes = driver.find_elements(By.ID, "error-box")
    shown = boxes[0].text.strip() if boxes and boxes[0].is_displayed() else ""
    try:
        logs = [e["message"] for e in driver.get_log("browser")][-5:]
    except Exception:  # noqa: BLE001 - logs are a courtesy of the driver
        logs = []
    return f"page {driver.current_url!r}, error box {shown!r}, console {logs}"


def by_testid(driver, testid: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


def visible(driver, css: str, message: str | None = None):
    """The first element matching ``css`` once it is displayed."""
    from selenium.webdriver.common.by import By

    def shown(d):
        found = [e for e in d.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
        return found[0] if found else False

    return wait_for(driver, shown, message or f"{css} is displayed")


def wait_text(driver, css: str, fragment: str, message: str | None = None):
    """The first element matching ``css`` whose text contains ``fragment``."""
    from selenium.webdriver.common.by import By

    def has(d):  # an element re-rendered meanwhile raises StaleElementReferenceException: wait_for looks again
        return next((e for e in d.find_elements(By.CSS_SELECTOR, css) if fragment in e.text), False)

    return wait_for(driver, has, message or f"{css} shows {fragment!r}")


def read(driver, css: str, how: Callable[[Any], Any] = lambda e: e.text, message: str | None = None) -> Any:
    """``how(element)`` of the first displayed element matching ``css`` once it is truthy — read inside the wait, so a
    page that re-renders what it polls (the cabinet, the inbox) cannot hand back a stale element."""
    from selenium.webdriver.common.by import By

    def value(d):
        for e in d.find_elements(By.CSS_SELECTOR, css):
            if e.is_displayed():
                return how(e)
        return False

    return wait_for(driver, value, message or f"{css} is displayed")


def fill(driver, css: str, value: str) -> None:
    def typed(d):
        el = visible(d, css)
        el.clear()
        el.send_keys(value)
        return True

    wait_for(driver, typed, f"{css} filled in")


def click(driver, css: str) -> None:
    """Click the first displayed element matching ``css`` (found again if the page re-rendered it meanwhile)."""
    read(driver, css, lambda e: e.click() or True, f"{css} clicked")


def screenshot(driver, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    return path


def have_chromium() -> bool:
    return CHROMIUM.exists() and CHROMEDRIVER.exists() and shutil.which("chromium") is not None


# -- fixtures --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module", name="browser")
def browser_fixture() -> Iterator[Any]:
    """One headless Chromium per test module (each test opens its own pages; cookies and storage are cleared)."""
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(name="live")
def live_fixture(settings, session_pki, browser) -> Iterator[LiveGateway]:
    """A fresh gateway for each test (its own data directory) on a free port, its clock fixed at the tests' time."""
    from conftest import GATEWAY_NOW

    from shlyuz.clock import FixedClock

    gw = LiveGateway(settings, session_pki, clock=FixedClock(GATEWAY_NOW)).start()
    try:
        yield gw
    finally:
        try:  # no page keeps polling the gateway while it stops: one blank tab is left for the next test
            for handle in browser.window_handles[1:]:
                browser.switch_to.window(handle)
                browser.close()
            browser.switch_to.window(browser.window_handles[0])
            browser.get("about:blank")
            browser.delete_all_cookies()
        finally:
            gw.stop()
