"""Browser fixtures: the real app served on 127.0.0.1 from a background thread, and Debian's
Chromium driven by Playwright. A failing browser test leaves a screenshot of every page it used
under ``test-artifacts/screenshots`` (ignored by git)."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from tests.factories import PASSWORD, World
from web import create_app

# Debian's Chromium; FPIC_TEST_CHROMIUM points elsewhere (no browser is ever downloaded)
CHROMIUM = Path(os.environ.get("FPIC_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
TIMEOUT_MS = 10_000


# --- the live server -------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request (errors are still logged)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class LiveServer:
    world: World
    app: Flask
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()
        self.app.extensions["fpic"].db.dispose()


def serve(world: World) -> LiveServer:
    """Serve the app over ``world``'s database, on its FrozenClock, on an ephemeral port."""
    app = create_app(
        {
            "DATABASE_URL": world.db.url,
            "SECRET_KEY": "browser-test-secret",
            "FPIC_CLOCK": world.clock,
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="fpic-live-server", daemon=True)
    thread.start()
    return LiveServer(world, app, server, thread)


@pytest.fixture
def live_server(world: World) -> Iterator[LiveServer]:
    """A fresh world (tests/conftest.py) served for one test."""
    live = serve(world)
    yield live
    live.stop()


# --- the browser -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        reason = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; browser tests cannot be skipped under CI=true")
        pytest.skip(reason)
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item):
    """Keep each phase's report on the item, so fixtures can tell that the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _failed(item: pytest.Item) -> bool:
    return any(
        getattr(getattr(item, f"rep_{when}", None), "failed", False) for when in ("setup", "call")
    )


def save_screenshots(item: pytest.Item, pages: list[tuple[str, Page]]) -> None:
    """If the test failed, save a full-page screenshot of each page it used, and say where."""
    if not _failed(item):
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name).strip("_")
    for label, page in pages:
        path = SCREENSHOTS / (f"{base}.png" if len(pages) == 1 else f"{base}-{label}.png")
        try:
            page.screenshot(path=str(path), full_page=True)
        except Exception as error:  # the page may be gone; the failure itself matters more
            print(f"could not save a screenshot of {label}: {error}")
        else:
            print(f"screenshot saved: {path}")


def new_context(browser: Browser, locale: str = "en-GB") -> BrowserContext:
    """A browser profile of its own, asking for pages in ``locale`` (Accept-Language)."""
    context = browser.new_context(accept_downloads=True, locale=locale)
    context.set_default_timeout(TIMEOUT_MS)
    return context


PageFactory = Callable[[str], Page]


@pytest.fixture
def new_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[PageFactory]:
    """new_page("liaison") -> a page in its own browser context (its own cookies)."""
    contexts: list[BrowserContext] = []
    pages: list[tuple[str, Page]] = []

    def make(label: str) -> Page:
        context = new_context(browser)
        contexts.append(context)
        page = context.new_page()
        pages.append((label, page))
        return page

    yield make
    save_screenshots(request.node, pages)
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: PageFactory) -> Page:
    return new_page("page")


# --- acting like a person ----------------------------------------------------------------------


def fill_sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Fill and send the sign-in form shown on the page."""
    page.get_by_label("User name", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def sign_in(page: Page, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Open the sign-in page, sign in, and wait for the dashboard."""
    page.goto(f"{base_url}/login")
    fill_sign_in(page, username, password)
    page.wait_for_url(f"{base_url}/")


def sign_out(page: Page) -> None:
    """Press the header's sign-out button (found by its form: its label depends on the locale)."""
    page.locator("form[action$='/logout']").get_by_role("button").click()
    page.wait_for_url(re.compile(r"/login"))


def fill_assembly_vote(page: Page, slug: str) -> None:
    """On a decision form: where, the three representatives present, a unanimous vote of
    three, and the scope (exploration, drilling) of the test project."""
    page.get_by_label("Place", exact=True).fill("Casa comunal de Qollana")
    present = page.get_by_role("group", name="Representatives present")
    for n in range(1, 4):
        present.get_by_label(f"Representative {n} of {slug}").check()
    page.get_by_label("Votes for").fill("3")
    page.get_by_label("Votes against").fill("0")
    page.get_by_label("Abstentions").fill("0")
    page.get_by_role("group", name="Phases covered").get_by_label("exploration").check()
    page.get_by_role("group", name="Activities covered").get_by_label("drilling").check()


def fill_water_condition(page: Page) -> None:
    """The first condition of a decision form: the community's water, in Quechua."""
    condition = page.get_by_role("group", name="Condition 1")
    condition.get_by_label("Condition", exact=True).fill("Yakuta ama qhellichankichu.")
    condition.locator("[name='conditions-0-language']").fill("qu")
    condition.get_by_label("Obligated party").fill("Andes Copper S.A.")
    condition.get_by_label("Due on").fill("2026-12-31")
    condition.get_by_label("How it is verified").fill("Joint water sampling every quarter")
