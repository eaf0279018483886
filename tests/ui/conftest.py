"""Fixtures of the web page's browser tests: a real stack and a real headless browser.

`stack`: the real local model server and the real gateway under gunicorn, on free
loopback ports, over the session's `model_repo` (models trained by the real training job,
each version with its `training_report.json`). `browser`: Debian's chromium, headless,
driven through its chromedriver by Selenium (no browser download). The tests skip, saying
why, only when chromium or chromedriver is not installed (`.ci/run` installs both).
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.model_server.support import ROOT, free_port

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


@pytest.fixture(scope="module")
def stack(model_repo, tmp_path_factory):
    """The model server and the gunicorn gateway over `model_repo`, ready (/readyz 200)."""
    yield from _run_stack(model_repo.models_dir, tmp_path_factory)


@pytest.fixture
def own_stack(model_repo, tmp_path_factory):
    """A stack over a copy of `model_repo` (`.models_dir`), for tests that publish versions."""
    from tests.model_server.support import write_config

    models = tmp_path_factory.mktemp("ui_repo") / "models"
    shutil.copytree(model_repo.models_dir, models)
    write_config(models / "models.config",
                 {name: models / name for name in model_repo.results})
    yield from _run_stack(models, tmp_path_factory)


def _run_stack(models_dir: Path, tmp_path_factory):
    from serving.devstack import Stack, StackError

    log_path = tmp_path_factory.mktemp("ui_stack") / "stack.log"
    with log_path.open("w") as log:
        live = Stack(
            models_dir,
            bind=f"127.0.0.1:{free_port()}",
            grpc_port=free_port(),
            env={"GATEWAY_WORKERS": "1", "GATEWAY_THREADS": "4", "TF_CPP_MIN_LOG_LEVEL": "2"},
            output=log.fileno(),
        )
        try:
            live.start(ready_timeout=180)
        except StackError:
            live.stop()
            pytest.fail(f"the stack did not start:\n{log_path.read_text()[-3000:]}")
        yield live
        live.stop()


@pytest.fixture(scope="module")
def browser():
    """Headless chromium through chromedriver, with a fresh profile; quit after the module."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.skip(
            f"no browser for the web page tests: {', '.join(missing)} missing "
            "(apt-get install chromium chromium-driver; .ci/run does it)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="ui-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def screenshot(browser):
    """`screenshot(name)`: the whole page as test-output/ui/<name>.png; returns the path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        shot = browser.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
        )
        path = SCREENSHOTS / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    return take

