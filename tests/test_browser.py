"""End-to-end: the course's widgets in a real JupyterLab, driven by headless Chromium.

For each widget notebook, this test starts JupyterLab on 127.0.0.1 (token, free port), opens the
notebook, runs all cells from the Run menu as a student would, then moves every course widget's
first slider by dragging and by keyboard, and checks that

* the widget's image really changes (its bytes, fetched in the page, differ before and after);
* no "Error displaying widget" and no traceback appears anywhere on the page.

It also measures slider-move -> new-image latency over 20 keyboard moves per widget and prints
the median and p95 (goal: p95 < 150 ms on 2 cores; reported in the README, never asserted).
Screenshots go to ``screenshots/`` (git-ignored).

Run with ``python -m pytest -m browser -n 0 -s``.  It needs Debian's Chromium at
/usr/bin/chromium (``apt-get install -y chromium``) and the PyPI package ``playwright`` (in
requirements.txt).  On a contributor's laptop without Chromium, set VAE_TEACH_SKIP_BROWSER=1 to
skip it; in CI (CI=true) it never skips.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "screenshots"
CHROMIUM = os.environ.get("VAE_TEACH_CHROMIUM", "/usr/bin/chromium")
# the widget notebooks (VAE_TEACH_E2E_NOTEBOOKS="a.ipynb,b.ipynb" runs others, e.g. while writing one)
WIDGET_NOTEBOOKS = os.environ.get("VAE_TEACH_E2E_NOTEBOOKS", ",".join([
    "00_start_here.ipynb", "04_categorical.ipynb", "05_bayesian_networks.ipynb",
    "06_bernoulli_likelihood.ipynb", "07_training_a_vae.ipynb",
    "10_kl_and_mutual_information.ipynb"])).split(",")
N_MOVES = 20
INSTALL_HINT = ("Install Debian's Chromium with `apt-get install -y chromium` (it must be at "
                f"{CHROMIUM}, or set VAE_TEACH_CHROMIUM) and `pip install -r requirements.txt` "
                "for playwright. On a laptop you may skip this test with VAE_TEACH_SKIP_BROWSER=1 "
                "(never in CI).")


def _require_browser():
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"Chromium not found at {CHROMIUM}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package is not installed")
    if missing:
        reason = "; ".join(missing) + ". " + INSTALL_HINT
        if os.environ.get("VAE_TEACH_SKIP_BROWSER") == "1" and os.environ.get("CI") != "true":
            pytest.skip(reason)
        pytest.fail(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a copy of the notebooks; yields its base URL and token."""
    _require_browser()
    work = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", work / "notebooks")
    settings = work / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(work / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(work / "workspaces"), MPLBACKEND="Agg")
    port, token = _free_port(), "vae-teach-e2e"
    log = open(work / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work / 'notebooks'}"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                server.kill()
                pytest.fail("JupyterLab did not start:\n" + (work / "jupyterlab.log").read_text()[-3000:])
            time.sleep(0.5)
    yield base, token
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"])
        yield chromium
        chromium.close()


IMAGE_DIGEST_JS = """async (img) => {
    const buffer = await (await fetch(img.src)).arrayBuffer();
    const bytes = new Uint8Array(buffer);
    let hash = 2166136261;
    for (let i = 0; i < bytes.length; i++) { hash ^= bytes[i]; hash = Math.imul(hash, 16777619); }
    return bytes.length + ':' + (hash >>> 0);
}"""


def _dismiss_dialogs(page) -> None:
    for _ in range(3):
        dialog = page.locator(".jp-Dialog")
        if dialog.count() == 0:
            return
        accept = dialog.locator("button.jp-mod-accept")
        if accept.count():
            accept.first.click()
        else:
            page.keyboard.press("Escape")
        page.wait_for_timeout(300)


def _page_problems(page) -> list[str]:
    text = page.locator("body").inner_text()
    problems = []
    for phrase in ("Error displaying widget", "Traceback (most recent call last)",
                   "Model not found", "Failed to load model"):
        if phrase in text:
            problems.append(phrase)
    errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    for i in range(errors.count()):
        content = errors.nth(i).inner_text()
        if "Error" in content and ("Traceback" in content or "---->" in content):
            problems.append(content[:500])
    return problems


def _run_all_cells(page, timeout_s: float = 300) -> None:
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-item:visible", has_text="Run All Cells").first.click()
    deadline = time.time() + timeout_s
    page.wait_for_timeout(1500)
    while time.time() < deadline:
        prompts = page.locator(".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
        busy = [p for p in prompts if "*" in p]
        done = prompts and all(p.strip() not in ("", "[ ]:") for p in prompts)
        idle = page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').count() > 0
        if not busy and done and idle:
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"cells still running after {timeout_s} s")


