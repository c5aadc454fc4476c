"""The reading edition: a static site of the whole course (``python -m vae_teach_tools.html``).

Every chapter is executed in a fresh kernel with the inline backend (every figure drawn), then
written as one page by nbconvert with the site's template (``site_assets/templates/vae_site``):

* ``index.html``: the road map (notebook 00's table: each chapter and what it answers), links
  to the set-up instructions and the repository, the build's date and per-chapter numbers;
* ``NN_name.html``: one page per chapter, every output and figure, previous/next navigation and
  a link to the notation table on every page; each figure's alt text is its titles, recorded in
  the kernel when it was drawn (``offline_widgets.describe_figure``), or, for a figure without
  titles, a sentence naming the chapter section it belongs to;
* ``notation.html`` (notebook 00's "Notation" section) and ``setup.html`` (the README);
* ``assets/``: KaTeX 0.19.1 (vendored, checksummed) + the site's CSS/JS; ``frames/``: the
  offline widgets' pictures.

Nothing on a page is fetched from the network: formulas are typeset by the bundled KaTeX,
widgets are plain HTML controls swapping precomputed pictures (``offline_widgets``).
"""
from __future__ import annotations

import hashlib
import html as html_lib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from vae_teach_tools import offline_widgets, runner

ASSETS = Path(__file__).resolve().parent / "site_assets"
KATEX_VERSION = "0.19.1"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
STATIC_NOTE = ("<p class='vt-static-note'><em>Still picture of an interactive widget: open the "
               "notebook in JupyterLab to move its controls.</em></p>")


# ------------------------------------------------------------------------ notebooks in, out

# A few TeX commands that chapter titles use, as plain text for titles and links.
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


count_images = runner.count_images   # pictures in a notebook's outputs (widget stills included)


def execute(path: Path, timeout: int = 600):
    """Run notebook ``path`` with the course's runner (a fresh kernel, the inline backend, the
    notebook's folder as working directory), with the site's kernel hooks installed by a hidden
    first cell that is removed afterwards.
    Returns ``(executed notebook, seconds, error text or None)``."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    setup = nbformat.v4.new_code_cell(offline_widgets.KERNEL_SETUP)
    setup.metadata["vae_teach_site_setup"] = True
    nb.cells.insert(0, setup)
    result = runner.execute_notebook(nb, cwd=path.parent, timeout=timeout)
    nb, seconds = result.notebook, result.seconds
    error = "; ".join(f"{'cell ' + str(e.cell - 1) if e.cell else 'kernel'}: {e.ename}: {e.evalue}"
                      for e in result.errors) or None    # cell indices without the hidden cell
    nb.cells = [c for c in nb.cells if not c.metadata.get("vae_teach_site_setup")]
    for cell in nb.cells:          # prompts as the student sees them (the hidden cell was [1])
        if cell.cell_type == "code" and cell.get("execution_count"):
            cell.execution_count -= 1
            for output in cell.get("outputs", []):
                if output.get("execution_count"):
                    output["execution_count"] -= 1
    return nb, seconds, error


def _section_titles(nb) -> list[str]:
    """For each cell, the heading of the section it sits in (plain text)."""
    current, titles = "", []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    current = offline_widgets.tex_to_text(line.lstrip("#").strip())
        titles.append(current)
    return titles


def prepare(nb, chapter: str, frames_dir: Path) -> dict:
    """Give every figure its alt text and turn widgets into offline widgets (or stills).
    Returns counts: images, offline widgets, still widgets."""
    counts = {"images": count_images(nb), "offline_widgets": 0, "still_widgets": 0}
    nb.metadata.pop("widgets", None)          # no widget manager on the site: state unused
    sections = _section_titles(nb)
    figure_number = 0
    for cell, section in zip(nb.cells, sections):
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if offline_widgets.OFFLINE_MIME in data:
                payload = data.pop(offline_widgets.OFFLINE_MIME)
                data["text/html"] = offline_widgets.offline_widget_html(payload, frames_dir)
                for key in (WIDGET_VIEW, "image/png", "text/plain"):
                    data.pop(key, None)
                counts["offline_widgets"] += 1
                continue
            if WIDGET_VIEW in data and "image/png" in data:
                data["text/html"] = (f"<img src='data:image/png;base64,{data['image/png']}' "
                                     f"alt='Still picture of an interactive widget in "
                                     f"{html_lib.escape(chapter)}'/>" + STATIC_NOTE)
                for key in (WIDGET_VIEW, "image/png", "text/plain"):
                    data.pop(key, None)
                counts["still_widgets"] += 1
                continue
            if "image/png" in data:
                figure_number += 1
                recorded = output.get("metadata", {}).get(offline_widgets.ALT_KEY, "")
                alt = offline_widgets.tex_to_text(recorded)
                if not alt:
                    where = f", section “{section}”" if section else ""
                    alt = f"Figure {figure_number} of {chapter}{where}, drawn by the code above it"
                output.setdefault("metadata", {})[offline_widgets.ALT_KEY] = alt
    return counts


# ------------------------------------------------------------------------------ pages

def _markdown(text: str) -> str:
    from nbconvert.filters.markdown import markdown2html_mistune

    return markdown2html_mistune(text)


def _nav(rows: list[dict], index: int | None, repo_url: str | None, bottom: bool = False) -> str:
    links = ["<a class='vt-home' href='index.html'>vae-teach · contents</a>",
             "<a href='notation.html'>Notation</a>", "<a href='setup.html'>Set-up</a>"]
    if repo_url:
        links.append(f"<a href='{html_lib.escape(repo_url)}'>Repository</a>")
    links.append("<span class='vt-spacer'></span>")
    if index is not None:
        prev = rows[index - 1] if index > 0 else None
        nxt = rows[index + 1] if index + 1 < len(rows) else None
        links.append(f"<a rel='prev' href='{prev['page']}'>← {html_lib.escape(prev['title'])}</a>"
                     if prev else "<span class='vt-disabled'>← (first chapter)</span>")
        links.append(f"<a rel='next' href='{nxt['page']}'>{html_lib.escape(nxt['title'])} →</a>"
                     if nxt else "<span class='vt-disabled'>(last chapter) →</span>")
    return (f"<nav class='vt-nav{' vt-bottom' if bottom else ''}' aria-label='course'>"
            + "".join(links) + "</nav>")


def _doc_page(title: str, body: str, nav: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{html_lib.escape(title)}</title>
<link rel="stylesheet" href="assets/katex/katex.min.css">
<link rel="stylesheet" href="assets/site.css"></head>
<body>{nav}<main class="vt-doc">
{body}
</main>
<script src="assets/katex/katex.min.js"></script>
<script src="assets/katex/auto-render.min.js"></script>
<script src="assets/site.js"></script>
</body></html>
"""


