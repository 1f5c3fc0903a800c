"""Evidence in a real browser with JavaScript off, as on a slow link with scripts blocked: the
disclosure matrix's missing cell opens the form prefilled, the files go up with it, a refused
file comes back with the typed input kept, and a file comes down exactly as it went up."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import TIMEOUT_MS, LiveServer, sign_in
from tests.evidence.samples import ACCEPTED, REFUSED
from tests.factories import Community, walk_to

TITLE = "Register a disclosure"


@pytest.fixture
def no_script(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(java_script_enabled=False, accept_downloads=True, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


def _file(name: str, content: bytes, mime: str) -> dict[str, object]:
    return {"name": name, "mimeType": mime, "buffer": content}


def test_files_go_up_with_the_form_and_come_down_as_sent_without_javascript(
    live_server: LiveServer, community: Community, no_script: BrowserContext
) -> None:
    base, world = live_server.url, live_server.world
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    page: Page = no_script.new_page()
    sign_in(page, base, "liaison")
    page.goto(f"{base}/cases/{case_id}")
    # a missing cell of the matrix: the form opens with its item, language and format ticked
    page.get_by_role("link", name="Register it").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    page.get_by_label("Title", exact=True).fill("Mapa de las zonas afectadas")
    page.get_by_label("Channel (assembly, radio, booklet ...)").fill("Asamblea comunal")
    files = page.locator("input[type=file][name=files]")
    html = REFUSED["minutes.pdf"]
    files.set_input_files([_file("minutes.pdf", html, "application/pdf")])
    page.get_by_role("button", name=TITLE, exact=True).click()
    expect(page.locator("p.error").first).to_contain_text("is not a kind of file fpic keeps")
    expect(page.get_by_label("Title", exact=True)).to_have_value("Mapa de las zonas afectadas")
    pdf, wav = ACCEPTED["booklet.pdf"][0], ACCEPTED["presentation.wav"][0]
    page.locator("input[type=file][name=files]").set_input_files([
        _file("booklet.pdf", pdf, "application/pdf"),
        _file("presentation.wav", wav, "audio/wav"),
    ])  # fmt: skip
    page.get_by_role("button", name=TITLE, exact=True).click()
    expect(page.locator(".flash.success")).to_have_text(f"Done: {TITLE}.")
    matrix = page.locator("section[aria-labelledby=h-disclosure]")
    expect(matrix.get_by_role("link", name="booklet.pdf").first).to_be_visible()
    with page.expect_download() as download:
        matrix.get_by_role("link", name="booklet.pdf").first.click()
    got = download.value
    assert got.suggested_filename == "booklet.pdf"
    with open(got.path(), "rb") as saved:
        assert saved.read() == pdf