def _slider_handle(widget):
    handle = widget.locator(".noUi-handle")
    return handle.first if handle.count() else None


def _move_and_wait(page, image, action) -> float:
    """Run ``action`` (a slider move) and return seconds until the image's src changes."""
    old = image.get_attribute("src")
    start = time.perf_counter()
    action()
    page.wait_for_function("([img, old]) => img.src !== old", arg=[image.element_handle(), old],
                           polling="raf", timeout=15_000)
    return time.perf_counter() - start


def _exercise_widget(page, widget, name: str) -> dict:
    widget.scroll_into_view_if_needed()
    image = widget.locator("img.vae-teach-widget-image, .vae-teach-widget-image img, "
                           ".vae-teach-widget-image").first
    handle = _slider_handle(widget)
    assert handle is not None, f"{name}: the widget has no slider"
    before = image.evaluate(IMAGE_DIGEST_JS)
    widget.screenshot(path=str(SCREENSHOTS / f"{name}_before.png"))

    # 1. drag the handle with the mouse
    box = handle.bounding_box()
    track = widget.locator(".noUi-target").first.bounding_box()
    target_x = box["x"] + box["width"] / 2 + (40 if box["x"] < track["x"] + track["width"] / 2 else -40)

    def drag():
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(target_x, box["y"] + box["height"] / 2, steps=4)
        page.mouse.up()

    _move_and_wait(page, image, drag)
    page.wait_for_timeout(300)
    after_drag = image.evaluate(IMAGE_DIGEST_JS)
    assert after_drag != before, f"{name}: dragging the slider did not change the image bytes"
    widget.screenshot(path=str(SCREENSHOTS / f"{name}_after_drag.png"))

    # 2. keyboard: arrow keys on the focused handle, timed
    latencies = []
    handle.focus()
    for i in range(N_MOVES):
        now = float(handle.get_attribute("aria-valuenow"))
        top = float(handle.get_attribute("aria-valuemax"))
        low = float(handle.get_attribute("aria-valuemin"))
        key = "ArrowRight" if (i // 5) % 2 == 0 else "ArrowLeft"
        if key == "ArrowRight" and now >= top:
            key = "ArrowLeft"
        elif key == "ArrowLeft" and now <= low:
            key = "ArrowRight"
        latencies.append(_move_and_wait(page, image, lambda: page.keyboard.press(key)))
    after_keys = image.evaluate(IMAGE_DIGEST_JS)
    widget.screenshot(path=str(SCREENSHOTS / f"{name}_after_keys.png"))
    ms = sorted(1000 * t for t in latencies)
    return {"widget": name, "moves": len(ms), "median_ms": statistics.median(ms),
            "p95_ms": ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))],
            "changed_by_drag": after_drag != before, "changed_by_keys": after_keys != after_drag}


@pytest.mark.parametrize("notebook", WIDGET_NOTEBOOKS)
def test_widgets_work_in_jupyterlab(lab, browser, notebook):
    if not (ROOT / "notebooks" / notebook).exists():
        pytest.fail(f"notebooks/{notebook} is missing")
    base, token = lab
    SCREENSHOTS.mkdir(exist_ok=True)
    stem = notebook.removesuffix(".ipynb")
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{base}/lab/tree/{notebook}?token={token}")
        page.wait_for_selector(".jp-NotebookPanel", timeout=60_000)
        page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=60_000)
        _dismiss_dialogs(page)
        _run_all_cells(page)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(SCREENSHOTS / f"{stem}_after_run.png"))
        problems = _page_problems(page)
        assert not problems, f"{notebook}: problems on the page after Run All: {problems}"
        widgets = page.locator(".vae-teach-widget")
        assert widgets.count() >= 1, f"{notebook}: no course widget was rendered"
        results = []
        for i in range(widgets.count()):
            widget = widgets.nth(i)
            if _slider_handle(widget) is None:
                continue
            results.append(_exercise_widget(page, widget, f"{stem}_widget{i}"))
        assert results, f"{notebook}: no widget with a slider"
        problems = _page_problems(page)
        assert not problems, f"{notebook}: problems on the page after moving sliders: {problems}"
        for r in results:
            print(f"\n{r['widget']:40s} {r['moves']} moves  median {r['median_ms']:6.1f} ms  "
                  f"p95 {r['p95_ms']:6.1f} ms")
        report = SCREENSHOTS / "latency.json"
        existing = json.loads(report.read_text()) if report.exists() else {}
        existing[stem] = results
        report.write_text(json.dumps(existing, indent=2))
    finally:
        page.screenshot(path=str(SCREENSHOTS / f"{stem}_final.png"))
        context.close()
