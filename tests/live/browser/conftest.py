"""Real Chromium, headless, against pytest-django's live server.

The browser is Debian's `chromium` with its matching `chromium-driver`; nothing here
downloads a browser or a driver (Selenium Manager is kept offline and never asked, since
both paths are given). Without them the tests skip, unless REQUIRE_BROWSER_TESTS is set
(CI sets it), in which case they fail: CI must really run them.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from django.conf import settings

CHROMIUM = os.environ.get("CHROMIUM_BINARY") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BINARY") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1366,900",
]
# Ports this project may listen on in tests.
LIVE_SERVER_PORTS = range(8400, 8500)


@pytest.fixture(scope="session")
def live_server(request):
    """pytest-django's live server on the first port of our range that is free when it starts.
    Choosing the port at start-up rather than at collection matters on a shared machine:
    another suite may take a port in the minutes between the two."""
    from pytest_django.live_server_helper import LiveServer

    for port in LIVE_SERVER_PORTS:
        try:
            server = LiveServer(f"127.0.0.1:{port}")
        except OSError:
            continue  # taken meanwhile: the next one
        yield server
        server.stop()
        return
    raise RuntimeError("no free port in 8400-8499 for the live server")


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -r requirements-dev.txt)"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} not found: apt-get install chromium chromium-driver"
    return None


@pytest.fixture
def browser_factory():
    """browser_factory(lang) → a fresh headless Chromium whose Accept-Language is `lang`."""
    reason = _missing()
    if reason:
        if os.environ.get("REQUIRE_BROWSER_TESTS"):
            pytest.fail(f"browser tests are required here but cannot run: {reason}")
        pytest.skip(reason)

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never reach out
    drivers, profiles = [], []

    def make(lang: str):
        profile = tempfile.mkdtemp(prefix="minicrm-chromium-")
        profiles.append(profile)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--lang={lang}")
        options.add_experimental_option("prefs", {"intl.accept_languages": lang})
        driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        driver.implicitly_wait(0)
        drivers.append(driver)
        return driver

    yield make
    for driver in drivers:
        driver.quit()
    for profile in profiles:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def screenshot():
    """screenshot(driver, name): the whole page, beyond the window's height (DevTools)."""
    import base64

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(driver, name: str) -> Path:
        size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 6000), "scale": 1}
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
        )
        path = SCREENSHOTS / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    return take
