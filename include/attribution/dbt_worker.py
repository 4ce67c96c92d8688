"""dbt started once: a long-lived process in the dbt environment that runs each build it is sent.

A dbt process pays 5-7 s before its first node on a 2-core machine (Python, dbt's imports, the
project's parse, the adapter) whatever the build has to do (BENCHMARKS.md). The worker pays the
imports once and the parse once per version of the project, then runs every command it is sent
through dbt's programmatic runner with the parsed manifest (``dbtRunner(manifest=...)``).

Two roles in one file, run by the dbt environment's Python, standard library only at import (the
Airflow environment imports it too, for the paths; dbt-bigquery and the Google provider cannot
share an environment):

- ``dbt_worker.py serve --socket PATH``: the worker. One request at a time (one writer at a time,
  like the pool the writing tasks share); it holds ``PATH.lock`` while it lives, so a second worker
  for the same socket exits at once.
- ``dbt_worker.py run ARGS...`` (``include/bin/dbt-worker-client``, the pipeline's dbt executable): the
  command line of dbt. It sends the arguments, the working directory and the environment to the
  worker named by ``ATTRIBUTION_DBT_WORKER_SOCKET``, prints dbt's output as it comes (the JSON log lines
  Cosmos reads), and exits with dbt's exit code. When no worker answers it starts one.

A worker re-parses when a request's project differs from the one it parsed: any file of the project
(size or modification time), profiles.yml, the target, the profile, ``--vars``, or an ``ATTRIBUTION_*``
or ``DBT_*`` variable. Each build gets its own copy of the parsed manifest (dbt records compilation
on it). Between builds it holds nothing open: the embedded warehouse's file lock is released, so
the loader and the dashboard's publisher can write.

If the client goes away mid-build (its task was killed) the worker exits, as a killed dbt process
would; if the worker dies mid-build, the client says so and exits 1, the task fails (its alert
names it), and the next request starts a new worker. Either way the build's transaction is not
committed, and the next run rebuilds what was loaded (``landing.build_reason``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path

SOCKET_VARIABLE = "ATTRIBUTION_DBT_WORKER_SOCKET"
"""Where the client finds the worker; the pipeline's dbt environment carries it."""
CLIENT = Path(__file__).resolve().parents[1] / "bin" / "dbt-worker-client"
"""The dbt executable the pipeline's tasks run."""
END = "\0"
"""Starts the worker's last line (the exit code); dbt's output lines never start with it."""
START_TIMEOUT_SECONDS = 180
PROJECT_OPTIONS = ("--project-dir", "--profiles-dir", "--profile", "--target", "-t", "--vars")
"""The options a parse depends on, carried from a request to the parse the worker runs for it."""
_PATH_OPTIONS = ("--project-dir", "--profiles-dir")  # keyed by what they hold: Cosmos copies both per run
_NOT_PROJECT_FILES = {"target", "logs", "profiles.yml", "package-lock.yml"}  # what Cosmos does not copy
_SOCKET_PATH_MAX = 107  # bytes of a Unix socket's path (Linux)
_MANIFESTS_KEPT = 2  # the pipeline's build and the data-quality DAG's tests (their --vars differ)


def socket_in(airflow_home: Path) -> Path:
    """The worker's socket for the tasks of one Airflow home (its pid, lock and log files beside it)."""
    return airflow_home / "run" / "dbt-worker.sock"


def pid_path(socket_path: Path) -> Path:
    return socket_path.with_suffix(".pid")


def log_path(socket_path: Path) -> Path:
    return socket_path.with_suffix(".log")


def lock_path(socket_path: Path) -> Path:
    return socket_path.with_suffix(".lock")


# --- the worker -------------------------------------------------------------------------------


def _option(argv: list[str], *names: str) -> str | None:
    """The value of the last of ``names`` in ``argv`` (``--name value`` or ``--name=value``)."""
    value = None
    for index, arg in enumerate(argv):
        for name in names:
            if arg == name and index + 1 < len(argv):
                value = argv[index + 1]
            elif arg.startswith(name + "="):
                value = arg.split("=", 1)[1]
    return value


