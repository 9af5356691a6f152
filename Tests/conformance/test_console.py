"""The ops console (SPEC §17) in a real browser: Debian's headless Chromium, driven by Selenium,
against the real binary with the simulator upstream and a webhook receiver here.

Screenshots of each page go to .build/console-screenshots/ (look at them: they are the review).
"""
import json
import os
import re
import urllib.error
import urllib.request
import uuid

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from reelgate_process import Gateway, WebhookReceiver

OPS = "ops-key-0123456789abcdef01"
APP_A = "app-a-key-0123456789abcdef"
APP_B = "app-b-key-0123456789abcdef"
XSS = "<img src=x onerror=alert(1)>"
SHOTS = os.path.join(os.path.dirname(__file__), "..", "..", ".build", "console-screenshots")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def hooks():
    h = WebhookReceiver()
    yield h
    h.close()


@pytest.fixture(scope="module")
def gateway():
    # Long enough a generation that a task can be watched running and cancelled.
    config = {"providers": {"simulator": {"latencySeconds": 4}},
              "network": {"allowHTTP": True, "allowHosts": ["127.0.0.1"]},
              "webhooks": {"redeliveryIntervalSeconds": 0}}
    gw = Gateway([("ops", OPS, "ops"), ("app-a", APP_A, "client"), ("app-b", APP_B, "client")], config=config).start()
    yield gw
    gw.close()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--mute-audio",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1366,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    os.makedirs(SHOTS, exist_ok=True)
    yield driver
    driver.quit()


def wait(driver, condition, timeout=30):
    # The page re-renders as it follows the store: an element found a moment ago may be replaced.
    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(condition)


