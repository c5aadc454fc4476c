"""The reading edition of the course: ``python -m vae_teach_tools.html [CHAPTERS] --out DIR``.

Executes the chapters in fresh kernels (inline backend: every figure drawn) and writes a static
site: a front page with the road map, one page per chapter with every figure and output,
previous/next links, the notation table and the set-up instructions one click away from every
page.  Nothing on the pages is fetched from the network: formulas are typeset by a copy of
KaTeX that ships with the site, and every course widget plays offline from pictures computed
at build time.  The builder lives in ``vae_teach_tools.site``; this module is its command line.
Run it from the root of the course's checkout (it reads ``notebooks/`` and the README there), or
name the notebooks folder with ``--notebooks DIR``.

Usage::

    python -m vae_teach_tools.html                    # all chapters -> html/
    python -m vae_teach_tools.html 04 07 --out site   # chapters whose file names start with 04, 07
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vae_teach_tools.runner import add_notebooks_option, notebook_folder, select_notebooks
from vae_teach_tools.site import (WIDGET_VIEW, build, count_images,  # noqa: F401
                                  default_repo_url, site_size, title_of)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vae_teach_tools.html",
                                     description="Execute the course and write its reading "
                                                 "edition, a static site that works offline.")
    parser.add_argument("chapters", nargs="*",
                        help="chapter prefixes such as 04 or 07_training (default: all)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: html/ beside the notebooks folder, at the "
                             "checkout's root, git-ignored)")
    add_notebooks_option(parser)
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    parser.add_argument("--keep-notebooks", action="store_true",
                        help="also write the executed .ipynb files")
    parser.add_argument("--repo-url", default=None,
                        help="web address of the course's repository, linked from every page "
                             "(default: $VAE_TEACH_REPO_URL, GitHub Actions' repository or the "
                             "git remote origin)")
    args = parser.parse_args(argv)
    try:
        folder = notebook_folder(args.notebooks)
        notebooks = select_notebooks(folder, args.chapters)
    except (ValueError, FileNotFoundError) as exc:
        parser.error(str(exc))
    checkout = folder.parent
    if args.out is None:
        args.out = checkout / "html"
    start = time.perf_counter()
    rows = build(notebooks, args.out, timeout=args.timeout, keep_notebooks=args.keep_notebooks,
                 repo_url=args.repo_url or default_repo_url(checkout))
    failed = [r["notebook"] for r in rows if r["error"]]
    print(f"\n{len(rows)} chapters, {sum(r['images'] for r in rows)} images, "
          f"{sum(r['offline_widgets'] for r in rows)} offline widgets; "
          f"{site_size(args.out) / 1e6:.1f} MB in {args.out}; built in "
          f"{time.perf_counter() - start:.0f} s; open {args.out / 'index.html'}")
    if failed:
        print(f"FAILED: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
