"""The home page's form, used in a real browser against a real dev server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from servelab.service import ServiceConfig

from ..helpers import launch_service

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

pytestmark = pytest.mark.browser
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = ServiceConfig(workload="io", io_delay=0.01, token=TOKEN)
    with launch_service("flask-dev", tmp_path_factory.mktemp("home"), config) as server:
        yield server.url


def _ask(browser: WebDriver, url: str, area: str, token: str) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{url}/")
    browser.find_element(By.ID, "area").clear()
    browser.find_element(By.ID, "area").send_keys(area)
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    result = browser.find_element(By.ID, "result")
    WebDriverWait(browser, 10).until(lambda _: result.text not in ("", "…"))
    text: str = result.text
    return text


def test_the_form_asks_for_a_price_with_the_token(browser: WebDriver, server_url: str) -> None:
    # 42 m2 x 200 000 RUB, formatted for Russian readers
    assert (
        _ask(browser, server_url, "42", TOKEN).replace("\u202f", " ").replace("\xa0", " ")
        == "8 400 000 ₽"
    )


def test_the_form_shows_the_services_error(browser: WebDriver, server_url: str) -> None:
    assert _ask(browser, server_url, "42", "wrong") == "invalid token"
    assert _ask(browser, server_url, "200000", TOKEN).startswith("area must be")
