import contextlib
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# 2 cores: oversubscribed torch threads were measured 30x slower.
os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

ROOT = Path(__file__).resolve().parents[1]
CI = ["experiment=ci", "tracking.register=true"]  # the tiny setup, opted into the registry
MODEL = "tweet-sentiment-classifier"  # what the default data registers as
VENV_BIN = Path(sys.executable).parent


def run(cmd: list[str] | str, cwd: Path, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command with the project's venv first on PATH; output captured for assertions."""
    full_env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", **(env or {})}
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, shell=isinstance(cmd, str))
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{cmd} exited {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
        )
    return proc


def copy_repo(dest: Path) -> Path:
    """The repository's tracked (and untracked, not ignored) files, as a fresh git repo at dest."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)
    for cmd in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"],
    ):
        subprocess.run(cmd, cwd=dest, check=True, capture_output=True)
    return dest


@functools.cache  # the scheduler asks once per test
def _module_scope(module: str) -> str | None:
    """The module itself when its tests share a module-scoped fixture (they run on one worker,
    which builds it once), else None: each test is a unit of its own."""
    path = ROOT / module
    return module if path.is_file() and 'scope="module"' in path.read_text() else None


@functools.cache
def _family(module: str) -> str:
    """Which session-wide build a module's tests wait for: "ci_pipeline", "first_retrain" or
    "" (none). Read from the module's text: the scheduler sees node ids, not fixtures."""
    path = ROOT / module
    text = path.read_text() if path.is_file() else ""
    return next((name for name in ("first_retrain", "ci_pipeline") if re.search(rf"\b{name}\b", text)), "")


def work_order(units: list[str]) -> list[str]:
    """The families (`_family`) dealt out in turn, integration tests first within each: the first
    two units ask for different builds, so the two workers build `ci_pipeline` and
    `first_retrain` side by side, and the long tests go out before the short ones (a long test
    sent last runs alone at the end)."""
    families: dict[str, list[str]] = {"ci_pipeline": [], "first_retrain": [], "": []}
    for unit in units:
        families[_family(unit.split("::", 1)[0])].append(unit)
    queues = [sorted(f, key=lambda u: not u.startswith("tests/integration/")) for f in families.values()]
    ordered = []
    while any(queues):
        ordered += [q.pop(0) for q in queues if q]
    return ordered


@pytest.hookimpl(optionalhook=True)  # xdist's hook: absent under -p no:xdist
def pytest_xdist_make_scheduler(config, log):
    """Our own `--dist loadgroup`: a test is a unit of its own unless its module shares a
    module-scoped fixture, the units go out in `work_order` (skipping, for a worker, the tests of
    a build another worker is still running), and a worker is sent its next unit when it has one
    test left, not two (xdist's default): a long test prefetched behind another long one waited
    while the other worker sat idle. (xdist's own `loadgroup` marks groups by
    rewriting a test's node id, which pytest 9 no longer lets it do.)"""
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SessionBuildScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _module_scope(nodeid.split("::", 1)[0]) or nodeid

        def __init__(self, config, log=None) -> None:
            super().__init__(config, log)
            self.ordered = False
            self.builder: dict[str, object] = {}  # family -> the node sent its first test (it builds)
            self.built: set[str] = set()  # families with a finished test: their build is done

        def _assign_work_unit(self, node) -> None:
            if not self.ordered:  # the queue is built in collection order
                self.workqueue = type(self.workqueue)((u, self.workqueue[u]) for u in work_order(list(self.workqueue)))
                self.ordered = True
            # the first unit this node can start at once: not one that would wait on the lock of a
            # build another node is running (a unit test worker had waited 145 s for the ci pipeline)
            for unit in self.workqueue:
                family = _family(unit.split("::", 1)[0])
                if not family or family in self.built or self.builder.setdefault(family, node) is node:
                    self.workqueue.move_to_end(unit, last=False)
                    break
            super()._assign_work_unit(node)

        def mark_test_complete(self, node, item_index: int, duration: float = 0) -> None:
            self.built.add(_family(self.registered_collections[node][item_index].split("::", 1)[0]))
            super().mark_test_complete(node, item_index, duration)

        def _reschedule(self, node) -> None:
            if node.shutting_down or not self.workqueue:
                return super()._reschedule(node)
            # a worker runs a test once it holds the next one (pytest's teardown needs it): one
            # test ahead is all it needs
            if self._pending_of(self.assigned_work[node]) <= 1:
                self._assign_work_unit(node)

    return SessionBuildScheduling(config, log)


