"""Headless chromium for the web page's tests (tests/e2e/test_ui_browser.py): Debian's
`chromium` driven through its `chromedriver` by Selenium, no browser download; and the
small helpers those tests share (a screenshot of the whole page, test images, the API
outside the browser)."""

from __future__ import annotations

import base64
import io
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

from serving.devstack import ROOT

CHROMIUM = Path(os.environ.get("UI_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("UI_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"))
SCREENSHOTS = ROOT / "test-output" / "ui"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
)


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        return (f"no browser for the web page tests: {', '.join(missing)} missing "
                "(apt-get install chromium chromium-driver; .ci/run does it)")
    return None


def launch(profile: Path):
    """A headless chromium WebDriver with a fresh profile in `profile`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    return driver


def save_screenshot(driver, name: str) -> Path:
    """The whole page (beyond the window) as test-output/ui/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot",
                                  {"format": "png", "captureBeyondViewport": True})
    path = SCREENSHOTS / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def api(base_url: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """One call to a gateway's API outside the browser: (status, JSON body)."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    request = urllib.request.Request(base_url + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def digit_png(raw: np.ndarray, low: float, high: float, scale: int = 8) -> bytes:
    """A raw image instance (H×W×1 in the training range) as a PNG, `scale` times larger."""
    gray = np.clip((raw[..., 0] - low) * (255.0 / (high - low)), 0, 255).astype(np.uint8)
    image = Image.fromarray(gray, mode="L").resize(
        (gray.shape[1] * scale, gray.shape[0] * scale), Image.Resampling.NEAREST
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
