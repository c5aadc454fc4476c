"""Editions of the course for a class: the students' without the worked solutions, the teacher's in full.

Every chapter ends with exercises.  Each exercise keeps its checker (a code cell that calls the
chapter's ``check_...`` function and says whether the student's ``answer`` is right); the worked
solutions sit below them in collapsible ``<details>`` blocks whose summary says "Solution(s)".
A teacher who wants students to try first hands out the student edition::

    python -m vae_teach_tools.classroom student-edition OUT_DIR     # solutions removed
    python -m vae_teach_tools.classroom teacher-edition OUT_DIR     # everything, for the teacher
    python -m vae_teach_tools.classroom link HUB_URL REPO_URL       # the students' nbgitpuller link
    python -m vae_teach_tools.classroom presenter SITE_DIR OUT_DIR  # check the projected view

Both read the chapters from ``notebooks/`` (run from the repository's root, or pass
``--notebooks DIR``) and write ``OUT_DIR/notebooks/*.ipynb`` with outputs cleared.  In the
student edition each removed block is replaced by one line saying that the solutions are in the
teacher's edition; every other cell (the exercises, their checkers, the other ``<details>``
blocks) is kept unchanged, so the notebooks still run top to bottom.  OUT_DIR is what a teacher
commits to the repository that the students' nbgitpuller links point at (deploy/README.md).
"""
from __future__ import annotations

import argparse
import re
import urllib.parse
import shutil
import sys
from pathlib import Path

import nbformat

from vae_teach_tools.runner import add_notebooks_option, notebook_folder

PLACEHOLDER = "*The worked solutions are in the teacher's edition: try the checker above first.*"
_TAG = re.compile(r"<(/?)details\b[^>]*>", re.IGNORECASE)
_SUMMARY = re.compile(r"<summary\b[^>]*>(.*?)</summary>", re.IGNORECASE | re.DOTALL)
_SOLUTION = re.compile(r"\bsolutions?\b", re.IGNORECASE)


