"""The web page at `/`, end to end in headless chromium, against a real stack: the real
gunicorn gateway and the real local model server on loopback (tests/e2e's `stack`), over
models trained by the real training job. Each test compares what the page shows with what
the API answers for the same input, and leaves a screenshot in test-output/ui/. The tests
skip, saying why, only when chromium or chromedriver is missing (.ci/run installs both).
"""

from __future__ import annotations

import base64
import json
import re
import shutil

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions import interaction
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.actions.pointer_input import PointerInput
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from contract.training_report import report_path
from tests.e2e.browser import api, digit_png, launch, missing_browser, save_screenshot
from tests.e2e.support import Gateway, start_stack
from tests.model_server.support import copy_model, wait_for, write_config

WAIT_SECONDS = 30
API_KEY = "ui-test-key-0123456789abcdef"

INK_JS = """
const c = document.getElementById("pad");
const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
let n = 0;
for (let i = 0; i < d.length; i += 4) if (d[i] > 128) n++;
return n;
"""

# Controls without an accessible name: a label[for], aria-label(ledby), or text.
UNLABELLED_JS = """
const out = [];
for (const e of document.querySelectorAll("input, select, button, canvas, textarea")) {
  if (e.closest("[hidden]")) continue;
  const named = (e.id && document.querySelector(`label[for="${e.id}"]`)) ||
    e.getAttribute("aria-label") || e.getAttribute("aria-labelledby") ||
    (e.tagName === "BUTTON" && e.textContent.trim());
  if (!named) out.push(e.outerHTML.slice(0, 80));
}
return out;
"""


def wait(browser, condition, what: str):
    """Poll `condition(browser)` until truthy (bounded)."""
    return WebDriverWait(browser, WAIT_SECONDS, poll_frequency=0.1).until(condition, what)


def by_id(browser, element_id: str):
    return browser.find_element(By.ID, element_id)


def open_page(browser, url: str, ready_id: str = "summary-version"):
    """Load the page and wait until `ready_id` is shown."""
    browser.get(url)
    wait(browser, ec.visibility_of_element_located((By.ID, ready_id)), f"#{ready_id}")


def load_report(result) -> dict:
    return json.loads(report_path(result.version_dir).read_text())


def answer(browser) -> dict:
    """What the answer panel shows: label, model, version, latency, and the bars."""
    bars = browser.find_elements(By.CSS_SELECTOR, "#result .bars li")
    return {
        "label": by_id(browser, "answer-label").text,
        "model": by_id(browser, "answer-model").text,
        "version": by_id(browser, "answer-version").text,
        "latency": by_id(browser, "answer-latency").text,
        "bars": [
            {
                "label": li.find_element(By.CLASS_NAME, "bar-label").text,
                "role": li.find_element(By.CLASS_NAME, "bar").get_attribute("role"),
                "now": float(li.find_element(By.CLASS_NAME, "bar").get_attribute("aria-valuenow")),
                "text": li.find_element(By.CLASS_NAME, "bar-value").text,
                "width": li.find_element(By.CLASS_NAME, "bar-fill").size["width"],
            }
            for li in bars
        ],
    }


def wait_for_answer(browser, previous=None) -> dict:
    """Wait for a (new) answer in the answer panel and read it."""
    if previous is not None:
        wait(browser, ec.staleness_of(previous), "a new answer")
    wait(browser, ec.visibility_of_element_located((By.ID, "answer-version")), "an answer")
    return answer(browser)


def check_answer(shown: dict, api_answer: dict, labels: list[str]) -> None:
    """The page shows the API's answer for the same input: label, version, bars."""
    prediction = api_answer["predictions"][0]
    assert shown["label"] == prediction["label"]
    assert shown["model"] == api_answer["model"]
    assert shown["version"] == api_answer["model_version"]
    assert re.fullmatch(r"\d+ ms", shown["latency"])
    assert [b["label"] for b in shown["bars"]] == [t["label"] for t in prediction["top_k"]]
    assert {b["label"] for b in shown["bars"]} <= set(labels)
    for bar, top in zip(shown["bars"], prediction["top_k"]):
        assert bar["role"] == "meter"
        assert bar["now"] == pytest.approx(100 * top["probability"], abs=0.051)
        assert bar["text"] == f"{bar['now']:.1f}%"
    widths = [b["width"] for b in shown["bars"]]
    assert widths == sorted(widths, reverse=True)  # bars drawn to scale, most likely first


