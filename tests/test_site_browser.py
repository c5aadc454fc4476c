"""The reading edition in a real browser, offline.

Builds the site for a few chapters (``VAE_TEACH_SITE_CHAPTERS``, default 04 and 07) with
``vae_teach_tools.site.build`` (or takes the one in ``VAE_TEACH_SITE_DIR``), serves it on
127.0.0.1 and opens it in headless Chromium with every request outside the site aborted.  Per
chapter it checks that

* the page shows as many pictures as the executed notebook's outputs hold, every one loaded and
  with a non-empty alt text;
* the formulas are typeset (KaTeX output present, no KaTeX error) and no raw ``$…$`` TeX is left
  in the page's visible text;
* no request left the site;
* moving a slider of an offline widget (keyboard on its range input) changes its picture to
  another precomputed one, which loads.

It also checks the front page (a link to each built chapter, set-up and notation pages that
work) and the previous/next links.  Screenshots go to ``screenshots/`` (git-ignored).

Run with ``python -m pytest -m browser -n 0 -s`` (see tests/test_browser.py for Chromium).
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import threading
from pathlib import Path

import nbformat
import pytest

from test_browser import _require_browser
from vae_teach_tools import runner, site

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "screenshots"
CHAPTERS = os.environ.get("VAE_TEACH_SITE_CHAPTERS", "04,07").split(",")
if os.environ.get("VAE_TEACH_SITE_DIR"):
    CHAPTERS = [r["notebook"][:2] for r in json.loads(
        (Path(os.environ["VAE_TEACH_SITE_DIR"]) / "build.json").read_text())]
MIN_IMAGES = {"04": 7, "07": 10}   # figures each chapter is known to draw (at least)

# Visible text of the page outside code, preformatted output and typeset math.
VISIBLE_TEXT_JS = """() => {
    const skip = new Set(['PRE', 'CODE', 'SCRIPT', 'STYLE', 'TEXTAREA']);
    const parts = [];
    const walk = (node) => {
        if (node.nodeType === Node.TEXT_NODE) { parts.push(node.textContent); return; }
        if (node.nodeType !== Node.ELEMENT_NODE || skip.has(node.tagName)) return;
        if (node.classList.contains('katex')) return;
        for (const child of node.childNodes) walk(child);
    };
    walk(document.body);
    return parts.join(' ');
}"""
IMAGES_JS = """() => [...document.querySelectorAll('main img')].map((img) => ({
    src: img.getAttribute('src').slice(0, 60), alt: img.alt,
    loaded: img.complete && img.naturalWidth > 0}))"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The site for CHAPTERS, with the executed notebooks kept next to the pages; or, with
    VAE_TEACH_SITE_DIR set, a site built before by ``python -m vae_teach_tools.html --keep-notebooks``
    (then every chapter it holds is checked)."""
    _require_browser()
    prebuilt = os.environ.get("VAE_TEACH_SITE_DIR")
    if prebuilt:
        out = Path(prebuilt)
        rows = json.loads((out / "build.json").read_text())
    else:
        out = tmp_path_factory.mktemp("site")
        notebooks = runner.select_notebooks(ROOT / "notebooks", CHAPTERS)
        rows = site.build(notebooks, out, keep_notebooks=True)
    failed = {r["notebook"]: r["error"] for r in rows if r["error"]}
    assert not failed, f"chapters failed to run: {failed}"
    return out, rows


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(built):
    out, _ = built
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(out)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class OfflinePage:
    """A browser page on which every request outside ``base`` is aborted and recorded."""

    def __init__(self, browser, base: str):
        self.base, self.outside, self.errors = base, [], []
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.route("**/*", self._route)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.base) or url.startswith("data:"):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def open(self, name: str):
        self.page.goto(self.base + name, wait_until="load")
        self.page.wait_for_function("() => document.readyState === 'complete'")
        return self.page

    def close(self):
        self.context.close()


def _executed_images(out: Path, notebook: str) -> int:
    """Pictures in the executed notebook's outputs, counted here independently of the site."""
    nb = nbformat.read(out / notebook, as_version=4)
    return sum(1 for cell in nb.cells if cell.cell_type == "code"
               for output in cell.get("outputs", [])
               if {"image/png", "image/jpeg", "image/svg+xml"} & set(output.get("data", {})))