@contextlib.contextmanager
def _exclusive(lock: Path):
    import fcntl

    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture
def two_node_ray(tmp_path_factory):
    """A Ray cluster of two nodes on this machine, one CPU each, as `ray start` makes one; its
    address. One such test at a time over the xdist workers (`ray stop` ends every Ray process),
    and never `ray.init()`'s own local cluster: it leaves ~/.ray/auth_token, and a second node
    then fails to join any later cluster. Ray keeps Unix sockets under --temp-dir, whose path
    must stay short."""
    import socket
    import tempfile

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    ray = str(Path(sys.executable).parent / "ray")
    with _exclusive(root / "ray.lock"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
        common = ["--num-cpus=1", "--disable-usage-stats"]
        head = [ray, "start", "--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}"]
        try:
            subprocess.run([*head, *common], check=True, capture_output=True)
            subprocess.run([ray, "start", f"--address=127.0.0.1:{port}", *common], check=True, capture_output=True)
            yield f"127.0.0.1:{port}"
        finally:
            subprocess.run([ray, "stop", "--force"], capture_output=True)
            shutil.rmtree(temp, ignore_errors=True)


def built_once(tmp_path_factory, name: str, build) -> tuple[Path, dict]:
    """`build(folder) -> dict` run once per test session, by whichever xdist worker asks first;
    the other waits on a file lock and then reads the same folder (its tests only read it, or copy
    it). Returns (folder, what build returned). A failed build is reported to every asker."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's temp root, above each worker's own
    base, done, failed = root / name, root / f"{name}.json", root / f"{name}.failed"
    with _exclusive(root / f"{name}.lock"):
        if failed.exists():
            pytest.fail(f"{name} failed to build in another worker:\n{failed.read_text()}", pytrace=False)
        if not done.exists():
            base.mkdir()
            try:
                built = build(base)
            except BaseException as e:
                failed.write_text(str(e))
                raise
            done.write_text(json.dumps(built))
    return base, json.loads(done.read_text())


@pytest.fixture(scope="session")
def ci_pipeline(tmp_path_factory):
    """The ci pipeline run once per session with `dvc repro` in a fresh copy: (workspace, env,
    repro output, snapshot). Tests only read the workspace; a test that changes anything starts
    from its own `workspace_from(snapshot, ...)`, a copy of the state right after the first repro,
    so tests run in any order and on either worker."""

    def build(base: Path) -> dict:
        ws = copy_repo(base / "repo")
        env = {"MLFLOW_TRACKING_URI": f"sqlite:///{ws}/mlflow.db"}
        run(["python", "-m", "llmops.config", *CI], cwd=ws)
        first = run(["dvc", "repro"], cwd=ws, env=env)
        shutil.copytree(ws, base / "snapshot", symlinks=True)
        return {"args": first.args, "stdout": first.stdout, "stderr": first.stderr}

    base, built = built_once(tmp_path_factory, "ci_pipeline", build)
    ws = base / "repo"
    first = subprocess.CompletedProcess(built["args"], 0, built["stdout"], built["stderr"])
    return ws, {"MLFLOW_TRACKING_URI": f"sqlite:///{ws}/mlflow.db"}, first, base / "snapshot"


def workspace_from(snapshot: Path, dest: Path, keep_store: bool = False) -> tuple[Path, dict]:
    """A copy of the pipeline snapshot with its own MLflow store: empty, or (`keep_store`) a copy
    of the snapshot's, with its runs and registered champion. MLflow records artifact locations as
    absolute paths, so in a kept store the first pipeline's artifacts stay where that pipeline
    wrote them (read-only for the copy; its own new runs only add folders there)."""
    shutil.copytree(snapshot, dest, symlinks=True)
    if not keep_store:
        shutil.rmtree(dest / "mlruns", ignore_errors=True)
        (dest / "mlflow.db").unlink(missing_ok=True)
    return dest, {"MLFLOW_TRACKING_URI": f"sqlite:///{dest}/mlflow.db"}


SESSION_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI")  # as the worker process found it


@pytest.fixture(autouse=True)
def _tracking_uri_left_as_found():
    """`mlflow.set_tracking_uri` also exports MLFLOW_TRACKING_URI, so a test that logs in-process
    would hand its store to every later subprocess: a queued `dvc exp run` started without an env
    then logged into that test's store, and the outcome depended on test order. After each test
    the variable is put back as the session found it, not as the test found it: a module-scoped
    fixture sets it before this fixture looks (tests/tracking/test_registry.py's store leaked into
    a later queued experiment on the same worker)."""
    yield
    if "mlflow" in sys.modules:
        import mlflow

        mlflow.set_tracking_uri(None)  # clears mlflow's global and the exported variable
    if SESSION_TRACKING_URI is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = SESSION_TRACKING_URI


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    return copy_repo(tmp_path / "repo")


def tiny_llama_config(tok, **extra):
    """A one-layer, 16-wide Llama config over `tok`'s vocabulary: random models for tests that
    need a saved LM or classifier directory, not a trained one."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        **extra,
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, seconds: float) -> None:
    import time
    import urllib.request

    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {seconds} s")


