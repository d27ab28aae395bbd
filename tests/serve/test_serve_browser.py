"""The playground page in a real headless Chromium: type a question, get SQL and rows.

Drives the system browser (Debian ``chromium`` + ``chromium-driver``; ``.ci/run``
installs them) through selenium with the system driver, so nothing is
downloaded. The screenshot is left in the test's tmp dir.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from serve_support import KEY, scripted_adapter, scripted_loader, serve_config, start_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs the system Chromium and its driver: apt-get install chromium chromium-driver "
           "(.ci/run installs them)")


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1100,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_playground_question_to_sql_and_rows(browser, sample_dir, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    database = tmp_path / "shop.sqlite"
    shutil.copy(sample_dir / "database" / "retail_shop" / "retail_shop.sqlite", database)
    config = serve_config(sample_dir, tmp_path, f"infer.adapter_path={scripted_adapter(tmp_path / 'a')}")
    server = start_server(config, [("default", str(tmp_path / "a"))], {"shop": database},
                          loader=scripted_loader)
    try:
        browser.get(server.url + "/")
        wait = WebDriverWait(browser, 60)
        browser.find_element(By.ID, "api-key").send_keys(KEY)
        browser.find_element(By.ID, "question").click()  # "change" on the key loads the databases
        wait.until(lambda d: len(Select(d.find_element(By.ID, "db")).options) > 1)
        Select(browser.find_element(By.ID, "db")).select_by_value("shop")
        browser.find_element(By.ID, "question").send_keys(
            "SQL: SELECT name, price FROM product ORDER BY price DESC LIMIT 3")
        browser.find_element(By.ID, "run").click()
        wait.until(ec.presence_of_element_located((By.ID, "result-table")))
        sql = browser.find_element(By.ID, "sql")
        assert sql.text == "SELECT name, price FROM product ORDER BY price DESC LIMIT 3"
        keywords = [k.text for k in sql.find_elements(By.CSS_SELECTOR, "span.kw")]
        assert keywords[:3] == ["SELECT", "FROM", "ORDER"]
        rows = browser.find_elements(By.CSS_SELECTOR, "#result-table tr")
        assert [h.text for h in rows[0].find_elements(By.TAG_NAME, "th")] == ["name", "price"]
        assert len(rows) == 4  # header + 3 rows
        assert "ms on the server" in browser.find_element(By.ID, "latency").text
        shot = Path(tmp_path) / "playground.png"
        assert browser.save_screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    finally:
        server.stop()
