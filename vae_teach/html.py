"""The HTML edition of the course: ``python -m vae_teach.html``.

Runs every notebook in ``notebooks/`` top to bottom in a fresh kernel (as a class would) and
writes one HTML page per chapter, plus an ``index.html`` that links them, into ``html/`` (git
ignores it).  Figures are embedded in the pages, so a page is one self-contained file that a
teacher can project or a student can read without Jupyter.

Widgets: a course widget draws its picture in Python, so without a kernel its sliders cannot do
anything.  The page therefore shows each widget as the static picture it had when the notebook
ran (every ``CourseWidget`` carries one), with a note saying that the live version needs
JupyterLab.  The widget state is also stored in each page's notebook metadata
(``store_widget_state``), so ``--keep-notebooks`` writes executed ``.ipynb`` copies that open
with their widgets drawn.

Usage::

    python -m vae_teach.html                      # all chapters -> html/
    python -m vae_teach.html --out site 04 07     # chapters whose file names start with 04, 07
"""
from __future__ import annotations

import argparse
import html as html_lib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ("<p class='vae-teach-static-note'><em>Static picture of an interactive widget: "
               "open the notebook in JupyterLab and run it to move the controls.</em></p>")


def select_notebooks(directory: Path, prefixes: list[str]) -> list[Path]:
    """The notebooks in ``directory`` (sorted), or those whose names start with a prefix."""
    notebooks = sorted(directory.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks found in {directory}")
    if not prefixes:
        return notebooks
    chosen = [nb for nb in notebooks if any(nb.name.startswith(p) for p in prefixes)]
    unknown = [p for p in prefixes if not any(nb.name.startswith(p) for nb in notebooks)]
    if unknown:
        raise ValueError(f"chapters {unknown} match no notebook in {directory} "
                         f"(have: {[nb.name for nb in notebooks]})")
    return chosen


def static_widgets(nb) -> int:
    """Replace each widget view that carries a static PNG by that PNG (and a note); return how
    many were replaced.  Widget views without a static picture are left as they are."""
    replaced = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and "image/png" in data:
                del data[WIDGET_VIEW]
                data.pop("text/plain", None)
                data["text/html"] = (f"<img src='data:image/png;base64,{data['image/png']}' "
                                     f"alt='widget picture'/>" + WIDGET_NOTE)
                replaced += 1
    return replaced


# A few TeX commands that chapter titles use, as plain text for the index page.
TEX_IN_TITLES = {r"\theta": "θ", r"\phi": "φ", r"\approx": "≈", r"\mid": "|", r"\|": "‖",
                 "^*": "*", "_": "", "$": "", "{": "", "}": ""}


def title_of(nb, fallback: str) -> str:
    """The notebook's first level-1 heading, with its TeX turned into plain text."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    title = line[2:].strip()
                    for tex, text in TEX_IN_TITLES.items():
                        title = title.replace(tex, text)
                    return " ".join(title.split())
    return fallback


def build(notebooks: list[Path], out: Path, *, timeout: int = 600, keep_notebooks: bool = False,
          log=print) -> list[dict]:
    """Execute ``notebooks`` and write their HTML pages and an index into ``out``."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import ExecutePreprocessor

    out.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name="lab")
    rows = []
    os.environ.setdefault("MPLBACKEND", "Agg")
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        executor = ExecutePreprocessor(timeout=timeout, kernel_name="python3",
                                       store_widget_state=True)
        error = None
        try:
            executor.preprocess(nb, {"metadata": {"path": str(path.parent)}})
        except Exception as exc:  # noqa: BLE001 — the page is still written, with the error shown
            error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
        seconds = time.perf_counter() - start
        if keep_notebooks:
            nbformat.write(nb, out / path.name)
        n_widgets = static_widgets(nb)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
        page = out / f"{path.stem}.html"
        page.write_text(body, encoding="utf-8")
        row = {"notebook": path.name, "title": title_of(nb, path.stem), "page": page.name,
               "seconds": round(seconds, 1), "widgets": n_widgets, "error": error}
        rows.append(row)
        log(f"{path.name:45s} {seconds:6.1f} s  {n_widgets} widget(s)  "
            + ("OK" if error is None else f"FAILED: {error}"))
    write_index(rows, out)
    (out / "build.json").write_text(json.dumps(rows, indent=2))
    return rows


def write_index(rows: list[dict], out: Path) -> Path:
    items = "\n".join(
        f"<li><a href='{html_lib.escape(r['page'])}'>{html_lib.escape(r['title'])}</a>"
        f" <small>({r['seconds']:.0f} s to run"
        + (", <strong>failed: " + html_lib.escape(r["error"]) + "</strong>" if r["error"] else "")
        + ")</small></li>" for r in rows)
    index = out / "index.html"
    index.write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vae-teach: the course</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:3rem auto;line-height:1.5}}
li{{margin:.4rem 0}}</style></head>
<body><h1>vae-teach — Variational Autoencoders, step by step</h1>
<p>The HTML edition of the course, executed on {time.strftime('%Y-%m-%d %H:%M')}.
Widgets appear as static pictures; run the notebooks in JupyterLab to use them.</p>
<ol start="0">
{items}
</ol></body></html>
""", encoding="utf-8")
    return index


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vae_teach.html",
                                     description="Execute the course and write it as HTML pages.")
    parser.add_argument("chapters", nargs="*",
                        help="chapter prefixes such as 04 or 07_training (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "html",
                        help="output folder (default: html/ at the project root, git-ignored)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    parser.add_argument("--keep-notebooks", action="store_true",
                        help="also write the executed .ipynb files (with widget state)")
    args = parser.parse_args(argv)
    try:
        notebooks = select_notebooks(NOTEBOOK_DIR, args.chapters)
    except (ValueError, FileNotFoundError) as exc:
        parser.error(str(exc))
    rows = build(notebooks, args.out, timeout=args.timeout, keep_notebooks=args.keep_notebooks)
    failed = [r["notebook"] for r in rows if r["error"]]
    total = sum(r["seconds"] for r in rows)
    print(f"\n{len(rows)} pages in {args.out} ({total:.0f} s); open {args.out / 'index.html'}")
    if failed:
        print(f"FAILED: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