def _project_options(argv: list[str], without: tuple[str, ...] = ()) -> list[str]:
    options: list[str] = []
    for name in PROJECT_OPTIONS:
        if name not in without and (value := _option(argv, name)) is not None:
            options += ["--target" if name == "-t" else name, value]
    return options


def project_key(argv: list[str], cwd: str, env: dict[str, str]) -> str:
    """What a parse of this request's project depends on, hashed: equal keys, equal manifests."""
    project_dir = Path(_option(argv, "--project-dir") or cwd)
    files = []
    for root, dirs, names in os.walk(project_dir, followlinks=True):
        top = Path(root) == project_dir
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (top and d in _NOT_PROJECT_FILES))
        for name in sorted(names):
            if top and name in _NOT_PROJECT_FILES:
                continue
            stat = (Path(root) / name).stat()
            files.append([str((Path(root) / name).relative_to(project_dir)), stat.st_size, stat.st_mtime_ns])
    profiles = Path(_option(argv, "--profiles-dir") or project_dir) / "profiles.yml"
    key = {
        "files": files,
        "profiles": profiles.read_text() if profiles.exists() else None,
        "options": _project_options(argv, without=_PATH_OPTIONS),
        "env": sorted((k, v) for k, v in env.items() if k.startswith(("ATTRIBUTION_", "DBT_"))),
    }
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()


class _Client:
    """The connected client: dbt's output goes to it line by line; if it goes away, so does the build."""

    def __init__(self, connection: socket.socket):
        self.connection = connection
        self.buffer = ""
        self.lock = threading.Lock()  # dbt's threads log side by side
        self.done = False

    def write(self, text: str) -> int:
        with self.lock:
            if self.done:  # dbt's loggers may outlive the request: what comes later goes to the worker's log
                return sys.__stdout__.write(text)
            self.buffer += text
            if "\n" in self.buffer:
                lines, self.buffer = self.buffer.rsplit("\n", 1)
                self._send(lines + "\n")
        return len(text)

    def flush(self) -> None:
        with self.lock:
            if self.buffer and not self.done:
                self._send(self.buffer + "\n")
                self.buffer = ""

    def finish(self, code: int) -> None:
        """The last line: dbt's exit code."""
        self.flush()
        with self.lock:
            self.done = True
            self._send(f"{END}{json.dumps({'exit': code})}\n")

    def _send(self, text: str) -> None:
        try:
            self.connection.sendall(text.encode())
        except OSError:
            if not self.done:
                _client_gone()

    def watch(self) -> None:
        """Exit when the client closes its end mid-build (it sends nothing after its request)."""

        def wait() -> None:
            with contextlib.suppress(OSError):
                if self.connection.recv(1):
                    return
            if not self.done:
                _client_gone()

        threading.Thread(target=wait, daemon=True).start()


def _client_gone() -> None:
    # A killed task's build stops, as a killed dbt process would: uncommitted, nothing half-written.
    print("dbt worker: the client went away mid-build; stopping", file=sys.__stderr__, flush=True)
    os._exit(3)


@contextlib.contextmanager
def _request_process_state(cwd: str, env: dict[str, str]):
    """The request's working directory and environment, exactly, for the length of one invocation."""
    saved_cwd, saved_env = os.getcwd(), dict(os.environ)  # the worker's own: its socket's directory
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)


def _release_warehouse() -> None:
    """Close dbt-duckdb's database between builds: it keeps it open for the process's life, and with it
    the file's lock, which the loader and the publisher need."""
    duckdb_connections = sys.modules.get("dbt.adapters.duckdb.connections")
    if duckdb_connections is None:
        return
    manager = duckdb_connections.DuckDBConnectionManager
    with manager._LOCK:
        if manager._ENV is not None:
            manager._ENV.close()
            manager._ENV = None


