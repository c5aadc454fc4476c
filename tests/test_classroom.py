"""A class on a real JupyterHub: one teacher, four students, the same chapters at the same time.

What the test does, as a teacher and a class would:

1. starts JupyterHub on 127.0.0.1 (``jupyterhub`` from PyPI, ``configurable-http-proxy`` from
   npm, DummyAuthenticator with a shared password, SimpleLocalProcessSpawner: one home folder
   per user under a temporary root), with a teacher (admin) and ``N_STUDENTS`` students;
2. starts every user's server through the hub's REST API and pulls the course into each home
   folder with nbgitpuller (the same request a student's nbgitpuller link makes) from a git
   repository holding this checkout's ``notebooks/``;
3. the teacher, in a kernel of their own server, fills a shared model cache with
   ``python -m vae_teach.cache fill DIR --chapters 07 10`` (the chapters of the lesson; without
   ``--chapters`` it trains every model of the course) and makes it read-only (``chmod -R a-w``);
4. every student's server then runs ``CHAPTERS`` (07 and 10) at the same time, cell by cell in
   a kernel of that server (the server's sessions API + kernel websocket: what JupyterLab does),
   with ``VAE_TEACH_CACHE`` = the teacher's folder, then the student's own.

It checks that every cell of every run is green, that nothing was trained ("trained and cached"
never printed, "loaded a trained model from the cache" printed), that the shared cache is
byte-for-byte what the teacher left (names, sizes, mtimes), that a student cannot reach another
student's server or files through the hub, and it reports, per student, the wall time and the
peak RSS of each kernel, and for the hub the total wall time and the peak RSS of all its
processes together (hub, proxy, servers, kernels), polled every 0.2 s.  The table is printed
and written to ``bench_results/classroom.json`` and ``.md`` (git-ignored).  Timings are the
machine's at that moment: the goal numbers live in docs/teaching.md, nothing is asserted on time.

Isolation: SimpleLocalProcessSpawner runs every server as the user who runs the test (root in
CI), so students are separated by the hub (a student's token cannot open another student's
server) and by the Jupyter server's root folder (the file browser and the contents API cannot
leave the home folder), not by the operating system: a student's Python code could read
another home folder.  A hub for real students uses system users (LocalProcessSpawner, homes
0700) or containers (DockerSpawner, KubeSpawner); see deploy/README.md.

Run with ``python -m pytest -m classroom -n 0 -s``.  It needs ``configurable-http-proxy`` on
PATH (``npm install -g configurable-http-proxy@5.3.0``) or its folder in
``VAE_TEACH_CHP_BIN``; without it the test fails with that hint (on a laptop,
``VAE_TEACH_SKIP_CLASSROOM=1`` turns this into a skip; never in CI).
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.classroom

requests = pytest.importorskip("requests")
psutil = pytest.importorskip("psutil")
from vae_teach_tools.runner import anon_rss_bytes  # noqa: E402  (after the skips above)

ROOT = Path(__file__).resolve().parent.parent
REPORT_DIR = ROOT / "bench_results"
N_STUDENTS = int(os.environ.get("VAE_TEACH_CLASS_SIZE", "4"))
CHAPTERS = os.environ.get("VAE_TEACH_CLASS_CHAPTERS",
                          "07_training_a_vae.ipynb,10_kl_and_mutual_information.ipynb").split(",")
PASSWORD = "classroom-" + secrets.token_hex(4)
# time bounds (seconds): every wait in the test has one, so a hung hub or kernel fails the test
HUB_START_S = 90
SERVER_START_S = 120
PULL_S = 120
FILL_S = 900
CELL_S = 300
NOTEBOOK_S = 600
CHP_HINT = ("configurable-http-proxy (npm) is needed: `npm install -g configurable-http-proxy@5.3.0`,"
            " or install it into a folder and set VAE_TEACH_CHP_BIN to its node_modules/.bin. "
            "On a laptop, VAE_TEACH_SKIP_CLASSROOM=1 skips this test (never in CI).")
TRAINED = "trained and cached"
LOADED = "loaded a trained model from the cache"


# ------------------------------------------------------------------------------ helpers

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _find_chp() -> str:
    folder = os.environ.get("VAE_TEACH_CHP_BIN")
    path = os.pathsep.join(filter(None, [folder, os.environ.get("PATH", "")]))
    chp = shutil.which("configurable-http-proxy", path=path)
    if chp is None:
        if os.environ.get("VAE_TEACH_SKIP_CLASSROOM") and os.environ.get("CI") != "true":
            pytest.skip(CHP_HINT)
        pytest.fail(CHP_HINT)
    return chp


def _listing(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every file and folder under ``folder``: relative path -> (size, mtime_ns, mode)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        out[str(path.relative_to(folder))] = (st.st_size, st.st_mtime_ns, st.st_mode)
    st = folder.lstat()
    out["."] = (0, st.st_mtime_ns, st.st_mode)
    return out


def _make_course_repo(dest: Path) -> str:
    """A git repository holding this checkout's notebooks (what the teacher's link points at)."""
    dest.mkdir(parents=True)
    shutil.copytree(ROOT / "notebooks", dest / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    env = dict(os.environ, GIT_AUTHOR_NAME="teacher", GIT_AUTHOR_EMAIL="teacher@example.org",
               GIT_COMMITTER_NAME="teacher", GIT_COMMITTER_EMAIL="teacher@example.org")
    for args in (["init", "-q", "-b", "main"], ["add", "notebooks"],
                 ["commit", "-q", "-m", "course"]):
        subprocess.run(["git", *args], cwd=dest, env=env, check=True, timeout=60)
    return dest.as_uri()


HUB_CONFIG = """\
c = get_config()  # noqa
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{chp!r}]
c.ConfigurableHTTPProxy.debug = False
c.JupyterHub.db_url = "sqlite:///{tmp}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{tmp}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = "{tmp}/jupyterhub.pid"
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allowed_users = set({users!r})
c.Authenticator.admin_users = {{"teacher"}}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{homes}/{{username}}"
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.args = ["--allow-root", "--ServerApp.terminals_enabled=False"]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = {server_start}
c.Spawner.http_timeout = {server_start}
c.Spawner.environment = {environment!r}
c.JupyterHub.services = [{{"name": "classroom-test", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{
    "name": "classroom-test",
    "scopes": ["admin:users", "admin:servers", "access:servers", "tokens", "list:users"],
    "services": ["classroom-test"],
}}]
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True
"""


class Hub:
    """A running JupyterHub, driven through its REST API with a service token."""

    def __init__(self, tmp: Path, chp: str, users: list[str], environment: dict):
        self.tmp = tmp
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(24)
        self.homes = tmp / "home"
        self.homes.mkdir()
        bindir = Path(sys.executable).parent
        config = HUB_CONFIG.format(
            port=self.port, hub_port=_free_port(), proxy_api_port=_free_port(), chp=chp,
            tmp=tmp, password=PASSWORD, users=users, homes=self.homes,
            singleuser=str(bindir / "jupyterhub-singleuser"), server_start=SERVER_START_S,
            environment=environment, token=self.token)
        (tmp / "jupyterhub_config.py").write_text(config)
        env = dict(os.environ, PATH=os.pathsep.join([str(bindir), str(Path(chp).parent),
                                                      os.environ.get("PATH", "")]))
        env.pop("MPLBACKEND", None)   # students see their figures inline
        self.log = open(tmp / "jupyterhub.log", "w")
        self.proc = subprocess.Popen(
            [str(bindir / "jupyterhub"), "-f", str(tmp / "jupyterhub_config.py")],
            cwd=tmp, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {self.token}"

    # -- REST
    def api(self, method: str, path: str, **kwargs):
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, f"{self.url}/hub/api{path}", **kwargs)

    def user_api(self, user: str, method: str, path: str, **kwargs):
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, f"{self.url}/user/{user}/api{path}", **kwargs)

    def wait_up(self) -> None:
        deadline = time.monotonic() + HUB_START_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"JupyterHub exited with {self.proc.returncode}:\n"
                                     + self.log_tail())
            try:
                if self.api("GET", "/", timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"JupyterHub did not answer within {HUB_START_S} s:\n"
                             + self.log_tail())

    def start_servers(self, users: list[str]) -> None:
        for user in users:
            r = self.api("POST", f"/users/{user}/server")
            assert r.status_code in (201, 202), (user, r.status_code, r.text)
        deadline = time.monotonic() + SERVER_START_S
        pending = set(users)
        while pending and time.monotonic() < deadline:
            for user in sorted(pending):
                model = self.api("GET", f"/users/{user}").json()
                if model.get("servers", {}).get("", {}).get("ready"):
                    pending.discard(user)
            time.sleep(0.5)
        assert not pending, (f"servers of {sorted(pending)} not ready within {SERVER_START_S} s:\n"
                             + self.log_tail())

    def log_tail(self, n: int = 60) -> str:
        self.log.flush()
        lines = (self.tmp / "jupyterhub.log").read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def processes(self) -> list:
        try:
            hub = psutil.Process(self.proc.pid)
            return [hub, *hub.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        """Stop everything the hub started: servers (through the API), then the hub (SIGTERM to
        its process group: it stops the proxy), then kill whatever is left, group by group."""
        leftovers = self.processes()
        try:
            for user in self.api("GET", "/users", timeout=10).json():
                if user.get("servers"):
                    self.api("DELETE", f"/users/{user['name']}/server", timeout=30)
        except Exception:
            pass
        leftovers += [p for p in self.processes() if p not in leftovers]
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        groups = set()
        for proc in leftovers:
            try:
                groups.add(os.getpgid(proc.pid))
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass
        groups.discard(os.getpgid(0))
        for group in groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for proc in leftovers:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


class MemoryWatch(threading.Thread):
    """Polls the RSS of every process of the hub; keeps the peak per kernel and in total."""

    def __init__(self, hub: Hub, period: float = 0.2):
        super().__init__(daemon=True)
        self.hub, self.period = hub, period
        self.kernel_peak: dict[str, int] = {}   # kernel id -> peak RSS (bytes)
        self.kernel_anon_peak: dict[str, int] = {}   # kernel id -> peak anonymous RSS (Linux)
        self.total_peak = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            total = 0
            for proc in self.hub.processes():
                try:
                    rss = proc.memory_info().rss
                    cmdline = proc.cmdline()
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                total += rss
                for arg in cmdline:
                    if "kernel-" in arg and arg.endswith(".json"):
                        kid = Path(arg).stem[len("kernel-"):]
                        self.kernel_peak[kid] = max(self.kernel_peak.get(kid, 0), rss)
                        anon = anon_rss_bytes(proc.pid)
                        if anon is not None:
                            self.kernel_anon_peak[kid] = max(self.kernel_anon_peak.get(kid, 0), anon)
            self.total_peak = max(self.total_peak, total)
            self.stopped.wait(self.period)


# ------------------------------------------------------------------------------ kernels

async def run_code_cells(hub: Hub, user: str, kernel_id: str, cells: list[str],
                         cell_timeout: float = CELL_S) -> dict:
    """Execute ``cells`` one by one in the kernel through its websocket (the JSON protocol
    JupyterLab speaks).  Returns {"outputs": text, "error": None or traceback, "cells": n}."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    ws_url = hub.url.replace("http", "ws", 1) + f"/user/{user}/api/kernels/{kernel_id}/channels"
    request = HTTPRequest(ws_url, headers={"Authorization": f"token {hub.token}"},
                          connect_timeout=30, request_timeout=30)
    conn = await websocket_connect(request, max_message_size=256 * 1024 * 1024)
    session = uuid.uuid4().hex
    texts: list[str] = []
    try:
        for index, source in enumerate(cells):
            msg_id = uuid.uuid4().hex
            conn.write_message(json.dumps({
                "header": {"msg_id": msg_id, "username": user, "session": session,
                           "msg_type": "execute_request", "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": source, "silent": False, "store_history": True,
                            "user_expressions": {}, "allow_stdin": False,
                            "stop_on_error": True}}))
            idle = replied = False
            status = None
            cell_deadline = time.monotonic() + cell_timeout
            error = None
            while not (idle and replied):
                left = cell_deadline - time.monotonic()
                if left <= 0:
                    return {"outputs": "".join(texts), "cells": index,
                            "error": f"cell {index} not finished within {cell_timeout} s"}
                try:
                    raw = await asyncio.wait_for(conn.read_message(), timeout=left)
                except asyncio.TimeoutError:
                    continue
                if raw is None:
                    return {"outputs": "".join(texts), "cells": index,
                            "error": f"cell {index}: the kernel's websocket closed"}
                if isinstance(raw, bytes):
                    continue   # binary frames (widget buffers) carry no text we check
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                content = msg["content"]
                if kind == "stream":
                    texts.append(content["text"])
                elif kind == "error":
                    error = "\n".join(content.get("traceback", [])) or content.get("evalue")
                elif kind == "execute_reply":
                    replied, status = True, content["status"]
                elif kind == "status" and content["execution_state"] == "idle":
                    idle = True
            if status != "ok" or error:
                return {"outputs": "".join(texts), "cells": index,
                        "error": f"cell {index} ({status}):\n{error}\n--- source:\n{source}"}
        return {"outputs": "".join(texts), "cells": len(cells), "error": None}
    finally:
        conn.close()


async def run_notebook(hub: Hub, user: str, path: str, watch: MemoryWatch) -> dict:
    """Open ``path`` (relative to the user's home) in a new kernel of the user's server, as
    JupyterLab does (a session), run its code cells, shut the kernel down."""
    loop = asyncio.get_running_loop()
    nb = await loop.run_in_executor(None, lambda: hub.user_api(user, "GET", f"/contents/{path}"))
    assert nb.status_code == 200, (user, path, nb.status_code, nb.text[:500])
    cells = [cell["source"] for cell in nb.json()["content"]["cells"]
             if cell["cell_type"] == "code" and cell["source"].strip()]
    started = time.monotonic()
    r = await loop.run_in_executor(None, lambda: hub.user_api(
        user, "POST", "/sessions", json={"path": path, "type": "notebook", "name": Path(path).name,
                                         "kernel": {"name": "python3"}}))
    assert r.status_code == 201, (user, path, r.status_code, r.text[:500])
    session_id, kernel_id = r.json()["id"], r.json()["kernel"]["id"]
    try:
        result = await asyncio.wait_for(run_code_cells(hub, user, kernel_id, cells),
                                        timeout=NOTEBOOK_S)
    except asyncio.TimeoutError:
        result = {"outputs": "", "cells": None, "error": f"not finished within {NOTEBOOK_S} s"}
    result["seconds"] = time.monotonic() - started
    await asyncio.sleep(0.5)   # one more RSS poll after the last cell
    result["peak_rss"] = watch.kernel_peak.get(kernel_id, 0)
    result["peak_anon"] = watch.kernel_anon_peak.get(kernel_id)
    result["code_cells"] = len(cells)
    await loop.run_in_executor(None, lambda: hub.user_api(user, "DELETE", f"/sessions/{session_id}"))
    return result


async def run_class(hub: Hub, students: list[str], watch: MemoryWatch) -> dict:
    async def one_student(user):
        runs = {}
        for chapter in CHAPTERS:
            runs[chapter] = await run_notebook(hub, user, f"vae-teach/notebooks/{chapter}", watch)
        return user, runs
    started = time.monotonic()
    results = dict(await asyncio.gather(*(one_student(u) for u in students)))
    return {"students": results, "seconds": time.monotonic() - started}


def _run_in_kernel(hub: Hub, user: str, code: str, timeout: float) -> dict:
    async def go():
        r = hub.user_api(user, "POST", "/kernels", json={"name": "python3"})
        assert r.status_code == 201, r.text
        kernel_id = r.json()["id"]
        try:
            return await run_code_cells(hub, user, kernel_id, [code], cell_timeout=timeout)
        finally:
            hub.user_api(user, "DELETE", f"/kernels/{kernel_id}")
    return asyncio.run(go())


def _login(hub: Hub, user: str):
    """A browser-like session of ``user``, logged in with the class password."""
    browser = requests.Session()
    browser.get(f"{hub.url}/hub/login", timeout=30)
    r = browser.post(f"{hub.url}/hub/login", timeout=30,
                     data={"username": user, "password": PASSWORD,
                           "_xsrf": browser.cookies.get("_xsrf", "")})
    assert r.status_code == 200 and "/hub/login" not in r.url, (user, r.status_code, r.url)
    return browser


def _pull_course(hub: Hub, user: str, repo_url: str) -> None:
    """What a student's nbgitpuller link does, with the student's own login: the link redirects
    to their server's git-pull page, whose script calls git-pull/api (a stream of events)."""
    from vae_teach_tools.classroom import nbgitpuller_link
    link = nbgitpuller_link(hub.url, repo_url, branch="main", folder="vae-teach")
    browser = _login(hub, user)
    page = browser.get(link, timeout=60)
    assert page.status_code == 200 and f"/user/{user}/git-pull" in page.url, (user, page.url)
    query = page.url.split("?", 1)[1]
    r = browser.get(f"{hub.url}/user/{user}/git-pull/api?{query}", stream=True, timeout=PULL_S)
    assert r.status_code == 200, (user, r.status_code, r.text[:500])
    phases = []
    for line in r.iter_lines(decode_unicode=True):
        if line and line.startswith("data:"):
            event = json.loads(line[len("data:"):])
            phases.append(event)
            if event.get("phase") in ("finished", "error"):
                break
    assert phases and phases[-1].get("phase") == "finished", (user, phases[-3:])


# ------------------------------------------------------------------------------ the test

def _table(result: dict, n_students: int, hub_peak: int) -> str:
    lines = [f"{n_students} students at the same time, each running "
             + " then ".join(c.split("_")[0] for c in CHAPTERS)
             + f" in a fresh kernel; {os.cpu_count()} CPU cores; load average "
             f"{[round(x, 2) for x in os.getloadavg()]} at the end.", "",
             "| student | " + " | ".join(f"{c.split('_')[0]} wall | {c.split('_')[0]} peak RSS "
                                          f"(anonymous)" for c in CHAPTERS) + " | total wall |",
             "|---|" + "---|---|" * len(CHAPTERS) + "---|"]
    for user, runs in result["students"].items():
        cols = []
        for chapter in CHAPTERS:
            run = runs[chapter]
            anon = "" if run.get("peak_anon") is None else f" ({run['peak_anon'] / 2**20:.0f})"
            cols += [f"{run['seconds']:.1f} s", f"{run['peak_rss'] / 2**20:.0f}{anon} MiB"]
        total = sum(run["seconds"] for run in runs.values())
        lines.append(f"| {user} | " + " | ".join(cols) + f" | {total:.1f} s |")
    lines += ["", f"Whole class: {result['seconds']:.1f} s wall; peak RSS of all the hub's "
              f"processes together (hub, proxy, {n_students} servers, kernels): "
              f"{hub_peak / 2**20:.0f} MiB."]
    return "\n".join(lines)


def test_class_on_a_hub(tmp_path):
    chp = _find_chp()
    students = [f"student{i}" for i in range(1, N_STUDENTS + 1)]
    users = ["teacher", *students]
    shared = tmp_path / "shared" / "vae-cache"
    shared.mkdir(parents=True)
    environment = {
        # the teacher's read-only folder first, then the student's own (written if ever needed)
        "VAE_TEACH_CACHE": f"{shared}{os.pathsep}{tmp_path / 'home'}/{{username}}/.cache/vae_teach",
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    repo_url = _make_course_repo(tmp_path / "course-repo")
    hub = Hub(tmp_path, chp, users, environment)
    watch = MemoryWatch(hub)
    try:
        hub.wait_up()
        t0 = time.monotonic()
        hub.start_servers(users)
        print(f"\n{len(users)} servers started in {time.monotonic() - t0:.1f} s")

        # distribution: every user logs in and follows the teacher's nbgitpuller link
        t0 = time.monotonic()
        for user in users:
            _pull_course(hub, user, repo_url)
            assert (hub.homes / user / "vae-teach" / "notebooks" / CHAPTERS[0]).is_file()
        print(f"course pulled with nbgitpuller into {len(users)} homes in "
              f"{time.monotonic() - t0:.1f} s")

        # the teacher fills the shared cache from a kernel of their own server, then freezes it
        t0 = time.monotonic()
        fill = _run_in_kernel(hub, "teacher", textwrap.dedent(f"""\
            import subprocess, sys
            r = subprocess.run([sys.executable, "-m", "vae_teach.cache", "fill", {str(shared)!r},
                                "--chapters", *{[c[:2] for c in CHAPTERS]!r}],
                               capture_output=True, text=True)
            print(r.stdout[-3000:]); print(r.stderr[-3000:])
            assert r.returncode == 0, r.returncode
            subprocess.run(["chmod", "-R", "a-w", {str(shared)!r}], check=True)
            """), timeout=FILL_S)
        assert fill["error"] is None, fill["error"] + "\n" + fill["outputs"]
        fill_seconds = time.monotonic() - t0
        print(f"teacher filled the shared cache in {fill_seconds:.1f} s:\n"
              + textwrap.indent(fill["outputs"].strip()[-1500:], "    "))
        before = _listing(shared)
        assert any(name.endswith(".pt") for name in before), "the filled cache holds no model"
        assert all(not mode & 0o222 for _, _, mode in before.values()), "cache still writable"

        # isolation through the hub: a student's own token opens their server, not another's
        token = hub.api("POST", "/users/student1/tokens", json={"note": "isolation check",
                                                                "expires_in": 600}).json()["token"]
        own = requests.get(f"{hub.url}/user/student1/api/contents/vae-teach",
                           headers={"Authorization": f"token {token}"}, timeout=30)
        other = requests.get(f"{hub.url}/user/student2/api/contents/vae-teach",
                             headers={"Authorization": f"token {token}"}, timeout=30,
                             allow_redirects=False)
        assert own.status_code == 200, own.status_code
        assert other.status_code in (302, 403, 404), other.status_code
        escape = requests.get(f"{hub.url}/user/student1/api/contents/../student2",
                              headers={"Authorization": f"token {token}"}, timeout=30)
        assert escape.status_code in (400, 403, 404), escape.status_code

        # the class: every student runs the chapters at the same time
        watch.start()
        result = asyncio.run(run_class(hub, students, watch))
        watch.stopped.set()
        watch.join(timeout=5)
        after = _listing(shared)

        table = _table(result, len(students), watch.total_peak)
        print("\n" + table)
        REPORT_DIR.mkdir(exist_ok=True)
        (REPORT_DIR / "classroom.md").write_text(table + "\n")
        (REPORT_DIR / "classroom.json").write_text(json.dumps({
            "students": {u: {c: {k: run[k] for k in ("seconds", "peak_rss", "peak_anon", "code_cells")}
                             for c, run in runs.items()}
                         for u, runs in result["students"].items()},
            "class_seconds": result["seconds"], "hub_peak_rss": watch.total_peak,
            "fill_seconds": fill_seconds, "n_students": len(students), "chapters": CHAPTERS,
            "cpu_count": os.cpu_count(), "loadavg_end": os.getloadavg()}, indent=2))

        failures = []
        for user, runs in result["students"].items():
            for chapter, run in runs.items():
                if run["error"]:
                    failures.append(f"{user} {chapter}: {run['error']}")
                    continue
                if TRAINED in run["outputs"]:
                    failures.append(f"{user} {chapter} trained a model:\n{run['outputs'][-2000:]}")
                if LOADED not in run["outputs"]:
                    failures.append(f"{user} {chapter} never loaded from the cache:\n"
                                    f"{run['outputs'][-2000:]}")
                if run["peak_rss"] <= 0:
                    failures.append(f"{user} {chapter}: its kernel's memory was never measured")
                elif sys.platform.startswith("linux") and not 0 < run["peak_anon"] < run["peak_rss"]:
                    failures.append(f"{user} {chapter}: anonymous peak {run['peak_anon']} is not "
                                    f"a part of the RSS peak {run['peak_rss']}")
        assert not failures, "\n\n".join(failures)
        assert after == before, ("the shared cache changed: "
                                 f"{sorted(set(after.items()) ^ set(before.items()))}")
        for user in students:   # each student's own cache stayed empty: nothing trained
            own_cache = hub.homes / user / ".cache" / "vae_teach"
            assert not list(own_cache.glob("*.pt")), (user, list(own_cache.iterdir()))
    finally:
        watch.stopped.set()
        hub.stop()
    # nothing the test started is left
    time.sleep(1)
    left = [p for p in psutil.process_iter(["cmdline"])
            if str(tmp_path) in " ".join(p.info["cmdline"] or [])]
    assert not left, [p.info["cmdline"] for p in left]
