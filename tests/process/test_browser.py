"""The status page in a real browser: headless Chromium, driven by Selenium, against a real
``yamlcron run --http`` process holding 1,003 jobs.

Needs Debian's ``chromium`` and ``chromium-driver`` (the system chromedriver: nothing is
downloaded). Without them these tests are skipped, with the reason; under
``YAMLCRON_TEST_STRICT=1`` (``.ci/run``) they fail. ``YAMLCRON_SCREENSHOTS=docs/screenshots``
saves a screenshot of each page there (``docs/status-page.md`` shows them).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.processes import serving
from tests.tools import call, missing, tool

# Imported with the module, not in a test: selenium gives its loggers a handler on import
# (a handler that a test adds is one it left behind).
try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    NO_SELENIUM = ""
except ImportError:  # installed without the test extra: the tests say so
    NO_SELENIUM = "selenium is not installed (pip install -e '.[test]')"

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

pytestmark = pytest.mark.process  # a real daemon and a real browser

TOKEN = "browser-s3cret"
#: Flags that let Chromium run headless in a container and talk to nothing but the daemon.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)
#: How long the browser may take to show what the daemon did (a wait, not a schedule).
PATIENCE = 30
SCREENSHOTS_ENV = "YAMLCRON_SCREENSHOTS"


def manifest() -> str:
    """1,000 jobs that never fire during a test (their times are far off), and three more."""
    lines = ["version: 1", "defaults: {timezone: Europe/Berlin}", "jobs:"]
    triggers = ('{cron: "%d 3 1 1 *"}', '{date: "2099-01-%02dT09:00:00+01:00"}')
    for n in range(1000):
        trigger = triggers[n % 2] % (n % 28 + 1)
        lines += [f"  job-{n:04d}:", f"    trigger: {trigger}", '    run: {command: ["true"]}']
    lines += [
        "  hello:",
        '    trigger: {date: "2099-01-01T00:00:00+00:00"}',
        '    run: {shell: "echo hello from $YAMLCRON_JOB_ID"}',
        "    description: Says hello when asked.",
        "  export:",
        '    trigger: {date: "2099-01-01T00:00:00+00:00"}',
        "    run:",
        "      shell: |",
        "        echo 'exporting 3 tables to the warehouse'",
        "        echo 'orders: 1204 rows'",
        "        echo 'error: the warehouse refused the connection' >&2",
        "        exit 2",
        "    description: Copies the day's orders to the warehouse.",
        "    tags: [nightly]",
        "  raises:",
        '    trigger: {date: "2099-01-01T00:00:00+00:00"}',
        '    run: {call: "tasks:explode"}',
    ]
    return "\n".join(lines) + "\n"


TASKS = """\
def explode():
    raise RuntimeError("the tank is <empty>")
"""


@dataclass(frozen=True)
class Page:
    """The daemon's URL, a failed run of ``raises`` and one of ``export`` (through the API)."""

    url: str
    failed_run: int
    export_run: int


def _runs(url: str) -> Page:
    reply = call(f"{url}/api/v1/jobs/raises/trigger?wait=60", "POST", token=TOKEN)
    assert reply.status == 200, reply
    failed_run = int(reply.json()["id"])
    for job in ("hello", "hello", "export", "hello", "export"):
        reply = call(f"{url}/api/v1/jobs/{job}/trigger?wait=60", "POST", token=TOKEN)
        assert reply.status == 200, reply
    return Page(url, failed_run, int(reply.json()["id"]))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    folder = tmp_path_factory.mktemp("browser")
    (folder / "jobs.yaml").write_text(manifest())
    (folder / "tasks.py").write_text(TASKS)
    (folder / "token").write_text(TOKEN + "\n")
    with serving(folder, "--http-token-file", "token") as daemon:
        yield _runs(daemon.url)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chrome]:
    """Headless Chromium through the system's chromedriver, with a profile of its own."""
    if NO_SELENIUM:
        missing(NO_SELENIUM)
    chromium = tool("chromium")
    chromedriver = tool("chromedriver", "chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def screenshot(browser: Chrome) -> Callable[[str], None]:
    """Save what the browser shows as NAME.png under $YAMLCRON_SCREENSHOTS, when it is set."""

    def save(name: str) -> None:
        folder = os.environ.get(SCREENSHOTS_ENV)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            assert browser.save_screenshot(str(Path(folder) / f"{name}.png"))

    return save


def wait(browser: Chrome, check: Callable[[], object], what: str) -> None:
    """Until ``check`` holds (the page refreshes itself, or the script answers)."""
    # An element found just before the page refreshed itself is gone: find it again.
    WebDriverWait(browser, PATIENCE, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda _: check(), f"waiting for {what}"
    )


def texts(browser: Chrome, selector: str) -> list[str]:
    """The text of each element ``selector`` finds, read at once (between two refreshes)."""
    found: list[str] = browser.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map((e) => e.innerText);", selector
    )
    return found


def text(browser: Chrome, selector: str) -> str:
    """The text of the first element ``selector`` finds ("" when none)."""
    return next(iter(texts(browser, selector)), "")


def shown(browser: Chrome, selector: str) -> bool:
    """Whether the first element ``selector`` finds is there and visible."""
    found = browser.find_elements(By.CSS_SELECTOR, selector)
    return bool(found) and found[0].is_displayed()


def click(browser: Chrome, selector: str) -> None:
    """Click the first element ``selector`` finds, finding it again if a refresh replaced it."""
    press(browser, selector)


