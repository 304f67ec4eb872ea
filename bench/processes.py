"""The processes a run starts (gunicorn servers, Celery workers) and how they are always stopped.

Each process is started in its own session, so that stopping it signals its process group (the
gunicorn master and its workers, the Celery parent and its pool) and nothing else, and so that a
Ctrl-C in the terminal reaches the harness, which then stops them in order.
"""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.scenario import Request
from bench.wrk import LOOPBACK

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
GUNICORN_CONFIG = BENCH_DIR / "gunicorn_conf.py"


class ProcessError(RuntimeError):
    """A process did not start, did not answer, or answered wrongly."""


@dataclass
class ManagedProcess:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM the process group, then SIGKILL it if it has not exited after `grace_s`."""
        if self.popen.poll() is not None:
            return
        # The group id is the pid: the process was started with start_new_session=True.
        _signal_group(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            _signal_group(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=grace_s)


def _signal_group(group_id: int, signal_number: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group_id, signal_number)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def start(
    *, name: str, command: Sequence[str], env: Mapping[str, str], log_path: Path
) -> ManagedProcess:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            list(command),
            cwd=REPO_ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return ManagedProcess(name=name, popen=popen, log_path=log_path)


def gunicorn_command(*, python: Path, app: str, port: int) -> list[str]:
    """The same gunicorn invocation for both sides; only the app and the port differ."""
    return [
        str(python),
        "-m",
        "gunicorn",
        f"--config={GUNICORN_CONFIG}",
        f"--bind={LOOPBACK}:{port}",
        f"--chdir={REPO_ROOT}",
        app,
    ]


def send(port: int, request: Request, timeout_s: float = 10.0) -> tuple[int, bytes]:
    """One request to 127.0.0.1:port, redirects not followed; the status and the body."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout_s)
    try:
        body = None if request.body is None else request.body.encode()
        connection.request(request.method, request.path, body=body, headers=dict(request.headers))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_until_answers(
    process: ManagedProcess, port: int, request: Request, timeout_s: float = 60.0
) -> None:
    """Poll until `request` gets its expected status; fail early if the process exits."""
    deadline = time.monotonic() + timeout_s
    last_problem = "no answer yet"
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise ProcessError(
                f"{process.name} exited with {process.popen.returncode} before answering; "
                f"last lines of {process.log_path}:\n{process.log_tail()}"
            )
        try:
            status, body = send(port, request, timeout_s=5.0)
        except OSError as error:
            last_problem = str(error)
        else:
            if status == request.expected_status:
                return
            last_problem = f"status {status}: {body[:500]!r}"
        time.sleep(0.25)
    raise ProcessError(
        f"{process.name} did not answer {request.method} {request.path} with "
        f"{request.expected_status} within {timeout_s:.0f} s ({last_problem}); "
        f"last lines of {process.log_path}:\n{process.log_tail()}"
    )


def run_to_completion(
    *, name: str, command: Sequence[str], env: Mapping[str, str], log_path: Path, timeout_s: float
) -> None:
    """Run a one-off command (migrate, a seed hook), its output to `log_path`; raise on failure."""
    process = start(name=name, command=command, env=env, log_path=log_path)
    try:
        returncode = process.popen.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired as error:
        raise ProcessError(f"{name} did not finish within {timeout_s:.0f} s") from error
    finally:
        process.stop()
    if returncode != 0:
        raise ProcessError(
            f"{name} failed with exit code {returncode}; last lines of {log_path}:\n"
            f"{process.log_tail()}"
        )