def test_front_page_links_every_chapter_and_the_setup(built, server, browser):
    out, rows = built
    SCREENSHOTS.mkdir(exist_ok=True)
    offline = OfflinePage(browser, server)
    try:
        page = offline.open("index.html")
        hrefs = page.eval_on_selector_all("a", "(links) => links.map((a) => a.getAttribute('href'))")
        for row in rows:
            assert row["page"] in hrefs, f"front page does not link {row['page']}"
        assert "notation.html" in hrefs and any(h.startswith("setup.html") for h in hrefs)
        assert "Road map" in page.inner_text("main")
        page.screenshot(path=str(SCREENSHOTS / "site_front_page.png"), full_page=True)
        page = offline.open("notation.html")
        assert page.locator(".katex").count() > 10 and page.locator(".katex-error").count() == 0
        page.screenshot(path=str(SCREENSHOTS / "site_notation.png"), full_page=True)
        page = offline.open("setup.html")
        assert "pip install -r requirements.txt" in page.inner_text("main")
        assert offline.outside == [], f"requests left the site: {offline.outside}"
        assert offline.errors == [], offline.errors
    finally:
        offline.close()


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page_offline(built, server, browser, chapter):
    out, rows = built
    row = next(r for r in rows if r["notebook"].startswith(chapter))
    SCREENSHOTS.mkdir(exist_ok=True)
    offline = OfflinePage(browser, server)
    try:
        page = offline.open(row["page"])
        page.wait_for_function("() => [...document.querySelectorAll('main img')]"
                               ".every((img) => img.complete)")
        images = page.evaluate(IMAGES_JS)
        expected = _executed_images(out, row["notebook"])
        assert len(images) == expected, (
            f"{row['page']}: {len(images)} pictures on the page, {expected} in the executed notebook")
        assert expected >= MIN_IMAGES.get(chapter, 1)
        assert all(i["loaded"] for i in images), [i for i in images if not i["loaded"]]
        no_alt = [i["src"] for i in images if len(i["alt"].strip()) < 8]
        assert not no_alt, f"pictures without a real alt text: {no_alt}"

        assert page.locator(".katex").count() > 0, "no formula was typeset"
        errors = page.eval_on_selector_all(".katex-error", "(e) => e.map((x) => x.title)")
        assert errors == [], f"KaTeX could not typeset: {errors[:5]}"
        raw = re.findall(r"\$[^$\n]{1,80}\$", page.evaluate(VISIBLE_TEXT_JS))
        assert raw == [], f"raw TeX left in the page: {raw[:5]}"

        nav = page.locator("nav.vt-nav").first
        assert nav.locator("a[href='notation.html']").count() == 1
        index = rows.index(row)
        if index + 1 < len(rows):
            assert nav.locator(f"a[rel='next'][href='{rows[index + 1]['page']}']").count() == 1
        if index > 0:
            assert nav.locator(f"a[rel='prev'][href='{rows[index - 1]['page']}']").count() == 1
        page.screenshot(path=str(SCREENSHOTS / f"site_{chapter}.png"), full_page=True)

        widgets = page.locator(".vt-widget[data-offline]")
        if row["offline_widgets"]:
            assert widgets.count() == row["offline_widgets"]
            widget = widgets.first
            widget.scroll_into_view_if_needed()
            image = widget.locator("img.vt-widget-image")
            before_src, before_alt = image.get_attribute("src"), image.get_attribute("alt")
            widget.screenshot(path=str(SCREENSHOTS / f"site_{chapter}_widget_before.png"))
            slider = widget.locator("input[type=range]").first
            slider.focus()
            for _ in range(3):
                page.keyboard.press("ArrowRight")
            page.wait_for_function("(img) => img.complete && img.naturalWidth > 0",
                                   arg=image.element_handle())
            after_src = image.get_attribute("src")
            assert after_src != before_src, "moving the slider did not change the picture"
            assert image.get_attribute("alt") != before_alt
            widget.screenshot(path=str(SCREENSHOTS / f"site_{chapter}_widget_after.png"))
        assert offline.outside == [], f"requests left the site: {offline.outside}"
        assert offline.errors == [], f"JavaScript errors: {offline.errors}"
    finally:
        offline.close()
