"""The course's one notebook runner: execute a notebook the way a student's JupyterLab does.

``execute_notebook(path)`` starts a fresh kernel, runs every code cell top to bottom and returns
a :class:`RunResult`: the executed notebook (every output, every figure) and a small record of
the run -- wall seconds, the kernel's peak resident memory (RSS), the number of pictures in the
outputs and the errors.  The benchmark, the reading edition and the classroom test all use it.
It also holds the rule by which every tool finds the checkout's notebooks (:func:`notebook_folder`).

What "as a student runs it" means here:

* **The inline backend.**  ``MPLBACKEND`` is removed from the kernel's environment (unless the
  caller passes it in ``env`` on purpose), so ipykernel selects matplotlib's inline backend and
  every ``plt.show()`` becomes a picture.  With ``MPLBACKEND=Agg`` inherited from a shell,
  ``plt.show()`` silently draws nothing and an error that only appears when a figure is drawn
  would go unnoticed.
* **The notebook's folder as working directory** (what JupyterLab uses), unless ``cwd`` says
  otherwise.
* **Stop at the first error**, like "Run All"; ``allow_errors=True`` runs on and records every
  error.  Errors are reported in ``RunResult.errors``, never raised (a failing notebook is a
  result); ``RunResult.raise_for_errors()`` turns them into an exception when wanted.

Memory is measured from outside the kernel: a thread reads the RSS of the kernel process and of
its child processes every ``poll_interval`` seconds.  On Linux the kernel's own high-water mark
(``VmHWM`` in ``/proc/<pid>/status``, reset before each cell) is read as well, so a peak between
two polls is not missed; ``RunResult.cells`` gives the peak of every code cell.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil

IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")

__all__ = ["CellError", "CellRecord", "RunResult", "execute_notebook", "count_images",
           "kernel_environment", "select_notebooks", "notebook_folder", "add_notebooks_option",
           "anon_rss_bytes"]


@dataclass(frozen=True)
class CellError:
    """An error raised while running a notebook: the code cell's index in ``notebook.cells``
    (None when it happened outside a cell, e.g. the kernel did not start), the exception's
    name and its message."""
    cell: int | None
    ename: str
    evalue: str

    def __str__(self) -> str:
        where = f"cell {self.cell}" if self.cell is not None else "kernel"
        return f"{where}: {self.ename}: {self.evalue}"


@dataclass
class CellRecord:
    """One executed code cell: its index, seconds, the kernel's peak RSS while it ran and the
    RSS when it had finished (bytes)."""
    cell: int
    seconds: float
    peak_rss_bytes: int
    end_rss_bytes: int


@dataclass
class RunResult:
    """What :func:`execute_notebook` returns.

    ``notebook`` is the executed notebook; ``seconds`` the wall time from the kernel's start to
    the last cell, the kernel's start included; ``peak_rss_bytes`` the highest RSS of the kernel
    and its child processes (None if it could not be read); ``n_images`` the pictures in the
    outputs; ``errors`` the errors (empty when the run was clean); ``cpu_seconds`` the kernel's
    CPU time (user + system, its threads and children included) up to its last cell.  With
    ``keep_kernel=True`` the kernel is still running: ``rss_bytes()`` reads its memory now,
    ``shutdown()`` stops it.  ``peak_anon_bytes`` (Linux; None elsewhere) is the highest
    anonymous part of that RSS seen by the polls: the kernels' own heap, arrays and tensors,
    without the pages of shared libraries, whose count depends on the machine's file cache as
    much as on the notebook (docs/benchmark.md)."""
    notebook: nbformat.NotebookNode
    seconds: float
    peak_rss_bytes: int | None
    n_images: int
    errors: list[CellError] = field(default_factory=list)
    cells: list[CellRecord] = field(default_factory=list)
    kernel_pid: int | None = None
    cpu_seconds: float | None = None
    peak_anon_bytes: int | None = None
    _client: object = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise ``RuntimeError`` naming every error, if there was one."""
        if self.errors:
            raise RuntimeError("the notebook failed: " + "; ".join(map(str, self.errors)))

    def rss_bytes(self) -> int | None:
        """RSS of the (kept) kernel and its children right now; None once it has stopped."""
        return _tree_rss(self.kernel_pid) if self._client is not None else None

    def shutdown(self) -> None:
        """Stop a kernel kept with ``keep_kernel=True`` (does nothing otherwise)."""
        client, self._client = self._client, None
        if client is not None:
            client._cleanup_kernel()   # nbclient's own shutdown: kernel, channels, files