def press(browser: Chrome, selector: str, keys: str | None = None) -> None:
    """Type ``keys`` into the first element ``selector`` finds (None: click it), finding it
    again if a refresh replaced it meanwhile."""

    def done() -> bool:
        element = browser.find_element(By.CSS_SELECTOR, selector)
        if keys is None:
            element.click()
        else:
            element.send_keys(keys)
        return True

    wait(browser, done, f"{selector} to take {keys or 'a click'}")


def job_rows(browser: Chrome) -> list[str]:
    """The ids in the jobs table, in order."""
    return texts(browser, "main > .scroll tbody th")  # not the replicas, in a section


def run_rows(browser: Chrome) -> list[list[str]]:
    """The runs table of a job's page, row by row, cell by cell."""
    return [row.split("\t") for row in texts(browser, "main section table tbody tr")]


def test_the_front_page_lists_a_thousand_jobs_a_page_at_a_time(
    browser: Chrome, served: Page, screenshot: Callable[[str], None]
) -> None:
    browser.get(f"{served.url}/")
    assert browser.title == "Jobs · yamlcron"
    assert text(browser, "caption") == "Jobs 1 to 50 of 1003"
    assert job_rows(browser)[:3] == ["export", "hello", "job-0000"]
    assert "1003 jobs in the store; 2 failing" in text(browser, ".summary")
    screenshot("index")

    click(browser, "a[rel=next]")
    wait(browser, lambda: text(browser, "caption") == "Jobs 51 to 100 of 1003", "page 2")
    assert job_rows(browser)[0] == "job-0048"

    browser.get(f"{served.url}/?per=1000")
    assert len(job_rows(browser)) == 1000

    press(browser, "#f-q", "job-0999\n")
    wait(browser, lambda: job_rows(browser) == ["job-0999"], "the filtered list")
    assert browser.find_element(By.ID, "f-q").get_attribute("value") == "job-0999"


def test_a_job_opens_from_the_front_page_with_its_runs(browser: Chrome, served: Page) -> None:
    browser.get(f"{served.url}/?status=failing")
    assert job_rows(browser) == ["export", "raises"]
    # By keyboard: the first Tab reaches "Skip to content", and Enter on a job opens it.
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert browser.switch_to.active_element.text == "Skip to content"
    press(browser, 'main table a[href="./jobs/raises"]', Keys.ENTER)

    wait(browser, lambda: browser.title == "Job raises · yamlcron", "the job's page")
    assert text(browser, "h1") == "Job raises"
    assert run_rows(browser)[0][:2] == [f"#{served.failed_run}", "failure"]


def test_a_failed_run_shows_its_traceback(
    browser: Chrome, served: Page, screenshot: Callable[[str], None]
) -> None:
    browser.get(f"{served.url}/jobs/raises")
    click(browser, f'a[href="../runs/{served.failed_run}"]')

    wait(browser, lambda: text(browser, "h1").startswith("Run #"), "the run's page")
    assert text(browser, "h1") == f"Run #{served.failed_run} of raises: failure"
    assert text(browser, "section.problem p") == "RuntimeError: the tank is <empty>"
    traceback = text(browser, "section.problem pre")
    assert traceback.startswith("Traceback (most recent call last):")
    assert 'raise RuntimeError("the tank is <empty>")' in traceback
    assert traceback.rstrip().endswith("RuntimeError: the tank is <empty>")


def test_a_failed_command_shows_its_exit_code_and_output(
    browser: Chrome, served: Page, screenshot: Callable[[str], None]
) -> None:
    browser.get(f"{served.url}/runs/{served.export_run}")
    assert text(browser, "h1") == f"Run #{served.export_run} of export: failure"
    assert "Exit code\n2" in text(browser, ".facts")
    output = text(browser, "#output + pre")
    assert "orders: 1204 rows" in output
    assert "the warehouse refused the connection" in output
    # The screenshot in the docs: a failed run of a command names no path of this machine.
    screenshot("run")


def test_with_the_token_a_person_triggers_a_job_and_sees_its_run_appear(
    browser: Chrome, served: Page, screenshot: Callable[[str], None]
) -> None:
    trigger = "button[data-action=trigger]"
    browser.get(f"{served.url}/jobs/hello")
    runs_before = len(run_rows(browser))
    assert not shown(browser, trigger)  # no token yet

    browser.find_element(By.ID, "token").send_keys("not-the-token\n")
    wait(browser, lambda: shown(browser, trigger), "the buttons")
    click(browser, trigger)
    wait(browser, lambda: "refused (401)" in text(browser, "#action-result"), "401")
    assert shown(browser, "#token")  # asked again
    assert not shown(browser, trigger)

    browser.find_element(By.ID, "token").send_keys(TOKEN + "\n")
    click(browser, trigger)
    wait(browser, lambda: "Triggered hello" in text(browser, "#action-result"), "202")
    wait(browser, lambda: len(run_rows(browser)) == runs_before + 1, "the new run in the list")
    wait(browser, lambda: run_rows(browser)[0][1] == "success", "the new run's outcome")
    screenshot("job")

    # The token stays for the tab: another page offers the buttons at once.
    browser.get(f"{served.url}/jobs/job-0001")
    assert shown(browser, "button[data-action=pause]")
    click(browser, "button[data-action=pause]")
    wait(browser, lambda: "Paused job-0001" in text(browser, "#action-result"), "pause")
    wait(browser, lambda: "Paused\nyes" in text(browser, ".facts"), "the job shown paused")
    assert call(f"{served.url}/api/v1/jobs/job-0001").json()["paused"] is True
    click(browser, "button[data-action=resume]")
    wait(browser, lambda: "Paused\nno" in text(browser, ".facts"), "the job shown resumed")
