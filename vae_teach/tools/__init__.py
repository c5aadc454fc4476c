"""The course's tooling: what teachers and maintainers run, never a chapter.

* ``runner``    the one notebook runner: a fresh kernel as a student's JupyterLab starts it
                (inline backend, every figure drawn), wall time, peak kernel memory, errors
* ``bench``     the benchmark, ``python -m vae_teach.tools.bench`` (results: docs/benchmark.md)
* ``figcheck``  a pytest plugin for the notebook run: a cell that calls ``plt.show()`` N times
                must show at least N pictures
* ``site``, ``offline_widgets``  the reading edition (``python -m vae_teach.html``)
* ``classroom`` checks for a teacher's hub or classroom machine

The chapters never import from here; everything here may import the chapters' modules.
"""
