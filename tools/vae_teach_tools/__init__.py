"""The course's tooling: what teachers and maintainers run from a checkout, never a chapter.

A distribution of its own (``vae-teach-tools``, ``tools/pyproject.toml``), installed by
``requirements-test.txt`` beside the course; a student's install of ``vae_teach`` does not carry
it.  Every command reads the checkout's ``notebooks/`` folder: ``./notebooks`` of the current
directory, or the folder given with ``--notebooks DIR`` (``runner.notebook_folder``).

* ``runner``    the one notebook runner: a fresh kernel as a student's JupyterLab starts it
                (inline backend, every figure drawn), wall time, peak kernel memory, errors
* ``bench``     the benchmark, ``python -m vae_teach_tools.bench`` (results: docs/benchmark.md);
                ``budget`` its training loop with a wall-clock limit
* ``figcheck``  a pytest plugin for the notebook run: a cell that calls ``plt.show()`` N times
                must show at least N pictures
* ``html``      the reading edition, ``python -m vae_teach_tools.html``, built by ``site`` and
                ``offline_widgets`` (site_assets/: the bundled KaTeX, styles and template)
* ``classroom`` editions for a class and checks for a teacher's hub or classroom machine,
                ``python -m vae_teach_tools.classroom``

The chapters never import from here; everything here may import the chapters' modules.
"""