def console_errors(browser) -> list[str]:
    """Errors in the browser's console other than the HTTP errors a test provoked."""
    return [
        e["message"] for e in browser.get_log("browser")
        if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]
    ]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless chromium, one for the module, with a fresh profile."""
    reason = missing_browser()
    if reason:
        pytest.skip(reason)
    profile = tmp_path_factory.mktemp("chromium-profile")
    driver = launch(profile)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def screenshot(browser):
    """`screenshot(name)`: the whole page into test-output/ui/<name>.png."""
    return lambda name: save_screenshot(browser, name)


@pytest.fixture
def own_stack(model_repo, tmp_path_factory):
    """A stack over a copy of `model_repo`, for a test that publishes a version."""
    models = tmp_path_factory.mktemp("ui_repo") / "models"
    shutil.copytree(model_repo.models_dir, models)
    write_config(models / "models.config", {name: models / name for name in model_repo.results})
    stack = start_stack(models, tmp_path_factory.mktemp("ui_stack") / "stack.log")
    yield stack
    stack.stop()


@pytest.fixture(autouse=True)
def no_script_errors(browser):
    """Every test ends without a script error or a Content-Security-Policy violation."""
    browser.get_log("browser")  # drop what earlier tests left
    yield
    assert console_errors(browser) == []


def test_the_trained_version_is_shown_with_its_curves_and_confusion_matrix(
    browser, stack, model_repo, screenshot
):
    result = model_repo.results["digits"]
    report = load_report(result)
    open_page(browser, f"{stack.url}/?model=digits", "test-accuracy")

    assert by_id(browser, "summary-model").text == "digits"
    assert by_id(browser, "summary-version").text == str(result.version)
    assert by_id(browser, "report-title").text == f"How version {result.version} was trained"
    assert by_id(browser, "test-accuracy").text == f"{100 * report['test_metrics']['accuracy']:.1f}%"
    epochs = len(report["history"]["loss"])
    assert by_id(browser, "best-epoch").text == f"{report['best_epoch']} of {epochs}"

    for name in ("loss", "accuracy"):
        chart = browser.find_element(By.CSS_SELECTOR, f"svg.chart-{name}")
        assert chart.get_attribute("role") == "img"
        title_id, desc_id = chart.get_attribute("aria-labelledby").split()
        title = chart.find_element(By.ID, title_id).get_attribute("textContent")
        assert f"best epoch {report['best_epoch']}" in title
        assert "Validation" in chart.find_element(By.ID, desc_id).get_attribute("textContent")
        assert len(chart.find_elements(By.CSS_SELECTOR, "path.series-train")) == 1
        assert len(chart.find_elements(By.CSS_SELECTOR, "path.series-valid")) == 1
        assert len(chart.find_elements(By.CSS_SELECTOR, "circle.dot-train")) == epochs
        assert len(chart.find_elements(By.CSS_SELECTOR, "line.best-line")) == 1

    matrix = browser.find_element(By.CSS_SELECTOR, "svg.confusion")
    labels = report["labels"]
    assert len(matrix.find_elements(By.TAG_NAME, "rect")) == len(labels) ** 2
    counts = [int(t.get_attribute("textContent")) for t in matrix.find_elements(By.CSS_SELECTOR, "text.count")]
    assert counts == [c for row in report["confusion_matrix"] for c in row]
    rows = browser.find_elements(By.CSS_SELECTOR, "#per-class tbody tr")
    assert [r.find_element(By.TAG_NAME, "th").text for r in rows] == labels

    assert browser.execute_script(UNLABELLED_JS) == []
    screenshot("digits-report")


def test_draw_with_mouse_and_finger_then_predict(browser, stack, model_repo, screenshot):
    result = model_repo.results["digits"]
    open_page(browser, f"{stack.url}/?model=digits")
    pad = by_id(browser, "pad")
    wait(browser, lambda b: pad.is_displayed(), "the drawing pad")
    assert browser.execute_script(INK_JS) == 0

    # A finger: a touch pointer's stroke draws too.
    finger = ActionBuilder(browser, mouse=PointerInput(interaction.POINTER_TOUCH, "finger"))
    finger.pointer_action.move_to(pad, 0, -90).pointer_down().move_to(pad, 0, 0) \
        .move_to(pad, 0, 90).pointer_up()
    finger.perform()
    assert browser.execute_script(INK_JS) > 500
    by_id(browser, "clear-pad").click()
    assert browser.execute_script(INK_JS) == 0

    # The mouse: a "7", the bar then the slanted stroke.
    ActionChains(browser).move_to_element_with_offset(pad, -70, -90).click_and_hold() \
        .move_by_offset(70, 0).move_by_offset(70, 0).move_by_offset(-40, 90) \
        .move_by_offset(-40, 90).release().perform()
    assert browser.execute_script(INK_JS) > 1000

    by_id(browser, "predict-drawing").click()
    shown = wait_for_answer(browser)
    # The same PNG the page sent, through the API directly: the same answer.
    sent = browser.execute_script("return padPng()")
    status, direct = api(stack.url, "/v1/models/digits:predict",
                         {"instances": [{"b64": sent}], "top_k": 5})
    assert status == 200
    check_answer(shown, direct, list(result.metadata.labels))
    assert shown["version"] == str(result.version)
    assert len(shown["bars"]) == 5
    screenshot("digits-drawing")


def test_upload_a_png_and_start_from_a_test_example(browser, stack, model_repo, tmp_path, screenshot):
    result = model_repo.results["digits"]
    meta = result.metadata
    open_page(browser, f"{stack.url}/?model=digits")

    png = digit_png(result.test_inputs[0], meta.input.raw_range.min, meta.input.raw_range.max)
    path = tmp_path / "digit.png"
    path.write_bytes(png)
    by_id(browser, "image-file").send_keys(str(path))
    shown = wait_for_answer(browser)
    status, direct = api(stack.url, "/v1/models/digits:predict",
                         {"instances": [{"b64": base64.b64encode(png).decode()}], "top_k": 5})
    assert status == 200
    check_answer(shown, direct, list(meta.labels))
    preview = by_id(browser, "upload-preview")
    assert preview.is_displayed() and "digit.png" in preview.get_attribute("alt")
    screenshot("digits-upload")

    # A raw test image from the training report, drawn on the pad, then predicted.
    report = load_report(result)
    previous = by_id(browser, "answer-label")
    Select(by_id(browser, "image-example")).select_by_value("3")
    assert browser.execute_script(INK_JS) > 0
    by_id(browser, "predict-drawing").click()
    shown = wait_for_answer(browser, previous)
    assert shown["version"] == str(result.version)
    assert len(report["examples"]) == len(meta.labels)


def test_tabular_form_from_the_feature_names_prefilled_with_a_real_example(
    browser, stack, model_repo, screenshot
):
    result = model_repo.results["breast_cancer"]
    meta = result.metadata
    report = load_report(result)
    open_page(browser, f"{stack.url}/?model=breast_cancer")
    wait(browser, ec.visibility_of_element_located((By.ID, "tabular-form")), "the form")

    fields = browser.find_elements(By.CSS_SELECTOR, "#feature-fields input")
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#feature-fields label")]
    assert names == list(meta.input.feature_names)
    example = report["examples"][0]["instance"]
    assert {f.get_attribute("data-feature"): float(f.get_attribute("value")) for f in fields} == example

    # Keyboard only: Enter in a field submits the form.
    fields[0].send_keys(Keys.ENTER)
    shown = wait_for_answer(browser)
    status, direct = api(stack.url, "/v1/models/breast_cancer:predict",
                         {"instances": [example], "top_k": 2})
    assert status == 200
    check_answer(shown, direct, list(meta.labels))
    assert len(shown["bars"]) == 2
    screenshot("breast-cancer-form")

    # Another example of the test split fills the form with its values.
    Select(by_id(browser, "tabular-example")).select_by_value("1")
    other = report["examples"][1]["instance"]
    assert {f.get_attribute("data-feature"): float(f.get_attribute("value")) for f in fields} == other

    # Tab from the last field reaches the Predict button, with a visible focus ring.
    fields[-1].send_keys(Keys.TAB)
    focused = browser.switch_to.active_element
    assert focused.get_attribute("id") == "predict-form"
    assert focused.value_of_css_property("outline-style") == "solid"
    assert browser.execute_script(UNLABELLED_JS) == []


def test_api_errors_are_shown_as_readable_messages(browser, stack, screenshot):
    open_page(browser, f"{stack.url}/?model=breast_cancer")
    wait(browser, ec.visibility_of_element_located((By.ID, "tabular-form")), "the form")
    field = browser.find_element(By.CSS_SELECTOR, 'input[data-feature="mean radius"]')
    field.clear()
    field.send_keys("1e300")
    by_id(browser, "predict-form").click()
    error = wait(browser, ec.visibility_of_element_located((By.ID, "answer-error")), "the error")
    text = error.text
    assert "HTTP 400" in text
    assert "instances[0]['mean radius']: 1e+300 is not a finite float32 value" in text
    assert "{" not in text and '"error"' not in text
    assert error.get_attribute("role") == "alert"
    screenshot("breast-cancer-error")

    # An empty field is caught on the page, and the field is marked and focused.
    empty = browser.find_element(By.CSS_SELECTOR, 'input[data-feature="mean texture"]')
    empty.clear()
    by_id(browser, "predict-form").click()
    wait(browser, lambda b: "“mean texture” needs a number" in by_id(b, "answer-error").text,
         "the empty-field message")
    assert empty.get_attribute("aria-invalid") == "true"
    assert browser.switch_to.active_element == empty

    # An unknown model named in the URL.
    browser.get(f"{stack.url}/?model=nope")
    notice = wait(browser, ec.visibility_of_element_located((By.ID, "notice")), "the notice")
    assert "HTTP 404" in notice.text and "unknown model 'nope'" in notice.text


def test_model_picker_lists_the_served_models(browser, stack, screenshot):
    status, listing = api(stack.url, "/v1/models")
    assert status == 200
    names = [m["name"] for m in listing["models"]]
    assert {"digits", "breast_cancer"} <= set(names)
    open_page(browser, f"{stack.url}/")
    select = Select(by_id(browser, "model-select"))
    assert [o.text for o in select.options] == names
    assert select.first_selected_option.text == names[0]
    assert by_id(browser, "summary-model").text == names[0]

    select.select_by_visible_text("digits")
    wait(browser, lambda b: by_id(b, "summary-model").text == "digits", "digits shown")
    assert browser.current_url.endswith("?model=digits")
    assert by_id(browser, "pad").is_displayed()
    assert not by_id(browser, "tabular-form").is_displayed()


def test_a_gateway_with_api_keys_asks_for_one(browser, stack, screenshot, tmp_path):
    gateway = Gateway(stack.models_dir, stack.grpc_address, tmp_path / "gateway.log",
                      GATEWAY_API_KEYS=API_KEY)
    try:
        url = gateway.url
        browser.get(f"{url}/?model=breast_cancer")  # the page itself needs no key
        notice = wait(browser, ec.visibility_of_element_located((By.ID, "notice")), "the notice")
        assert "HTTP 401" in notice.text and "missing API key" in notice.text
        assert by_id(browser, "key-form").is_displayed()
        screenshot("api-key-prompt")

        by_id(browser, "key-input").send_keys(API_KEY + Keys.ENTER)
        wait(browser, ec.visibility_of_element_located((By.ID, "tabular-form")), "the form")
        assert not by_id(browser, "notice").is_displayed()
        by_id(browser, "predict-form").click()
        shown = wait_for_answer(browser)
        assert shown["model"] == "breast_cancer"
    finally:
        gateway.stop()


def test_a_newer_version_that_answers_is_shown_with_its_report(browser, own_stack, model_repo):
    """A version published while the page is open answers; the page follows it. This one
    was published without a training report (as by an older training job)."""
    result = model_repo.results["digits"]
    url = own_stack.url
    open_page(browser, f"{url}/?model=digits", "test-accuracy")
    assert by_id(browser, "summary-version").text == str(result.version)

    newer = result.version + 1
    published = copy_model(result.version_dir, own_stack.models_dir / "digits", newer)
    report_path(published).unlink()
    wait_for(lambda: api(url, "/v1/models/digits/metadata")[1].get("model_version") == str(newer),
             60, f"digits version {newer} served")

    Select(by_id(browser, "image-example")).select_by_value("0")
    by_id(browser, "predict-drawing").click()
    shown = wait_for_answer(browser)
    assert shown["version"] == str(newer)
    wait(browser, lambda b: by_id(b, "summary-version").text == str(newer), "the summary updated")
    wait(browser, lambda b: by_id(b, "report-title").text == f"How version {newer} was trained",
         "the report of the newer version")
    wait(browser, lambda b: "published without a training report" in by_id(b, "report-body").text,
         "the missing report explained")
    assert f"model 'digits' version {newer} has no training report" in by_id(browser, "report-body").text