def notebook_folder(path=None) -> Path:
    """The checkout's notebooks folder, by the one rule every tool follows: ``path`` (a command's
    ``--notebooks DIR``) if given, else ``notebooks`` in the current directory.  The tools are
    installed apart from the checkout (non-editable in CI), so they never look beside their own
    files.  A missing folder raises FileNotFoundError naming the option."""
    folder = Path("notebooks" if path is None else path)
    if not folder.is_dir():
        where = "" if path is not None else " in the current directory"
        raise FileNotFoundError(f"--notebooks: there is no folder {folder}{where}; run from the "
                                f"root of the course's checkout or pass --notebooks DIR")
    return folder


def add_notebooks_option(parser) -> None:
    """The ``--notebooks DIR`` option of every command (resolved by :func:`notebook_folder`)."""
    parser.add_argument("--notebooks", type=Path, default=None, metavar="DIR",
                        help="the course's notebooks folder (default: ./notebooks, as when run "
                             "from the root of the course's checkout)")


def select_notebooks(directory, prefixes) -> list[Path]:
    """The course's notebooks in ``directory`` (``NN_*.ipynb``, sorted), or those whose names start
    with one of ``prefixes`` (all if empty).  Used by the benchmark and the reading edition."""
    directory = Path(directory)
    notebooks = sorted(directory.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks found in {directory}")
    if not prefixes:
        return notebooks
    chosen = [nb for nb in notebooks if any(nb.name.startswith(p) for p in prefixes)]
    unknown = [p for p in prefixes if not any(nb.name.startswith(p) for nb in notebooks)]
    if unknown:
        raise ValueError(f"no notebook in {directory} starts with {', '.join(unknown)} "
                         f"(have: {', '.join(nb.name for nb in notebooks)})")
    return chosen


def count_images(notebook) -> int:
    """How many pictures the notebook's outputs hold (PNG, JPEG, SVG or GIF outputs)."""
    return sum(1 for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.get("outputs", [])
               if any(mime in output.get("data", {}) for mime in IMAGE_MIMES))


def kernel_environment(env: dict | None = None) -> dict:
    """The environment a kernel gets: this process's, without ``MPLBACKEND`` (so that ipykernel
    picks the inline backend), then ``env`` on top (values must be strings)."""
    result = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    for key, value in (env or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"env must map str to str; got {key!r}: {value!r}")
        result[key] = value
    return result


# ------------------------------------------------------------------------------- memory

def _tree_rss(pid: int | None) -> int | None:
    """RSS in bytes of process ``pid`` plus all its descendants; None if it is gone."""
    return _tree_memory(pid)[0]


def _status_bytes(pid: int, name: str) -> int | None:
    """Linux: one memory line of /proc/PID/status (``VmHWM``, ``RssAnon``...) in bytes; None
    where it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{name}:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def anon_rss_bytes(pid: int) -> int | None:
    """Linux: the anonymous resident memory of one process (``RssAnon``): its heap, arrays and
    tensors, without the pages of shared libraries."""
    return _status_bytes(pid, "RssAnon")


def _tree_memory(pid: int | None) -> tuple[int | None, int | None]:
    """(RSS, anonymous RSS) in bytes of process ``pid`` plus all its descendants; (None, None)
    if it is gone; the second is None where /proc does not tell it."""
    if pid is None:
        return None, None
    try:
        process = psutil.Process(pid)
        processes = [process] + process.children(recursive=True)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None, None
    rss, anon = 0, 0
    for member in processes:
        try:
            rss += member.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            if member is process:
                return None, None
            continue
        member_anon = anon_rss_bytes(member.pid)
        anon = None if anon is None or member_anon is None else anon + member_anon
    return rss, anon


def _tree_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of process ``pid`` and its live and waited-for children."""
    try:
        process = psutil.Process(pid)
        times = process.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in process.children(recursive=True):
            try:
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return total
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def _high_water_mark(pid: int) -> int | None:
    """Linux: the process's peak RSS since start or since the last reset (VmHWM), in bytes."""
    return _status_bytes(pid, "VmHWM")


def _reset_high_water_mark(pid: int) -> bool:
    """Linux: reset VmHWM to the current RSS (writing 5 to clear_refs); False if not possible."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class _MemoryWatch:
    """Polls the RSS of a process tree in a thread; ``peak`` is the highest sum seen, and
    ``window_peak`` the highest since the last ``new_window()`` (a cell's peak)."""

    def __init__(self, pid: int, interval: float):
        self.pid, self.interval = pid, interval
        self.peak = self.window_peak = 0
        self.anon_peak: int | None = None     # the highest anonymous RSS polled (Linux)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="vae-teach-rss", daemon=True)
        self.poll()
        self._thread.start()

    def poll(self) -> int | None:
        rss, anon = _tree_memory(self.pid)
        if rss is not None:
            with self._lock:
                self.peak = max(self.peak, rss)
                self.window_peak = max(self.window_peak, rss)
                if anon is not None:
                    self.anon_peak = max(self.anon_peak or 0, anon)
        return rss

    def include(self, value: int | None) -> None:
        if value is not None:
            with self._lock:
                self.peak = max(self.peak, value)
                self.window_peak = max(self.window_peak, value)

    def new_window(self) -> None:
        with self._lock:
            self.window_peak = 0
        self.poll()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            if self.poll() is None and not psutil.pid_exists(self.pid):
                return

    def stop(self) -> None:
        self.poll()
        self._stop.set()
        self._thread.join()


# ------------------------------------------------------------------------------- runner

def execute_notebook(notebook, *, cwd=None, timeout: float | None = 600, env: dict | None = None,
                     kernel_name: str = "python3", allow_errors: bool = False,
                     poll_interval: float = 0.05, startup_timeout: float = 60,
                     keep_kernel: bool = False) -> RunResult:
    """Run ``notebook`` (a path, or an ``nbformat`` notebook, which is executed in place) in a
    fresh kernel, as a student's JupyterLab would, and return a :class:`RunResult`.

    ``cwd``: the kernel's working directory (default: the notebook's folder, or this process's
    working directory for a notebook given as an object).  ``timeout``: seconds allowed per
    cell (None: no limit).  ``env``: extra environment variables for the kernel, e.g.
    ``{"VAE_TEACH_CACHE": folder}``; ``MPLBACKEND`` is removed unless given here.
    ``allow_errors``: run on after a failing cell.  ``poll_interval``: seconds between two RSS
    readings.  ``keep_kernel``: leave the kernel running (a student's JupyterLab keeps it);
    call ``result.shutdown()`` when done.
    """
    from nbclient import NotebookClient

    nb, default_cwd = _open_notebook(notebook)
    cwd = Path(cwd) if cwd is not None else default_cwd
    if not cwd.is_dir():
        raise ValueError(f"cwd must be an existing folder, got {cwd}")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout}")
    if not poll_interval > 0:
        raise ValueError(f"poll_interval must be > 0 seconds, got {poll_interval}")
    kernel_env = kernel_environment(env)

    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                            allow_errors=allow_errors, startup_timeout=startup_timeout,
                            resources={"metadata": {"path": str(cwd)}})
    meter = _CellMeter(client, poll_interval)
    start = time.perf_counter()
    failure = None
    try:
        client.execute(cwd=str(cwd), env=kernel_env, cleanup_kc=not keep_kernel)
    except Exception as error:  # noqa: BLE001 -- a failing notebook is a result, not a crash
        failure = error
    seconds = time.perf_counter() - start
    peak = anon_peak = None
    if meter.watch is not None:
        meter.watch.stop()
        peak, anon_peak = meter.watch.peak, meter.watch.anon_peak

    errors = _errors_in_outputs(nb)
    if failure is not None and not _is_cell_error(failure):
        errors = [e for e in errors if not (e.cell == meter.cell and
                                            e.ename == "KeyboardInterrupt")]  # our interrupt
        errors.append(CellError(meter.cell, type(failure).__name__,
                                _describe(failure, timeout)))
    kept = client if keep_kernel and client.km is not None else None
    return RunResult(notebook=nb, seconds=seconds, peak_rss_bytes=peak,
                     n_images=count_images(nb), errors=errors, cells=meter.cells,
                     kernel_pid=meter.pid, cpu_seconds=meter.cpu, peak_anon_bytes=anon_peak,
                     _client=kept)


