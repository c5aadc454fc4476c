"""vae_teach.setup: seeding, and the memory a notebook cell released given back after each cell."""
import gc
import sys

import pytest
import torch

import vae_teach
import vae_teach.utils as utils


@pytest.fixture
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    yield shell
    shell.events.callbacks["post_run_cell"][:] = [
        c for c in shell.events.callbacks["post_run_cell"] if c is not utils._release_freed_memory]
    InteractiveShell.clear_instance()
    gc.unfreeze()                                      # setup froze this process's objects


def test_setup_seeds_and_returns_a_generator_of_the_same_seed():
    gen = vae_teach.setup(seed=3)
    first = torch.rand(2)
    assert torch.equal(torch.rand(2, generator=gen), torch.rand(2, generator=torch.Generator().manual_seed(3)))
    vae_teach.setup(seed=3)
    assert torch.equal(torch.rand(2), first)


def test_in_a_notebook_every_cell_ends_with_a_heap_trim(shell, monkeypatch):
    trims = []
    monkeypatch.setattr(utils, "_MALLOC_TRIM", lambda pad: trims.append(pad) or 1)
    vae_teach.setup()
    vae_teach.setup()                                  # run twice: registered once
    assert shell.events.callbacks["post_run_cell"].count(utils._release_freed_memory) == 1
    shell.run_cell("x = [0] * 10")
    shell.run_cell("y = 2")
    assert trims == [0, 0]


def test_without_glibc_the_cells_still_free_their_garbage(shell, monkeypatch):
    monkeypatch.setattr(utils, "_MALLOC_TRIM", None)
    vae_teach.setup()
    assert shell.events.callbacks["post_run_cell"].count(utils._release_freed_memory) == 1


def test_a_cycle_left_by_a_cell_is_freed_when_the_cell_ends(shell):
    """A closed figure is such a cycle: without a full collection it would stay in memory."""
    vae_teach.setup()
    assert gc.get_freeze_count() > 0                   # the imported libraries are left out
    gc.disable()                                       # no automatic collection in between
    try:
        shell.run_cell("import weakref\n"
                       "class Node:\n    pass\n"
                       "node = Node(); node.itself = node; node.payload = bytearray(10**6)\n"
                       "probe = weakref.ref(node); del node")
        assert shell.user_ns["probe"]() is None
        shell.events.unregister("post_run_cell", utils._release_freed_memory)
        shell.run_cell("node = Node(); node.itself = node; probe = weakref.ref(node); del node")
        assert shell.user_ns["probe"]() is not None    # the same cell without the hook: still there
    finally:
        gc.enable()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim is Linux-only")
def test_malloc_trim_is_found_on_linux():
    assert utils._MALLOC_TRIM is not None
    utils._release_freed_memory()                      # callable with the hook's arguments too
    utils._release_freed_memory(object())
