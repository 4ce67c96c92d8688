"""Headless Chromium (Debian's `chromium` and `chromium-driver`, installed by `make test`) through Selenium."""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

# Chromium calls home at start (updates, sync, QUIC probes): on a closed network those fail noisily.
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1440,2400",
)  # fmt: skip


@contextmanager
def chromium(profile: Path):
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"))
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver, css: str, count: int = 1, timeout: float = 90) -> list:
    """The elements matching ``css`` once at least ``count`` of them are on the page."""
    return WebDriverWait(driver, timeout).until(
        lambda d: (found := d.find_elements(By.CSS_SELECTOR, css)) and len(found) >= count and found
    )


def wait_for_text(driver, text: str, timeout: float = 90) -> bool:
    """True once ``text`` is shown on the page."""
    return WebDriverWait(driver, timeout).until(lambda d: text in d.find_element(By.TAG_NAME, "body").text)


def metrics(driver) -> dict[str, str]:
    """Streamlit metrics on the page: label → value as shown."""
    return {
        m.find_element(By.CSS_SELECTOR, '[data-testid="stMetricLabel"]').text.strip():
        m.find_element(By.CSS_SELECTOR, '[data-testid="stMetricValue"]').text.strip()
        for m in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]')
    }  # fmt: skip


def open_dashboard(driver, url: str) -> dict[str, str]:
    """Load the dashboard, wait until its two charts have drawn, return its metrics."""
    driver.get(url)
    wait_for(driver, '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg', count=2)
    wait_for(driver, '[data-testid="stMetricValue"]', count=8)
    return metrics(driver)