def _exit_code(result, client: _Client) -> int:
    """dbt's own exit codes: 0 success, 1 a node failed, 2 dbt itself failed (said, as dbt's command line
    says a usage error: the runner only returns it)."""
    if result.exception is not None:
        client.write(f"dbt: {type(result.exception).__name__}: {result.exception}\n")
        return 2
    return 0 if result.success else 1


class Worker:
    def __init__(self, parse_dir: Path) -> None:
        from dbt.cli.main import dbtRunner

        self.runner, self.parse_dir = dbtRunner, parse_dir
        self.manifests: OrderedDict[str, object] = OrderedDict()

    def _manifest(self, argv: list[str], cwd: str, env: dict[str, str], client: _Client):
        """The parsed manifest of this request's project; parsed now when the project changed."""
        key = project_key(argv, cwd, env)
        if key in self.manifests:
            self.manifests.move_to_end(key)
            return self.manifests[key]
        started = time.monotonic()
        # Parsed where the project's files are, not in the request's copy (Cosmos deletes it after the
        # build): dbt reads a seed's file from the manifest's project root. Its artefacts go to the
        # worker's own directory, not to the project's target/ (Cosmos renders the DAG from that one).
        project = Path(_option(argv, "--project-dir") or cwd, "dbt_project.yml").resolve().parent
        parse = ["parse", *_project_options(argv, without=("--project-dir",)), "--project-dir", str(project),
                 "--target-path", str(self.parse_dir), "--log-path", str(self.parse_dir), "--quiet"]  # fmt: skip
        result = self.runner().invoke(parse)
        if not result.success:
            return None
        self.manifests[key] = result.result
        while len(self.manifests) > _MANIFESTS_KEPT:
            self.manifests.popitem(last=False)
        client.write(f"dbt worker: parsed the project in {time.monotonic() - started:.1f} s (pid {os.getpid()})\n")
        return result.result

    def handle(self, connection: socket.socket) -> None:
        import copy

        with connection, connection.makefile("r", encoding="utf-8") as requests:
            request = json.loads(requests.readline())
            argv, cwd, env = request["argv"], request["cwd"], request["env"]
            client = _Client(connection)
            client.watch()
            code = 2
            try:
                with (
                    _request_process_state(cwd, env),
                    contextlib.redirect_stdout(client),
                    contextlib.redirect_stderr(client),
                ):
                    if argv[:1] == ["parse"]:  # as asked (its manifest's root is the request's copy)
                        code = _exit_code(self.runner().invoke(argv), client)
                    elif (manifest := self._manifest(argv, cwd, env, client)) is not None:
                        code = _exit_code(self.runner(manifest=copy.deepcopy(manifest)).invoke(argv), client)
            except Exception as error:  # noqa: BLE001 - dbt reports its own errors; the worker survives any other
                client.write(f"dbt worker: {type(error).__name__}: {error}\n")
            finally:
                _release_warehouse()
            client.finish(code)


def _locked(socket_path: Path):
    """The worker's lock on ``socket_path``, or None when a live worker holds it (released at exit)."""
    lock = lock_path(socket_path).open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock


def serve(socket_path: Path) -> int:
    """Serve requests on ``socket_path`` until stopped (SIGTERM); 0 at once when a worker already does."""
    import signal

    lock = _locked(socket_path)  # held for this process's life
    if lock is None:
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Its own log, however it was started (by the stack or by a build): the one the client names.
    log = log_path(socket_path).open("ab", buffering=0)
    os.dup2(log.fileno(), sys.stdout.fileno())
    os.dup2(log.fileno(), sys.stderr.fileno())
    os.chdir(socket_path.parent)  # not the directory it was started from: a build's copy, deleted after it
    # dbt imported before the socket answers: a client that connects is served at once
    worker = Worker(socket_path.with_suffix(".parse"))
    socket_path.unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(socket_path))
    socket_path.chmod(0o600)  # requests carry the environment, credentials included
    server.listen(16)
    pid_path(socket_path).write_text(str(os.getpid()))
    print(f"dbt worker: pid {os.getpid()}, serving {socket_path}", flush=True)
    try:
        while True:
            connection, _ = server.accept()
            started = time.monotonic()
            worker.handle(connection)
            print(f"dbt worker: request served in {time.monotonic() - started:.1f} s", flush=True)
    finally:
        socket_path.unlink(missing_ok=True)
        pid_path(socket_path).unlink(missing_ok=True)