@contextlib.contextmanager
def background_server(cmd: list[str], ready_path: str, port: int, **popen):
    """Start `cmd` in its own process group, wait until 127.0.0.1:port answers `ready_path`, yield
    the base URL, and stop the whole group afterwards (no process may outlive the test)."""
    proc = subprocess.Popen(cmd, start_new_session=True, **popen)
    try:
        wait_http(f"http://127.0.0.1:{port}{ready_path}", proc, 120)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def tracking_server(ws: Path, db_name: str = "server.db"):
    """`python -m llmops.tracking.server` (what `make mlflow-server` runs) on a free loopback port."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "llmops.tracking.server",
        "--port",
        str(port),
        "--db",
        str(ws / db_name),
        "--artifacts",
        str(ws / "server-artifacts"),
    ]
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    return background_server(
        cmd, "/health", port, cwd=ws, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


# only the evaluate runs: the ones with f1_macro
FILTER = "attributes.run_name%20LIKE%20%27evaluate%25%27"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def mlflow_ui_pages(ws: Path, experiment_id: str, run_ids: list[str], out: Path) -> dict[str, tuple[str, Path]]:
    """The MLflow UI over the workspace's store (served as `make mlflow-ui` serves it), rendered by
    headless Chromium: the /llmops landing page, the experiment as a click on it opens it, its runs
    table (filtered to evaluate runs), the compare page of `run_ids` and the registered model's page.
    Returns {page: (DOM after the scripts ran, screenshot)}; screenshots stay in `out` (a temp
    folder), whose path the test prints."""
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI"):
            raise AssertionError("chromium is missing in CI: .ci/run installs it with `make browser`")
        pytest.skip("chromium not installed (make browser)")
    out.mkdir(parents=True, exist_ok=True)
    quoted = lambda ids: "%5B" + ",".join(f"%22{i}%22" for i in ids) + "%5D"  # noqa: E731  a JSON list in a URL
    pages = {  # in this order, in one browser profile: the landing page sets the browser's default view
        "landing": "llmops",  # what `make mlflow-ui` prints: the runs in the Model training view
        "experiment": f"#/experiments/{experiment_id}",  # where a click on the experiment lands
        "runs": f"#/experiments/{experiment_id}/runs?searchFilter={FILTER}",
        "compare": f"#/compare-runs?runs={quoted(run_ids)}&experiments={quoted([experiment_id])}",
        "model": f"#/models/{MODEL}",
    }
    result = {}
    with tracking_server(ws, "mlflow.db") as uri:
        for name, fragment in pages.items():
            common = [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={out / 'profile'}",
                "--window-size=1800,2400",
                "--virtual-time-budget=30000",
            ]
            url = f"{uri}/{fragment}"
            dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=180).stdout
            shot = out / f"mlflow_ui_{name}.png"
            subprocess.run([*common, f"--screenshot={shot}", url], capture_output=True, timeout=180, check=True)
            result[name] = (dom, shot)
    print(f"MLflow UI screenshots: {out}")
    return result