def _open_notebook(notebook) -> tuple[nbformat.NotebookNode, Path]:
    """The notebook to run and the kernel's default working directory: the notebook's folder
    for a path, this process's working directory for a notebook object."""
    if isinstance(notebook, (str, os.PathLike)):
        path = Path(notebook)
        if not path.is_file():
            raise FileNotFoundError(f"notebook not found: {path}")
        return nbformat.read(path, as_version=4), path.resolve().parent
    if isinstance(notebook, nbformat.NotebookNode):
        return notebook, Path.cwd()
    raise TypeError(f"notebook must be a path or an nbformat notebook, got "
                    f"{type(notebook).__name__}")


class _CellMeter:
    """The runner's hooks into nbclient: the kernel's pid, each cell's time and peak memory,
    and the kernel's CPU seconds after the last cell."""

    def __init__(self, client, poll_interval: float):
        self.client, self.poll_interval = client, poll_interval
        self.watch: _MemoryWatch | None = None
        self.pid = self.cell = self.cell_start = self.cpu = None
        self.hwm = False
        self.cells: list[CellRecord] = []
        client.on_notebook_start = self.on_notebook_start
        client.on_cell_execute = self.on_cell_execute
        client.on_cell_executed = self.on_cell_executed

    def on_notebook_start(self, notebook):
        self.pid = getattr(getattr(self.client.km, "provisioner", None), "pid", None)
        if self.pid is not None:
            self.watch = _MemoryWatch(self.pid, self.poll_interval)
            self.watch.include(_high_water_mark(self.pid))          # the kernel's start-up

    def on_cell_execute(self, cell, cell_index):
        self.cell, self.cell_start = cell_index, time.perf_counter()
        if self.watch is not None:
            self.watch.include(_high_water_mark(self.pid))
            self.hwm = _reset_high_water_mark(self.pid)
            self.watch.new_window()

    def on_cell_executed(self, cell, cell_index, execute_reply):
        if self.watch is None:
            return
        end = self.watch.poll()
        self.cpu = _tree_cpu_seconds(self.pid)
        if self.hwm:
            self.watch.include(_high_water_mark(self.pid))
        self.cells.append(CellRecord(cell=cell_index,
                                     seconds=time.perf_counter() - self.cell_start,
                                     peak_rss_bytes=self.watch.window_peak,
                                     end_rss_bytes=end or 0))


def _describe(error: Exception, timeout) -> str:
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    if isinstance(error, CellTimeoutError):
        return f"the cell ran longer than the timeout of {timeout:g} s and was interrupted"
    if isinstance(error, DeadKernelError):
        return "the kernel died (out of memory, or killed from outside)"
    lines = [line for line in str(error).strip().splitlines() if line.strip("- ")]
    return lines[-1] if lines else ""


def _is_cell_error(error: Exception) -> bool:
    """True for the exception nbclient raises when a cell raised (already in the outputs)."""
    from nbclient.exceptions import CellExecutionError
    return isinstance(error, CellExecutionError)


def _errors_in_outputs(nb) -> list[CellError]:
    return [CellError(index, output.get("ename", ""), output.get("evalue", ""))
            for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for output in cell.get("outputs", []) if output.get("output_type") == "error"]

