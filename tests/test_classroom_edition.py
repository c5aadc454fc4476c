"""The student edition (solutions withheld) and the teacher edition of the chapters."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from vae_teach_tools import classroom
from vae_teach_tools.classroom import PLACEHOLDER, make_edition, strip_solutions

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOLUTION_SUMMARY = re.compile(r"<summary\b[^>]*>[^<]*(<b>)?\s*solutions?", re.IGNORECASE)


def test_strip_solutions_removes_only_solution_blocks():
    text = ("**Exercise 1.** Compute it.\n\n"
            "<details><summary>Hint</summary>Use the chain rule.</details>\n\n"
            "<details>\n<summary><b>Solutions</b> (click to open)</summary>\n\n"
            "```python\nanswer = 42\n```\n"
            "<details><summary>Why</summary>nested detail</details>\n"
            "</details>\n\nAfter the block.")
    out, removed = strip_solutions(text)
    assert removed == 1
    assert "answer = 42" not in out and "nested detail" not in out
    assert "<summary>Hint</summary>Use the chain rule." in out
    assert out.startswith("**Exercise 1.** Compute it.") and out.endswith("After the block.")
    assert out.count(PLACEHOLDER) == 1


def test_strip_solutions_keeps_text_without_solutions_and_rejects_unclosed_blocks():
    text = "<details><summary>Details of the proof</summary>...</details>"
    assert strip_solutions(text) == (text, 0)
    with pytest.raises(ValueError, match="never closed"):
        strip_solutions("<details><summary>Solution</summary> answer = 1")


def _code(nb):
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


@pytest.fixture(scope="module")
def editions(tmp_path_factory):
    out = tmp_path_factory.mktemp("editions")
    student = make_edition(NOTEBOOKS, out / "student", student=True)
    teacher = make_edition(NOTEBOOKS, out / "teacher", student=False)
    return out, student, teacher


def test_student_edition_withholds_every_solution_and_keeps_the_exercises(editions):
    out, student, _ = editions
    sources = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert len(sources) == len(student) == 11
    for source in sources:
        original = nbformat.read(source, as_version=4)
        path = out / "student" / "notebooks" / source.name
        edited = nbformat.read(path, as_version=4)
        nbformat.validate(edited)
        json.loads(path.read_text())   # plain JSON too
        text = "\n".join(cell.source for cell in edited.cells)
        # every chapter has worked solutions, and none is left
        assert student[source.name] >= 1, source.name
        assert SOLUTION_SUMMARY.search("\n".join(c.source for c in original.cells)), source.name
        assert not SOLUTION_SUMMARY.search(text), source.name
        assert text.count(PLACEHOLDER) == student[source.name]
        # the same cells, code cells (the checkers among them) byte for byte
        assert len(edited.cells) == len(original.cells)
        assert _code(edited) == _code(original), source.name
        checkers = [s for s in _code(original) if re.search(r"\bcheck_\w+\(", s)]
        assert checkers, f"{source.name}: no exercise checker found"
        assert all(c in _code(edited) for c in checkers)
        assert all(cell.get("outputs", []) == [] for cell in edited.cells
                   if cell.cell_type == "code")


def test_teacher_edition_is_the_full_course(editions):
    out, _, teacher = editions
    assert set(teacher.values()) == {0}
    for source in sorted(NOTEBOOKS.glob("*.ipynb")):
        original = nbformat.read(source, as_version=4)
        full = nbformat.read(out / "teacher" / "notebooks" / source.name, as_version=4)
        assert [c.source for c in full.cells] == [c.source for c in original.cells]


def test_make_edition_refuses_to_overwrite_and_names_the_argument(tmp_path):
    make_edition(NOTEBOOKS, tmp_path, student=True)
    with pytest.raises(ValueError, match="out_dir=.*--force"):
        make_edition(NOTEBOOKS, tmp_path, student=True)
    make_edition(NOTEBOOKS, tmp_path, student=True, force=True)
    with pytest.raises(ValueError, match="notebooks=.*no .ipynb"):
        make_edition(tmp_path / "nothing-here", tmp_path / "x", student=True)


def test_command_line_writes_the_student_edition(tmp_path):
    done = subprocess.run([sys.executable, "-m", "vae_teach_tools.classroom", "student-edition",
                           str(tmp_path / "class")], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert "08_kl_versus_sse.ipynb: 4 solution block(s) removed" in done.stdout
    assert len(list((tmp_path / "class" / "notebooks").glob("*.ipynb"))) == 11
    again = subprocess.run([sys.executable, "-m", "vae_teach_tools.classroom", "student-edition",
                            str(tmp_path / "class")], cwd=ROOT, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 2 and "--force" in again.stderr


@pytest.mark.slow
def test_student_edition_still_runs(editions, tmp_path):
    """A chapter of the student edition runs top to bottom (its checkers included)."""
    from nbclient import NotebookClient
    out, _, _ = editions
    path = out / "student" / "notebooks" / "04_categorical.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors, errors
    assert classroom.PLACEHOLDER in "\n".join(c.source for c in nb.cells)


def test_nbgitpuller_link_carries_repo_branch_folder_and_file():
    from urllib.parse import parse_qs, urlsplit
    link = classroom.nbgitpuller_link("https://hub.example.edu/", "https://git.example.org/c.git",
                                      branch="spring", open_path="notebooks/07_training_a_vae.ipynb")
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "hub.example.edu",
                                                        "/hub/user-redirect/git-pull")
    assert parse_qs(parts.query) == {
        "repo": ["https://git.example.org/c.git"], "branch": ["spring"],
        "targetpath": ["vae-teach"],
        "urlpath": ["lab/tree/vae-teach/notebooks/07_training_a_vae.ipynb"]}
    notebook7 = classroom.nbgitpuller_link("https://h", "https://r", app="notebook")
    assert "urlpath=tree%2Fvae-teach%2Fnotebooks%2F00_start_here.ipynb" in notebook7
    with pytest.raises(ValueError, match="repo_url="):
        classroom.nbgitpuller_link("https://h", "github.com/x/y")
    with pytest.raises(ValueError, match="app="):
        classroom.nbgitpuller_link("https://h", "https://r", app="classic")
    with pytest.raises(ValueError, match="folder="):
        classroom.nbgitpuller_link("https://h", "https://r", folder="../x")