# --- the client -------------------------------------------------------------------------------


def _connect(socket_path: Path) -> socket.socket | None:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(socket_path))
    except (FileNotFoundError, ConnectionRefusedError):
        connection.close()
        return None
    return connection


def serve_arguments(socket_path: Path) -> list[str]:
    """The dbt environment's Python runs these to serve ``socket_path``."""
    # -P: this file's directory stays off the path, where dbt would take its siblings for plugins
    return ["-P", str(Path(__file__).resolve()), "serve", "--socket", str(socket_path)]


def start(socket_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a worker for ``socket_path`` in a session of its own (stopped by its pid: :func:`stop`);
    the client runs on the dbt environment's Python, the worker's."""
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path(socket_path).open("ab") as log:  # what it says before it serves (an import error)
        return subprocess.Popen(
            [sys.executable, *serve_arguments(socket_path)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def connect(socket_path: Path, env: dict[str, str] | None = None) -> socket.socket:
    """A connection to the worker of ``socket_path``, started when none answers."""
    if len(os.fsencode(socket_path)) > _SOCKET_PATH_MAX:
        raise SystemExit(f"dbt worker: the socket path {socket_path} is too long for a Unix socket (its Airflow home)")
    if (connection := _connect(socket_path)) is not None:
        return connection
    process = start(socket_path, env)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if (connection := _connect(socket_path)) is not None:
            return connection
        if process.poll() not in (None, 0):  # 0: another worker holds the lock and is starting
            break
        time.sleep(0.05)
    raise SystemExit(f"dbt worker: did not start (exit code {process.poll()}); see {log_path(socket_path)}")


def run(argv: list[str]) -> int:
    """dbt ``argv`` through the worker; prints dbt's output as it comes and returns dbt's exit code."""
    if not (socket_name := os.environ.get(SOCKET_VARIABLE)):
        raise SystemExit(f"dbt worker: {SOCKET_VARIABLE} is not set")
    socket_path = Path(socket_name)
    connection = connect(socket_path, dict(os.environ))
    request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}
    connection.sendall(json.dumps(request).encode() + b"\n")
    with connection, connection.makefile("r", encoding="utf-8") as replies:
        for line in replies:
            if line.startswith(END):
                return json.loads(line[len(END) :])["exit"]
            sys.stdout.write(line)
            sys.stdout.flush()
    pid = pid_path(socket_path).read_text().strip() if pid_path(socket_path).exists() else "?"
    print(f"dbt worker (pid {pid}) ended during the build; see {log_path(socket_path)}", file=sys.stderr)
    return 1


def stop(socket_path: Path, timeout: float = 30) -> bool:
    """Stop the worker of ``socket_path`` by its pid (SIGTERM, then SIGKILL); True if one ran."""
    import signal

    def alive() -> bool:  # its lock is held until it has exited
        if not lock_path(socket_path).exists():
            return False
        if (lock := _locked(socket_path)) is None:
            return True
        lock.close()
        return False

    if not alive():  # a pid file left behind is stale
        pid_path(socket_path).unlink(missing_ok=True)
        return False
    try:
        pid = int(pid_path(socket_path).read_text())
        os.kill(pid, signal.SIGTERM)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
    deadline = time.monotonic() + timeout
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    pid_path(socket_path).unlink(missing_ok=True)
    return True


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"] and len(argv) == 3 and argv[1] == "--socket":
        return serve(Path(argv[2]))
    if argv[:1] == ["run"]:
        return run(argv[1:])
    raise SystemExit("usage: dbt_worker.py serve --socket PATH | run DBT_ARGS...")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
