"""The header on a phone takes at most a fifth of the screen, in English and in the locales whose
words are longest, with room for a search box; its menu opens over the page without script, and
on a wide screen everything in it is in view at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.browser.conftest import TIMEOUT_MS, LiveServer, save_screenshots, sign_in
from tests.factories import Community

PHONE: ViewportSize = {"width": 360, "height": 640}
#: a fifth of the phone's screen
MOST = PHONE["height"] // 5
#: a search box like the one the header holds (added to the page if the header has none yet),
#: so that the header is measured with it
SEARCH_BOX = """() => {
  const header = document.querySelector('header.top');
  if (header.querySelector('input[type=search]')) return false;
  const form = document.createElement('form');
  form.setAttribute('role', 'search');
  form.innerHTML = '<label for="q-test" class="visually-hidden">Search</label>'
    + '<input id="q-test" type="search" name="q" placeholder="Search cases">'
    + '<button type="submit">Search</button>';
  header.querySelector('nav').after(form);
  return true;
}"""


@pytest.fixture
def phone(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page on a 360×640 phone screen (with script, like any phone)."""
    context = browser.new_context(viewport=PHONE, locale="en-GB", is_mobile=True, has_touch=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    save_screenshots(request.node, [("phone", page)])
    context.close()


def header_height(page: Page) -> float:
    box = page.locator("header.top").bounding_box()
    assert box is not None
    return box["height"]


def choose_language(page: Page, name: str) -> None:
    """Choose a language in the header's menu, as a person on a phone does."""
    page.locator("header details.menu > summary").click()
    page.locator("#language-choice").select_option(label=name)
    page.locator("form.language").get_by_role("button").click()
    page.wait_for_load_state()


@pytest.mark.parametrize(
    ("locale", "name"), [("en", None), ("fr", "Français"), ("fil", "Filipino")]
)
def test_a_phones_header_takes_at_most_a_fifth_of_the_screen(
    live_server: LiveServer, community: Community, phone: Page, locale: str, name: str | None
) -> None:
    base = live_server.url
    sign_in(phone, base, "liaison")
    if name is not None:
        choose_language(phone, name)
    phone.goto(f"{base}/cases/")
    expect(phone.locator("html")).to_have_attribute("lang", locale)

    assert header_height(phone) <= MOST, header_height(phone)
    phone.evaluate(SEARCH_BOX)
    assert header_height(phone) <= MOST, f"with a search box: {header_height(phone)}"

    # every link of the navigation is there, in one row that scrolls sideways
    links = phone.locator("header nav a")
    tops = {round(box["y"]) for box in (link.bounding_box() for link in links.all()) if box}
    assert len(tops) == 1, tops
    phone.locator("header nav a[href='/audit/']").scroll_into_view_if_needed()
    expect(phone.locator("header nav a[href='/audit/']")).to_be_in_viewport()

    # the menu opens over the page: the header keeps its height, sign-out is in view
    sign_out = phone.locator("form[action$='/logout'] button")
    expect(sign_out).to_be_hidden()
    phone.locator("header details.menu > summary").click()
    expect(sign_out).to_be_in_viewport()
    assert header_height(phone) <= MOST, f"with the menu open: {header_height(phone)}"


def test_the_phones_menu_opens_with_the_keyboard_and_without_script(
    live_server: LiveServer, community: Community, browser: Browser
) -> None:
    context = browser.new_context(viewport=PHONE, locale="en-GB", java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        base = live_server.url
        sign_in(page, base, "liaison")
        assert header_height(page) <= MOST, header_height(page)
        page.locator("header details.menu > summary").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("link", name="API tokens")).to_be_visible()
        page.get_by_role("link", name="API tokens").click()
        expect(page).to_have_url(f"{base}/account/tokens")
    finally:
        context.close()


def test_a_wide_screen_shows_the_account_links_and_the_language_without_a_menu(
    live_server: LiveServer, community: Community, page: Page
) -> None:
    sign_in(page, live_server.url, "liaison")
    expect(page.locator("header details.menu > summary")).to_be_hidden()
    expect(page.get_by_role("link", name="API tokens")).to_be_visible()
    expect(page.get_by_label("Language", exact=True)).to_be_visible()
    expect(page.locator("form[action$='/logout'] button")).to_be_visible()
