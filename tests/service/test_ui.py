"""The live page (`/ui`) and the offline API docs: served files, and a real headless browser.

The browser tests drive Debian's `chromium` through `chromium-driver` with selenium against a
real `ralis serve` on the committed default model; they skip when the browser is absent.
Screenshots go to `build/` (CI keeps them as artefacts): ui-laptop.png,
ui-laptop-two-sensors-off.png (1280 x 900), ui-phone.png and ui-phone-full.png (390 px wide,
portrait), docs.png.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from service.settings import DEFAULT_BUNDLE_DIR
from tests.service.servers import Server
from tests.service.testclient import TestClient

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
UI_DIR = REPO / "service" / "ui"
DSADS_ZIP = REPO.parent / "shared" / "datasets" / "dsads" / "daily_sports_activities.zip"
SENSORS = ["torso", "right_arm", "left_arm", "right_leg", "left_leg"]
API_KEY = "ui-test-key-0123456789abcdef"

T = TypeVar("T")


# ---- served files (no browser) ---------------------------------------------------------------


def test_the_page_its_files_and_a_redirect_are_served(client: TestClient) -> None:
    page = client.get("/ui")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert 'src="ui/app.js"' in page.text
    for name, kind in [("app.js", "text/javascript"), ("style.css", "text/css"),
                       ("recording.json", "application/json")]:  # fmt: skip
        response = client.get(f"/ui/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith(kind)
    assert client.get("/ui/../settings.py").status_code == 404
    assert client.get("/ui/index.html").status_code == 404  # only the named files
    root = client.get("/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "ui"
    assert 'route="/ui/{name}"' in client.get("/metrics").text  # a bounded metrics label


def test_docs_and_redoc_load_their_assets_from_this_server(client: TestClient) -> None:
    for path, asset in [("/docs", "/docs/assets/swagger-ui-bundle.js"),
                        ("/redoc", "/docs/assets/redoc.standalone.js")]:  # fmt: skip
        page = client.get(path)
        assert page.status_code == 200
        assert asset in page.text
        assert "cdn" not in page.text and "https://" not in page.text, path
        assert client.get(asset).status_code == 200
    assert client.get("/docs/assets/swagger-ui.css").status_code == 200
    assert b"cdn.redoc.ly" not in client.get("/docs/assets/redoc.standalone.js").content
    assert client.get("/docs/oauth2-redirect").status_code == 200
    assert "/docs" not in client.get("/openapi.json").json()["paths"]


def test_the_recording_is_one_minute_of_five_sensors_with_attribution() -> None:
    recording = json.loads((UI_DIR / "recording.json").read_text())
    assert (UI_DIR / "recording.json").stat().st_size < 200_000
    assert "10.24432/C5C59F" in recording["attribution"] and recording["license"] == "CC BY 4.0"
    assert recording["subject"] in (6, 7, 8)  # a test subject: never trained on
    assert list(recording["samples"]) == SENSORS
    samples = int(recording["duration_s"] * recording["rate_hz"])
    assert recording["duration_s"] == 60.0
    for rows in recording["samples"].values():
        assert len(rows) == samples and all(len(row) == 3 for row in rows)
    starts = [segment["start_s"] for segment in recording["segments"]]
    assert starts == sorted(starts) and starts[0] == 0.0 and len(starts) >= 4


@pytest.mark.skipif(not DSADS_ZIP.is_file(), reason=f"DSADS zip not at {DSADS_ZIP}")
def test_the_recording_is_what_its_script_makes_from_dsads() -> None:
    make_recording = importlib.import_module("service.ui.make_recording")
    committed = json.loads((UI_DIR / "recording.json").read_text())
    assert json.loads(json.dumps(make_recording.build(DSADS_ZIP))) == committed


# ---- a real browser against a real server ----------------------------------------------------

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
try:
    importlib.import_module("selenium")
    HAVE_SELENIUM = True
except ImportError:
    HAVE_SELENIUM = False

# CI (.ci/run) sets RALIS_REQUIRE_BROWSER=1 and installs the browser: there it must run.
browser = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER and HAVE_SELENIUM)
    and not os.environ.get("RALIS_REQUIRE_BROWSER"),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
    "chromium-driver) and selenium (dev extra)",
)


@pytest.fixture(scope="module")
def live_server() -> Iterator[Server]:
    server = Server(DEFAULT_BUNDLE_DIR)
    try:
        yield server
    finally:
        server.stop()
        assert "Traceback" not in server.output, server.output


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("RALIS_REQUIRE_BROWSER is set but chromium or chromedriver is not on PATH")
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must not download anything
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,900", "--disable-extensions", "--no-first-run"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    chrome.set_page_load_timeout(60)
    try:
        yield chrome
    finally:
        chrome.quit()


def wait_for(condition: Callable[[], T | None], timeout_s: float, what: str) -> T:
    """Poll `condition` until it returns something truthy; fail naming `what` otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def console_errors(chrome: Any) -> list[str]:
    """The browser console's errors since the last call (the log is drained on read)."""
    return [entry["message"] for entry in chrome.get_log("browser") if entry["level"] == "SEVERE"]