def submit(gw, key, **fields):
    task = {"taskType": "videoInference", "taskUUID": str(uuid.uuid4()), "model": "reelgate:simulator@1",
            "positivePrompt": "a lighthouse at dusk", "deliveryMethod": "async", **fields}
    req = urllib.request.Request(f"{gw.http}/v1", data=json.dumps([task]).encode(),
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200, resp.read()
    return task["taskUUID"]


def task_json(gw, task_uuid):
    req = urllib.request.Request(f"{gw.http}/v1/tasks/{task_uuid}", headers={"Authorization": f"Bearer {OPS}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def call(gw, method, path, headers=None, body=None):
    req = urllib.request.Request(f"{gw.http}{path}", method=method, headers=headers or {},
                                 data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def shot(driver, name):
    driver.save_screenshot(os.path.join(SHOTS, name + ".png"))


def sign_in(driver, gw, key):
    driver.get(f"{gw.http}/console#/tasks")
    field = wait(driver, lambda d: d.find_element(By.ID, "key"))
    field.send_keys(key)
    field.submit()
    wait(driver, lambda d: d.find_element(By.ID, "task-rows"))
    wait(driver, lambda d: "Updated" in d.find_element(By.CSS_SELECTOR, ".live").text)


def sign_out(driver):
    driver.find_element(By.ID, "sign-out").click()
    wait(driver, lambda d: d.find_element(By.ID, "key"))


def row_state(driver, task_uuid):
    rows = driver.find_elements(By.CSS_SELECTOR, f'tr[data-task="{task_uuid}"] .state')
    return rows[0].text if rows else None


def no_alert(driver):
    try:
        driver.switch_to.alert
    except NoAlertPresentException:
        return True
    return False


# ---- without a browser: the HTTP contract of the page and the session ------------------------

def test_page_headers_and_session_cookie(gateway):
    status, headers, body = call(gateway, "GET", "/console")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert b"<script>" not in body and not re.search(rb"\son[a-z]+\s*=", body)  # no inline script or handlers

    status, _, _ = call(gateway, "POST", "/console/session", {"Content-Type": "application/json"}, {"key": "not-a-key"})
    assert status == 401
    status, headers, body = call(gateway, "POST", "/console/session", {"Content-Type": "application/json"}, {"key": OPS})
    assert status == 200, body
    cookie = headers["Set-Cookie"]
    attributes = [a.strip() for a in cookie.split(";")]
    assert "HttpOnly" in attributes and "SameSite=Strict" in attributes and "Path=/" in attributes
    assert "Secure" not in attributes  # the public URL is http here; a Swift test covers https
    assert OPS not in cookie
    session = cookie.split(";")[0]
    csrf = json.loads(body)["csrfToken"]

    task_uuid = submit(gateway, APP_A)
    status, _, _ = call(gateway, "GET", f"/v1/tasks/{task_uuid}", {"Cookie": session})
    assert status == 200
    # A state-changing call with the cookie alone is refused; with the session's token it works.
    status, _, body = call(gateway, "POST", f"/v1/tasks/{task_uuid}/cancel", {"Cookie": session})
    assert status == 403 and json.loads(body)["errors"][0]["code"] == "invalidCsrfToken"
    status, _, _ = call(gateway, "POST", f"/v1/tasks/{task_uuid}/cancel", {"Cookie": session, "X-CSRF-Token": "0" * 64})
    assert status == 403
    status, _, _ = call(gateway, "POST", f"/v1/tasks/{task_uuid}/cancel", {"Cookie": session, "X-CSRF-Token": csrf})
    assert status == 200
    # The cookie does not submit tasks: the task API takes keys only.
    task = {"taskType": "videoInference", "taskUUID": str(uuid.uuid4()), "model": "reelgate:simulator@1", "positivePrompt": "x"}
    status, _, _ = call(gateway, "POST", "/v1", {"Cookie": session, "Content-Type": "application/json"}, [task])
    assert status == 401
    # Sign-out ends the session on the server, not only in the browser.
    status, headers, _ = call(gateway, "DELETE", "/console/session", {"Cookie": session, "X-CSRF-Token": csrf})
    assert status == 204 and "Max-Age=0" in headers["Set-Cookie"]
    status, _, _ = call(gateway, "GET", f"/v1/tasks/{task_uuid}", {"Cookie": session})
    assert status == 401


# ---- in the browser ---------------------------------------------------------------------------

def test_console_flows(gateway, hooks, browser):
    driver = browser
    sign_in(driver, gateway, OPS)
    driver.execute_script("window.__sameDocument = true")  # gone if the page reloads

    # A task submitted elsewhere appears without a reload and follows its state to succeeded.
    task_uuid = submit(gateway, APP_A, positivePrompt=XSS, webhookURL=hooks.url, includeCost=True)
    wait(driver, lambda d: row_state(d, task_uuid) is not None)
    wait(driver, lambda d: row_state(d, task_uuid) == "succeeded")
    assert driver.execute_script("return window.__sameDocument === true")
    shot(driver, "tasks")

    # Keyboard users keep their place: a focused link survives the list's refreshes, and the
    # skip link moves focus without stopping them.
    link = driver.find_element(By.CSS_SELECTOR, f'tr[data-task="{task_uuid}"] a')
    driver.execute_script("arguments[0].focus()", link)
    for _ in range(2):
        before = driver.find_element(By.CSS_SELECTOR, ".live").text
        wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, ".live").text != before)
    assert driver.execute_script("return document.activeElement === arguments[0]", link)
    skip = driver.find_element(By.CSS_SELECTOR, ".skip")
    driver.execute_script("arguments[0].focus()", skip)  # as Tab from the address bar would
    skip.send_keys(Keys.ENTER)
    assert driver.execute_script("return document.activeElement.id") == "main"
    before = driver.find_element(By.CSS_SELECTOR, ".live").text
    wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, ".live").text != before)

    # The task view: event log, a delivery attempt, the prompt as text, a video that plays and seeks.
    driver.find_element(By.CSS_SELECTOR, f'tr[data-task="{task_uuid}"] a').click()
    wait(driver, lambda d: "succeeded" in d.find_element(By.ID, "timeline").text)
    timeline = driver.find_element(By.ID, "timeline").text
    for state in ("queued", "dispatching", "running", "fetching", "succeeded"):
        assert state in timeline, timeline
    wait(driver, lambda d: "HTTP 200" in d.find_element(By.ID, "deliveries").text)
    assert XSS in driver.find_element(By.CSS_SELECTOR, ".prompt").text
    assert XSS in driver.find_element(By.ID, "request").text
    assert driver.find_elements(By.CSS_SELECTOR, "main img") == []  # rendered as text, not as an element
    assert no_alert(driver)

    video = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "video"))
    wait(driver, lambda d: d.execute_script("return arguments[0].readyState >= 2", video))
    driver.execute_script("arguments[0].muted = true; arguments[0].play()", video)
    wait(driver, lambda d: d.execute_script("return arguments[0].currentTime > 0.2", video), timeout=15)
    driver.execute_script("arguments[0].pause(); arguments[0].currentTime = 0.5", video)
    wait(driver, lambda d: d.execute_script("return !arguments[0].seeking && Math.abs(arguments[0].currentTime - 0.5) < 0.05", video))
    driver.execute_script("arguments[0].currentTime = 0.1", video)  # a second seek, backwards: the server answers ranges
    wait(driver, lambda d: d.execute_script("return !arguments[0].seeking && Math.abs(arguments[0].currentTime - 0.1) < 0.05", video))
    driver.set_window_size(1366, 1500)  # the whole task view in one picture
    shot(driver, "task")
    driver.set_window_size(1366, 900)

    # Redeliver adds an attempt.
    attempts = len(driver.find_elements(By.CSS_SELECTOR, "#deliveries tr.attempt"))
    driver.find_element(By.ID, "redeliver").click()
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#deliveries tr.attempt")) > attempts)
    assert task_json(gateway, task_uuid)["deliveries"][0]["attempts"][-1]["statusCode"] == 200

    # Lineage: an edit of the result is its child; the tree links to both tasks.
    video_uuid = task_json(gateway, task_uuid)["results"][0]["videoUUID"]
    edit_uuid = submit(gateway, APP_A, positivePrompt="now at night", inputs={"videoId": video_uuid})
    driver.find_element(By.LINK_TEXT, "Lineage tree").click()
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "ul.tree .node")) == 2)
    assert driver.find_element(By.CSS_SELECTOR, '.node[aria-current="true"]').text.find(XSS) >= 0
    shot(driver, "lineage")
    driver.find_element(By.PARTIAL_LINK_TEXT, "now at night").click()
    wait(driver, lambda d: edit_uuid in d.find_element(By.TAG_NAME, "h1").text)

    # Cancel a running task from its view.
    running = submit(gateway, APP_A, positivePrompt="to be cancelled")
    driver.get(f"{gateway.http}/console#/tasks/{running}")
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#task-state .state") and d.find_element(By.CSS_SELECTOR, "#task-state .state").text == "running")
    driver.find_element(By.ID, "cancel").click()
    wait(driver, lambda d: not no_alert(d))
    driver.switch_to.alert.accept()
    wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#task-state .state").text == "cancelled")
    assert task_json(gateway, running)["state"] == "cancelled"

    # Provider health and headline numbers.
    driver.get(f"{gateway.http}/console#/overview")
    wait(driver, lambda d: "simulator" in d.find_element(By.ID, "providers").text)
    assert "closed" in driver.find_element(By.ID, "providers").text
    wait(driver, lambda d: "%" in d.find_element(By.ID, "headline").text)
    shot(driver, "overview")

    # The list on a phone-sized screen.
    driver.set_window_size(390, 844)
    driver.get(f"{gateway.http}/console#/tasks")
    wait(driver, lambda d: row_state(d, task_uuid) == "succeeded")
    shot(driver, "tasks-phone")
    driver.set_window_size(1366, 900)

    # A client key sees its own tasks only.
    sign_out(driver)
    b_task = submit(gateway, APP_B, positivePrompt="b's own task")
    sign_in(driver, gateway, APP_B)
    wait(driver, lambda d: row_state(d, b_task) is not None)
    assert row_state(driver, task_uuid) is None
    driver.get(f"{gateway.http}/console#/tasks/{task_uuid}")
    wait(driver, lambda d: "Task not found" in d.find_element(By.TAG_NAME, "h1").text)

    # Sign-out ends the session: the cookie the browser held no longer works anywhere.
    cookie = driver.get_cookie("reelgate_console")
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    session = f"reelgate_console={cookie['value']}"
    assert call(gateway, "GET", "/v1/tasks", {"Cookie": session})[0] == 200
    sign_out(driver)
    assert not driver.find_element(By.ID, "nav").is_displayed() and not driver.find_element(By.ID, "sign-out").is_displayed()
    shot(driver, "signin")
    assert call(gateway, "GET", "/v1/tasks", {"Cookie": session})[0] == 401
    assert driver.get_cookie("reelgate_console") is None
    assert no_alert(driver)