def _details_blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) of every outermost ``<details>...</details>`` block in ``text``."""
    blocks, depth, start = [], 0, None
    for match in _TAG.finditer(text):
        if not match.group(1):
            if depth == 0:
                start = match.start()
            depth += 1
        elif depth > 0:
            depth -= 1
            if depth == 0:
                blocks.append((start, match.end()))
    if depth:
        raise ValueError("a <details> block is never closed (missing </details>)")
    return blocks


def is_solution_block(block: str) -> bool:
    """A ``<details>`` block is a solution when its first ``<summary>`` says "Solution(s)"."""
    summary = _SUMMARY.search(block)
    return bool(summary and _SOLUTION.search(summary.group(1)))


def strip_solutions(text: str) -> tuple[str, int]:
    """``text`` with every solution ``<details>`` block replaced by the placeholder line.

    Returns the new text and the number of blocks removed."""
    out, last, removed = [], 0, 0
    for start, end in _details_blocks(text):
        if is_solution_block(text[start:end]):
            out.append(text[last:start])
            out.append(PLACEHOLDER)
            last, removed = end, removed + 1
    out.append(text[last:])
    return "".join(out), removed


def _clear_outputs(nb) -> None:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None


def make_edition(notebooks: Path, out_dir: Path, *, student: bool, force: bool = False) -> dict:
    """Write the student (``student=True``) or teacher edition of ``notebooks/*.ipynb`` into
    ``out_dir/notebooks``.  Returns {notebook name: solution blocks removed}."""
    notebooks, out_dir = Path(notebooks), Path(out_dir)
    sources = sorted(notebooks.glob("*.ipynb"))
    if not sources:
        raise ValueError(f"notebooks={str(notebooks)!r} holds no .ipynb file; run this from the "
                         "course repository's root or pass --notebooks DIR")
    target = out_dir / "notebooks"
    if target.exists() and any(target.iterdir()):
        if not force:
            raise ValueError(f"out_dir={str(out_dir)!r} already holds notebooks/; pass --force "
                             "to replace them")
        shutil.rmtree(target)
    target.mkdir(parents=True, exist_ok=True)
    report = {}
    for source in sources:
        nb = nbformat.read(source, as_version=4)
        removed = 0
        if student:
            for cell in nb.cells:
                if cell.cell_type == "markdown" and "<details" in cell.source.lower():
                    cell.source, n = strip_solutions(cell.source)
                    removed += n
        _clear_outputs(nb)
        nbformat.validate(nb)
        nbformat.write(nb, target / source.name)
        report[source.name] = removed
    return report


def nbgitpuller_link(hub_url: str, repo_url: str, *, branch: str = "main",
                     folder: str = "vae-teach",
                     open_path: str = "notebooks/00_start_here.ipynb", app: str = "lab") -> str:
    """The link a teacher hands out: opening it logs the student in, clones (first time) or
    merges (later) ``repo_url`` into ``~/folder`` on their server with nbgitpuller, and opens
    ``open_path`` in JupyterLab (``app="lab"``) or Notebook 7 (``app="notebook"``)."""
    for name, value in (("hub_url", hub_url), ("repo_url", repo_url)):
        if not isinstance(value, str) or not re.match(r"^[a-z][a-z0-9+.-]*://", value):
            raise ValueError(f"{name}={value!r} is not a URL (it needs a scheme such as https://)")
    if app not in ("lab", "notebook"):
        raise ValueError(f"app={app!r}: choose 'lab' or 'notebook'")
    if not folder or "/" in folder or folder in (".", ".."):
        raise ValueError(f"folder={folder!r} must be one folder name inside the home folder")
    urlpath = ("lab/tree" if app == "lab" else "tree") + f"/{folder}/{open_path.lstrip('/')}"
    query = urllib.parse.urlencode({"repo": repo_url, "branch": branch, "targetpath": folder,
                                    "urlpath": urlpath})
    return f"{hub_url.rstrip('/')}/hub/user-redirect/git-pull?{query}"


PROJECTOR = (1280, 720)   # the most common classroom projector resolution (device pixels)
PRESENTER_ZOOM = 2.0      # browser zoom for the back of the room (Ctrl + five times in Chromium: 200 %)
MIN_TEXT_PX = 26          # body text at least this many projector pixels high


def presenter_check(site_dir, out_dir, *, pages=None, zoom: float = PRESENTER_ZOOM,
                    chromium: str = "/usr/bin/chromium", anchors=("", "#Exercises")) -> list[dict]:
    """Open reading-edition pages as a projector shows them and check they are readable.

    Each page of ``site_dir`` (default: every chapter page, ``NN_*.html``) is opened in headless
    Chromium at the projector's size with the browser zoomed by ``zoom`` (a CSS viewport of
    1280/zoom x 720/zoom pixels drawn at ``zoom`` device pixels each: exactly what Ctrl-+
    does).  It checks that the body text is at least ``MIN_TEXT_PX`` projector pixels high and
    that the page needs no sideways scrolling, and writes one PNG per page and anchor into
    ``out_dir``.  Returns one record per screenshot; raises AssertionError naming the page when
    a check fails."""
    from playwright.sync_api import sync_playwright
    site_dir, out_dir = Path(site_dir), Path(out_dir)
    pages = sorted(site_dir.glob("[0-9][0-9]_*.html")) if pages is None else [site_dir / p for p in pages]
    if not pages:
        raise ValueError(f"site_dir={str(site_dir)!r} holds no chapter page (NN_name.html); "
                         "build it with python -m vae_teach_tools.html --out DIR")
    out_dir.mkdir(parents=True, exist_ok=True)
    width, height = round(PROJECTOR[0] / zoom), round(PROJECTOR[1] / zoom)
    records = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium,
                                     args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height},
                                    device_scale_factor=zoom)
            for path in pages:
                for anchor in anchors:
                    page.goto(path.resolve().as_uri() + anchor)
                    page.wait_for_load_state("load")
                    page.wait_for_timeout(300)
                    found = page.evaluate("""() => {
                        const p = document.querySelector('main p, .jp-RenderedMarkdown p, p');
                        const size = p ? parseFloat(getComputedStyle(p).fontSize) : 0;
                        const el = document.scrollingElement;
                        return {css_px: size, overflow: el.scrollWidth - el.clientWidth};
                    }""")
                    name = path.stem + (anchor.replace("#", "-") if anchor else "") + ".png"
                    page.screenshot(path=str(out_dir / name))
                    record = {"page": path.name, "anchor": anchor, "screenshot": name,
                              "text_px": found["css_px"] * zoom,
                              "sideways_px": found["overflow"]}
                    records.append(record)
                    assert record["text_px"] >= MIN_TEXT_PX, (
                        f"{path.name}{anchor}: body text {record['text_px']:.0f} projector px "
                        f"high (< {MIN_TEXT_PX})")
                    assert record["sideways_px"] <= 1, (
                        f"{path.name}{anchor}: the page scrolls {record['sideways_px']} px sideways")
        finally:
            browser.close()
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vae_teach_tools.classroom",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("student-edition", "the chapters without the worked solutions"),
                            ("teacher-edition", "the chapters in full, outputs cleared")):
        command = sub.add_parser(name, help=help_text)
        command.add_argument("out_dir", type=Path, help="folder to write notebooks/ into")
        add_notebooks_option(command)
        command.add_argument("--force", action="store_true",
                             help="replace an existing OUT_DIR/notebooks")
    link = sub.add_parser("link", help="print the nbgitpuller link that puts the course on "
                                       "every student's server")
    link.add_argument("hub_url", help="the hub's address, e.g. https://hub.example.edu")
    link.add_argument("repo_url", help="the git repository the students pull (a student edition)")
    link.add_argument("--branch", default="main")
    link.add_argument("--folder", default="vae-teach", help="folder in the student's home")
    link.add_argument("--open", dest="open_path", default="notebooks/00_start_here.ipynb",
                      help="file to open after the pull (relative to the repository)")
    link.add_argument("--app", choices=("lab", "notebook"), default="lab")
    presenter = sub.add_parser("presenter", help="check the reading edition as a projector "
                                                 "shows it; screenshots into OUT_DIR")
    presenter.add_argument("site_dir", type=Path, help="a reading edition (python -m vae_teach_tools.html)")
    presenter.add_argument("out_dir", type=Path)
    presenter.add_argument("--zoom", type=float, default=PRESENTER_ZOOM)
    presenter.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    if args.command == "presenter":
        for r in presenter_check(args.site_dir, args.out_dir, zoom=args.zoom,
                                 chromium=args.chromium):
            print(f"{r['page']}{r['anchor']}: text {r['text_px']:.0f} px on the projector, "
                  f"sideways scroll {r['sideways_px']} px -> {r['screenshot']}")
        return 0
    if args.command == "link":
        try:
            print(nbgitpuller_link(args.hub_url, args.repo_url, branch=args.branch,
                                   folder=args.folder, open_path=args.open_path, app=args.app))
        except ValueError as error:
            parser.error(str(error))
        return 0
    try:
        report = make_edition(notebook_folder(args.notebooks), args.out_dir,
                              student=args.command == "student-edition", force=args.force)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    for name, removed in report.items():
        print(f"{name}: {removed} solution block(s) removed" if args.command == "student-edition"
              else f"{name}: copied")
    print(f"wrote {len(report)} notebooks to {args.out_dir / 'notebooks'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