def prediction(chrome: Any) -> dict[str, str]:
    """The page's last rendered prediction, from the data attributes of `#prediction`."""
    data: dict[str, str] = chrome.execute_script(
        "const d = document.getElementById('prediction').dataset;"
        "return {count: d.count, views: d.viewsUsed, activity: d.activity, t_end: d.tEnd,"
        " errors: d.errors, clock: document.body.dataset.clock || '0'};"
    )
    return data


def prediction_after(chrome: Any, t_end: float, timeout_s: float = 30) -> dict[str, str]:
    """The first rendered prediction whose window ends at or after `t_end` (sample time)."""
    return wait_for(
        lambda: (p := prediction(chrome)) and p["t_end"] and float(p["t_end"]) >= t_end and p,
        timeout_s,
        f"a prediction with t_end >= {t_end}",
    )


def toggle(chrome: Any, sensor: str) -> float:
    """Click a sensor's switch; returns the page's sample clock when it was clicked."""
    chrome.find_element("css selector", f'button[role="switch"][id="switch-{sensor}"]').click()
    return float(chrome.execute_script("return document.body.dataset.lastToggleT"))


def screenshot(chrome: Any, name: str) -> Path:
    BUILD.mkdir(exist_ok=True)
    path = BUILD / name
    chrome.save_screenshot(str(path))
    return path


@pytest.mark.browser
@browser
def test_the_page_follows_sensors_switched_off_and_on(live_server: Server, driver: Any) -> None:
    driver.get(f"{live_server.url}/ui?speed=10")
    first = wait_for(lambda: int(prediction(driver)["count"] or 0) >= 2 and prediction(driver),
                     30, "two rendered predictions")  # fmt: skip
    assert sorted(first["views"].split(",")) == sorted(SENSORS)
    assert driver.find_element("id", "predicted").text.strip() != ""
    assert len(driver.find_elements("css selector", "#probabilities li")) == 5
    assert len(driver.find_elements("css selector", "#timeline .column")) >= 2
    switches = driver.find_elements("css selector", 'button[role="switch"]')
    assert [s.get_attribute("aria-label") for s in switches] == [
        f"{s.replace('_', ' ')} sensor" for s in SENSORS
    ]
    assert all(s.get_attribute("aria-checked") == "true" for s in switches)
    controls = [c for c in driver.find_elements("css selector", "button, select, input")
                if c.is_displayed()]  # fmt: skip
    unnamed = [c.get_attribute("id") for c in controls if not c.accessible_name.strip()]
    assert unnamed == [], f"controls without an accessible name: {unnamed}"

    off_at = max(toggle(driver, "right_arm"), toggle(driver, "left_leg"))
    # Silent for more than stale_after_s (1 s) before t_end: dropped from that window on.
    after_off = prediction_after(driver, off_at + 2)
    for later in (after_off, prediction_after(driver, float(after_off["t_end"]) + 1)):
        assert sorted(later["views"].split(",")) == ["left_arm", "right_leg", "torso"], later
    tile = driver.find_element("css selector", '.tile[data-sensor="left_leg"]')
    assert tile.get_attribute("data-enabled") == "false"
    assert tile.get_attribute("data-used") == "false"
    assert len(driver.find_elements("css selector", "#timeline .marker.off")) == 2
    screenshot(driver, "ui-laptop-two-sensors-off.png")

    on_at = max(toggle(driver, "right_arm"), toggle(driver, "left_leg"))
    # Back once their samples cover the window again (4 s, at least 90% of it).
    after_on = prediction_after(driver, on_at + 5)
    assert sorted(after_on["views"].split(",")) == sorted(SENSORS), after_on
    assert len(driver.find_elements("css selector", "#timeline .marker.on")) == 2
    assert after_on["errors"] == "0"
    screenshot(driver, "ui-laptop.png")

    driver.find_element("id", "play").click()  # pause: no samples, so no more predictions
    time.sleep(0.5)  # what was in flight arrives
    paused_at = prediction(driver)["count"]
    time.sleep(1.5)  # 15 s of sample time at 10x
    assert prediction(driver)["count"] == paused_at
    driver.find_element("id", "play").click()
    wait_for(lambda: prediction(driver)["count"] != paused_at, 30, "predictions after resuming")
    assert console_errors(driver) == []