def course_map(notebook_dir: Path) -> tuple[dict[str, str], str]:
    """From notebook 00 (unexecuted): the road map (chapter number -> what it answers) and the
    notation section's markdown."""
    import nbformat

    start = sorted(notebook_dir.glob("00_*.ipynb"))
    road, notation = {}, ""
    if not start:
        return road, notation
    nb = nbformat.read(start[0], as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        heading = cell.source.lstrip().splitlines()[0].lower() if cell.source.strip() else ""
        if "notation" in heading and heading.startswith("#"):
            notation = cell.source
        for line in cell.source.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 3 and re.fullmatch(r"\d\d", cells[0]) and "road map" in heading:
                road[cells[0]] = cells[2]
    return road, notation


def _readme_html(readme: Path, pages: dict[str, str], repo_url: str | None) -> str:
    body = _markdown(readme.read_text(encoding="utf-8")) if readme.exists() else \
        "<p>The README is missing from this build.</p>"

    def relink(match):
        target = match.group(1)
        if re.match(r"[a-z]+:|#", target):
            return match.group(0)
        name = Path(target.split("#")[0]).name
        if name.endswith(".ipynb") and name[:-6] in pages:
            return f'href="{pages[name[:-6]]}"'
        if repo_url:
            return f'href="{repo_url.rstrip("/")}/blob/main/{target}"'
        return 'data-in-repository="' + html_lib.escape(target) + '"'

    return re.sub(r'href="([^"]+)"', relink, body)


def default_repo_url(checkout=".") -> str | None:
    """The repository's web address: $VAE_TEACH_REPO_URL, else GitHub Actions' repository,
    else the git remote ``origin`` of the folder ``checkout`` (as https), else None."""
    if os.environ.get("VAE_TEACH_REPO_URL"):
        return os.environ["VAE_TEACH_REPO_URL"]
    if os.environ.get("GITHUB_REPOSITORY"):
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{os.environ['GITHUB_REPOSITORY']}"
    try:
        url = subprocess.run(["git", "-C", str(checkout), "remote", "get-url", "origin"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if url.startswith("git@"):
        url = "https://" + url[4:].replace(":", "/", 1)
    return url.removesuffix(".git") or None


def copy_assets(out: Path) -> None:
    """The site's CSS/JS and the vendored KaTeX, after checking KaTeX's checksums."""
    katex = ASSETS / "katex"
    for line in (katex / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        actual = hashlib.sha256((katex / name).read_bytes()).hexdigest()
        if actual != digest:
            raise RuntimeError(f"{katex / name} does not match its SHA-256 in SHA256SUMS: the "
                               f"vendored KaTeX {KATEX_VERSION} is damaged; restore it with git "
                               f"(git checkout -- tools/vae_teach_tools/site_assets/katex) or "
                               f"reinstall the tools")
    target = out / "assets"
    shutil.copytree(katex, target / "katex", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("README.md", "SHA256SUMS"))
    for name in ("site.css", "site.js"):
        shutil.copy2(ASSETS / name, target / name)


def write_front_page(rows: list[dict], out: Path, road: dict[str, str], repo_url: str | None,
                     notebook_dir: Path) -> Path:
    built = {r["notebook"][:2]: r for r in rows}
    items = []
    for path in sorted(notebook_dir.glob("[0-9][0-9]_*.ipynb")):
        number = path.name[:2]
        row = built.get(number)
        what = html_lib.escape(road.get(number, ""))
        if row:
            title = f"<a href='{row['page']}'>{html_lib.escape(row['title'])}</a>"
            extra = f"{row['images']} figures"
            if row["offline_widgets"]:
                extra += f", {row['offline_widgets']} offline widget(s)"
            if row["error"]:
                extra += f", <strong>failed: {html_lib.escape(row['error'])}</strong>"
        else:
            title = html_lib.escape(path.stem)
            extra = "not in this build"
        items.append(f"<tr><td>{number}</td><td>{title}</td><td>{what}</td>"
                     f"<td><small>{extra}</small></td></tr>")
    repo = (f"<a href='{html_lib.escape(repo_url)}'>the course's repository</a>" if repo_url
            else "the course's repository")
    body = f"""<h1>vae-teach — Variational Autoencoders, step by step</h1>
<p>An interactive notebook course on variational autoencoders, from categorical distributions
and Bayesian networks to training a VAE on MNIST digits on a laptop CPU and reading its latent
space. This is the <strong>reading edition</strong>: every chapter as it ran on
{time.strftime('%Y-%m-%d')}, with all its figures. It works offline: formulas are typeset by a
copy of KaTeX that ships with these pages, and the widgets play from pictures computed when
the pages were built.</p>
<p><strong>To run the course yourself</strong> (change the code, move every control, do the
exercises): get {repo} and follow its <a href='setup.html#Set-up'>set-up instructions</a>.
The <a href='notation.html'>notation table</a> is linked from every page.</p>
<h2>Road map</h2>
<table><thead><tr><th>#</th><th>chapter</th><th>what it answers</th><th></th></tr></thead>
<tbody>
{chr(10).join(items)}
</tbody></table>
"""
    index = out / "index.html"
    index.write_text(_doc_page("vae-teach: the course", body, _nav(rows, None, repo_url)),
                     encoding="utf-8")
    return index


# ------------------------------------------------------------------------------ the build

def build(notebooks: list[Path], out: Path, *, timeout: int = 600, keep_notebooks: bool = False,
          repo_url: str | None = None, log=print) -> list[dict]:
    """Execute ``notebooks`` and write the site into ``out``; returns one row per chapter.
    The road map, the notation and the README come from the notebooks' folder and the folder
    above it (the checkout; ``runner.notebook_folder()`` when ``notebooks`` is empty)."""
    import nbformat
    from nbconvert import HTMLExporter

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    notebook_dir = notebooks[0].parent if notebooks else runner.notebook_folder()
    copy_assets(out)
    frames_dir = out / "frames"
    exporter = HTMLExporter(extra_template_basedirs=[str(ASSETS / "templates")],
                            template_name="vae_site")
    executed, rows = [], []
    for path in notebooks:
        nb, seconds, error = execute(path, timeout)
        if keep_notebooks:
            nbformat.write(nb, out / path.name)
        title = title_of(nb, path.stem)
        counts = prepare(nb, title, frames_dir)
        executed.append(nb)
        rows.append({"notebook": path.name, "title": title, "page": f"{path.stem}.html",
                     "seconds": round(seconds, 1), "error": error, **counts,
                     "widgets": counts["offline_widgets"] + counts["still_widgets"]})
        log(f"{path.name:45s} {seconds:6.1f} s  {counts['images']:3d} images  "
            f"{counts['offline_widgets']} offline widget(s)  "
            + ("OK" if error is None else f"FAILED: {error}"))
    for i, (nb, row) in enumerate(zip(executed, rows)):
        resources = {"metadata": {"name": row["title"]},
                     "vt_nav_top": _nav(rows, i, repo_url),
                     "vt_nav_bottom": _nav(rows, i, repo_url, bottom=True)}
        body, _ = exporter.from_notebook_node(nb, resources=resources)
        (out / row["page"]).write_text(body, encoding="utf-8")
    road, notation = course_map(notebook_dir)
    (out / "notation.html").write_text(_doc_page(
        "vae-teach: notation", _markdown(notation or "# Notation\n\nNot found in notebook 00."),
        _nav(rows, None, repo_url)), encoding="utf-8")
    pages = {Path(r["page"]).stem: r["page"] for r in rows}
    (out / "setup.html").write_text(_doc_page(
        "vae-teach: set-up", _readme_html(notebook_dir.parent / "README.md", pages, repo_url),
        _nav(rows, None, repo_url)), encoding="utf-8")
    write_front_page(rows, out, road, repo_url, notebook_dir)
    (out / "build.json").write_text(json.dumps(rows, indent=2))
    return rows


def site_size(out: Path) -> int:
    """Bytes of every file in the site."""
    return sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
