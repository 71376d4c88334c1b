"""The console in a real headless Chromium (Debian's `chromium` and `chromium-driver`, driven by Selenium) against
a real web server and ThreadWorker on the replay ComfyUI: sign in with a token, submit from the form built from
/v1/workflows, watch the job's stages arrive, check the sprite's pixels in a screenshot (whole-number zoom, the
checkerboard where alpha is 0), play a sheet's rows, re-roll a frame, and survive a worker restart without a
reload. Debian's chromium and chromium-driver are installed by the test when missing (tests/system_packages.py).

PIXFLOW_WRITE_SCREENSHOTS=1 writes docs/images/web-console.png and docs/images/web-sheet.png from this run."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from pixflow.replay.server import ReplayServer
from pixflow.testing import ThreadWorker, free_tcp
from tests.helpers import FULL_RUN, REPO
from tests.system_packages import ensure
from tests.web.conftest import TOKENS, Web

pytestmark = pytest.mark.timeout(900)  # the first run on a fresh machine apt-installs Chromium and its driver

WAIT = 20.0  # seconds any one thing may take to appear in the page
CHECKER = {(204, 204, 204), (255, 255, 255)}  # console.css's checkerboard squares
EXTERNAL = re.compile(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
ARGS = [
    *("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"),
    *("--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1800"),
    "--force-device-scale-factor=1",  # one CSS pixel, one screenshot pixel
]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    chromium = ensure("chromium", "chromium")  # Debian's, installed here when missing (tests/system_packages.py)
    chromedriver = ensure("chromedriver", "chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in [*ARGS, f"--user-data-dir={tmp_path / 'chromium'}"]:
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(chromedriver))  # given: nothing is downloaded
    driver.set_page_load_timeout(WAIT)
    yield driver
    driver.quit()


class Restartable:
    """A ThreadWorker on fixed loopback addresses and one store: stopped and started again, the same worker to
    its clients."""

    def __init__(self, directory: Path, comfyui_url: str) -> None:
        self.directory, self.url = directory, comfyui_url
        self.addresses = {"req_addr": free_tcp(), "pub_addr": free_tcp()}
        self.worker = ThreadWorker(directory, comfyui_url, **self.addresses)

    def restart(self) -> None:
        self.worker.stop()
        self.worker = ThreadWorker(self.directory, self.url, **self.addresses)


@pytest.fixture
def restartable(tmp_path: Path, replay: ReplayServer) -> Iterator[Restartable]:
    running = Restartable(tmp_path / "worker", replay.url)
    yield running
    running.worker.stop()


def until(driver: Any, condition: Callable[[Any], Any], what: str, timeout: float = WAIT) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition, f"timed out waiting for {what}")


def css(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def shown(selector: str) -> Callable[[Any], Any]:
    return lambda driver: next((e for e in css(driver, selector) if e.is_displayed()), None)


def sign_in(driver: Any, web: Web, role: str) -> None:
    driver.get(web.url + "/")
    until(driver, shown("#token"), "the token field").send_keys(TOKENS[role])
    css(driver, "#login button")[0].click()
    until(driver, lambda d: d.execute_script("return document.body.dataset.live") == "1", "the live stream")
    until(driver, lambda d: len(css(d, "#fields [data-param]")) > 5, "the form's fields")


def fill(driver: Any, workflow: str, values: dict[str, str]) -> None:
    from selenium.webdriver.support.ui import Select

    Select(css(driver, "#workflow")[0]).select_by_value(workflow)
    for name, value in values.items():
        field = css(driver, f'#fields [data-param="{name}"]')[0]
        if field.tag_name == "select":
            Select(field).select_by_value(value)
        elif field.tag_name == "span":  # SIZE: width and height
            for side, text in zip(field.find_elements("css selector", "input"), value.split("x"), strict=True):
                side.clear()
                side.send_keys(text)
        else:
            field.clear()
            field.send_keys(value)


def submitted(driver: Any, attribute: str, before: str | None = None) -> str:
    css(driver, "#send")[0].click()

    def answer(d: Any) -> str | None:
        message = css(d, "#submit-msg")[0]
        assert "error" not in (message.get_attribute("class") or ""), message.text
        value = message.get_attribute(f"data-{attribute}")
        return value if value and value != before else None

    found: str = until(driver, answer, f"the form's {attribute}")
    return found


def attr(driver: Any, selector: str, name: str) -> str | None:
    """An attribute read in the page at once (an element the page redraws goes stale between two calls)."""
    value: str | None = driver.execute_script(
        "return document.querySelector(arguments[0])?.getAttribute(arguments[1]) ?? null", selector, name
    )
    return value


def job_done(driver: Any, job_id: str) -> Callable[[Any], Any]:
    return lambda d: d.execute_script(f"return document.getElementById('job-{job_id}')?.dataset.state") == "done"


def screenshot(element: Any) -> Image.Image:
    return Image.open(io.BytesIO(element.screenshot_as_png)).convert("RGB")


def save(driver: Any, name: str) -> None:
    if os.environ.get("PIXFLOW_WRITE_SCREENSHOTS") == "1":
        path = REPO / "docs" / "images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(driver.get_screenshot_as_png())


def assert_real_pixels(shot: Image.Image, source: Image.Image, zoom: int) -> None:
    """Each source pixel an exact zoom x zoom block: its colour where opaque, the checkerboard where alpha is 0."""
    assert shot.size == (source.width * zoom, source.height * zoom), (shot.size, source.size, zoom)
    seen_checker: set[tuple[int, int, int]] = set()
    opaque = 0
    rgba = source.tobytes()  # RGBA, row by row
    for y in range(source.height):
        for x in range(source.width):
            red, green, blue, alpha = rgba[4 * (y * source.width + x) : 4 * (y * source.width + x) + 4]
            block = shot.crop((x * zoom, y * zoom, (x + 1) * zoom, (y + 1) * zoom))
            colours: set[tuple[int, int, int]] = {c for _, c in block.getcolors(zoom * zoom) or []}  # type: ignore[misc]
            if alpha == 255:
                assert len(colours) == 1, f"pixel {x},{y}: a blurred block {colours}"
                (got,) = colours
                assert max(abs(a - b) for a, b in zip(got, (red, green, blue), strict=True)) <= 2, (x, y, got)
                opaque += 1
            elif alpha == 0:
                assert colours <= CHECKER, f"pixel {x},{y} is transparent but shows {colours}"
                seen_checker |= colours
    assert opaque > 20 and seen_checker == CHECKER, (opaque, seen_checker)


def test_the_console_submits_watches_shows_real_pixels_plays_a_sheet_and_survives_a_worker_restart(
    browser: Any, restartable: Restartable, start_web: Callable[..., Web]
) -> None:
    driver, web = browser, start_web(restartable.worker)
    page = requests.get(web.url + "/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for asset in ["/", *re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)]:
        assert not EXTERNAL.findall(requests.get(web.url + asset, timeout=10).text), asset
    sign_in(driver, web, "admin")
    driver.execute_script(
        "window.seen = []; window.notReloaded = true; document.addEventListener('pixflow:event',"
        " (e) => window.seen.push([e.detail.name, e.detail.data.job_id, e.detail.data.to]));"
    )
    assert css(driver, "#admin")[0].is_displayed() and css(driver, '#backends [data-command="drain"]')

    # A sprite job from the form: its stages arrive in the page one event at a time.
    sprite = {"prompt": "pixel art knight", "size": "64x64", "steps": "4", "background": "border", "colors": "8"}
    fill(driver, "sprite", sprite)
    css(driver, "#previews")[0].click()  # live previews: `preview` events in the page too
    job_id = submitted(driver, "job")
    until(driver, job_done(driver, job_id), f"{job_id} done in the queue")
    seen = driver.execute_script("return window.seen")
    assert [to for name, job, to in seen if name == "state" and job == job_id] == FULL_RUN
    assert any(name == "preview" and job == job_id for name, job, _ in seen)
    chips = css(driver, f"#job-{job_id} .stages span")
    assert [chip.text for chip in chips] == FULL_RUN

    # The gallery, then its detail: raw and sprite at a whole zoom, the checkerboard where alpha is 0.
    until(driver, shown(f'#gallery .card[data-job="{job_id}"] img[data-loaded]'), "the gallery card").click()
    final = until(driver, shown("#detail-final[data-loaded]"), "the detail's sprite")
    assert until(driver, shown("#detail-raw[data-loaded]"), "the raw generation")
    source = Image.open(io.BytesIO(web.api.get(f"/v1/jobs/{job_id}/outputs/0").content)).convert("RGBA")
    zoom = int(final.get_attribute("data-zoom"))
    assert zoom >= 4 and final.value_of_css_property("image-rendering") == "pixelated"
    assert_real_pixels(screenshot(final), source, zoom)
    palette = web.api.ok("GET", f"/v1/jobs/{job_id}")["outputs"][0]["palette"]
    assert [s.get_attribute("data-colour") for s in css(driver, "#detail .swatch")] == palette
    assert len(palette) <= 8 and "colors 8" in css(driver, "#detail .params")[0].text  # a `params` one, sent

    # A sprite sheet from the same form: every row plays (frames drawn in turn on a canvas, and its GIF).
    from selenium.webdriver.support.ui import Select

    Select(css(driver, "#mode")[0]).select_by_value("sheet")
    for selector, value in (("#sheet-rows", "idle, walk"), ("#sheet-frames", "2"), ("#sheet-cell", "32")):
        css(driver, selector)[0].clear()
        css(driver, selector)[0].send_keys(value)
    group = submitted(driver, "group")
    until(driver, lambda d: len(css(d, f"#group-{group} canvas.row-anim")) == 2, "the sheet's rows", timeout=40)
    canvas = f'#group-{group} canvas.row-anim[data-row="walk"]'
    first = int(attr(driver, canvas, "data-drawn") or 0)
    frames: dict[str, str] = {}  # the frame shown -> the canvas's pixels then

    def every_frame(d: Any) -> bool:
        shown_now = d.execute_script(
            "const c = document.querySelector(arguments[0]); return c && [c.dataset.frame, c.toDataURL()]", canvas
        )
        if shown_now:
            frames[shown_now[0]] = shown_now[1]
        return set(frames) == {"0", "1"}

    until(driver, every_frame, "the row's frames drawn in turn")
    assert frames["0"] != frames["1"]  # the walk's two frames differ: the canvas changes as it plays
    assert int(attr(driver, canvas, "data-drawn") or 0) > first
    until(driver, shown(f'#group-{group} img.row-gif[data-row="walk"][data-loaded]'), "the row's GIF")
    until(driver, shown(f"#group-{group} img.sheet-image[data-loaded]"), "the sheet")
    assert css(driver, f"#group-{group} .swatch")
    driver.execute_script("arguments[0].scrollIntoView()", css(driver, f"#group-{group}")[0])
    save(driver, "web-sheet.png")

    # Re-roll a frame: a new job in that cell, and the sheet drawn again.
    version = attr(driver, f"#group-{group}", "data-version")
    css(driver, f'#group-{group} .reroll[data-job="{group}-1"]')[0].click()
    rerolled = until(driver, lambda d: css(d, "#submit-msg")[0].get_attribute("data-rerolled"), "the re-roll")
    until(driver, job_done(driver, rerolled), "the re-rolled frame", timeout=30)
    cell = f'#group-{group}[data-finished="1"] .cell[data-job="{rerolled}"]'
    until(driver, lambda d: attr(d, f"#group-{group}", "data-version") != version and css(d, cell), "the new sheet")

    # The worker restarts: the page notices (a new started_at), reads its state again and goes on, unreloaded.
    before = driver.execute_script("return document.body.dataset.startedAt")
    restartable.restart()
    until(driver, lambda d: d.execute_script("return document.body.dataset.startedAt") != before, "the restart")
    Select(css(driver, "#mode")[0]).select_by_value("job")
    again = submitted(driver, "job", before=job_id)
    until(driver, job_done(driver, again), f"{again} done after the restart")
    assert driver.execute_script("return window.notReloaded") is True
    seen = driver.execute_script("return window.seen")
    assert [to for name, job, to in seen if job == again and name == "state"] == FULL_RUN
    driver.execute_script("window.scrollTo(0, 0)")
    save(driver, "web-console.png")
    logged = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    errors = [text for text in logged if not ("/v1/me" in text and "401" in text)]  # before the token: expected
    assert not errors, errors  # no script error, no failed request


def test_a_viewer_sees_the_console_without_admin_actions(
    browser: Any, restartable: Restartable, start_web: Callable[..., Web]
) -> None:
    driver, web = browser, start_web(restartable.worker)
    driver.get(web.url + "/")
    until(driver, shown("#token"), "the token field").send_keys("not-a-token-at-all")
    css(driver, "#login button")[0].click()
    until(driver, lambda d: "not known" in css(d, "#login-msg")[0].text, "the refusal")
    sign_in(driver, web, "viewer")
    assert "viewer" in css(driver, "#who")[0].text
    assert not css(driver, "#admin")[0].is_displayed()
    until(driver, shown("#backends tr[data-backend]"), "the backends")
    assert not any(b.is_displayed() for b in css(driver, "#backends [data-command]"))