@pytest.mark.browser
@browser
def test_the_page_fits_a_phone_in_portrait(live_server: Server, driver: Any) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
    )
    try:
        driver.get(f"{live_server.url}/ui?speed=5")
        wait_for(lambda: int(prediction(driver)["count"] or 0) >= 2, 30, "two predictions")
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 0, f"the page is {overflow} px wider than a 390 px phone"
        screenshot(driver, "ui-phone.png")
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 390, "height": min(height, 4000), "deviceScaleFactor": 1, "mobile": True},
        )
        screenshot(driver, "ui-phone-full.png")
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert console_errors(driver) == []


@pytest.mark.browser
@browser
def test_docs_and_redoc_render_offline(live_server: Server, driver: Any) -> None:
    driver.get(f"{live_server.url}/docs")
    paths = wait_for(
        lambda: [e.text for e in driver.find_elements("css selector", ".opblock-summary-path")],
        30,
        "Swagger UI's operations list",
    )
    assert "/v1/predict" in paths and "/v1/model" in paths
    screenshot(driver, "docs.png")
    driver.get(f"{live_server.url}/redoc")
    wait_for(
        lambda: "/v1/predict" in driver.find_element("tag name", "body").text,
        30,
        "ReDoc's rendering of the API",
    )
    assert console_errors(driver) == []


@pytest.mark.browser
@browser
def test_with_api_keys_the_page_asks_for_a_key_and_keeps_it_in_memory(driver: Any) -> None:
    # Locked down: keys on and an origin allow-list that holds the page's own origin.
    env = {"RALIS_API_KEYS": API_KEY, "RALIS_ALLOWED_ORIGINS": "{origin}"}
    server = Server(DEFAULT_BUNDLE_DIR, env)
    try:
        driver.get(f"{server.url}/ui?speed=10")
        form = driver.find_element("id", "auth")
        wait_for(form.is_displayed, 15, "the API key form")
        key_input = driver.find_element("id", "api-key")
        assert key_input.accessible_name == "API key"
        assert key_input.get_attribute("type") == "password"
        key_input.send_keys("not-the-key-0123456789")
        driver.find_element("id", "auth-submit").click()
        wait_for(lambda: "refused" in driver.find_element("id", "auth-error").text, 15,
                 "the refusal of a wrong key")  # fmt: skip
        key_input.send_keys(API_KEY)
        driver.find_element("id", "auth-submit").click()
        wait_for(lambda: int(prediction(driver)["count"] or 0) >= 1, 30, "a prediction")
        assert not form.is_displayed()
        stored = driver.execute_script(
            "return JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie"
        )
        assert API_KEY not in stored
        # The wrong key's 401 is the only console error the browser logs.
        errors = console_errors(driver)
        assert all("401" in error for error in errors), errors
    finally:
        server.stop()
