"""A persistent helper process for work that may hang or explode (sympy on hostile answers).

Why not a multiprocessing or pebble pool: their spawn and forkserver workers re-import the user's
main script, so a training script without an `if __name__ == "__main__":` guard would start training
again inside the worker; and fork is unsafe beside the threads of torch and a trainer. A plain child
process running the module imports only what it needs. Requests and replies are JSON
lines over its stdin and stdout; a reply that does not come within the timeout gets the child
killed (SIGKILL, not a signal handler inside it), and the next request starts a fresh one. The child
runs under `judgecraft.children`'s guardian, so it never outlives this process. Calls are
serialised by a lock, so the worker is safe to use from threads and from `asyncio.to_thread`.

The module runs as its file, in safe-path mode (`python -P path/to/module.py`), not with `-m`: `-m`
would first import the module's package, and judgecraft's `__init__` imports the whole scorer,
which a math-verify worker never uses (a third of its start-up). The package root stays on
PYTHONPATH, so a worker module may still import judgecraft if it needs to.

Several processes can share one worker per module (the scoring processes of `judgecraft score`):
after `share_workers(address)`, every BoundedWorker of this process sends its requests to the
`judgecraft.worker_broker.WorkerBroker` at that address, which owns the real worker, instead of
starting its own. One start-up instead of one per process, and what one process had verified is
already in the shared worker's caches for the others.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from judgecraft.children import kill_group, spawn

PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)

_broker_address: str | None = None  # set by share_workers: the WorkerBroker this process's workers use


def share_workers(address: str | None) -> None:
    """Send every BoundedWorker's requests of this process to the WorkerBroker at `address` (None: stop)."""
    global _broker_address
    _broker_address = address


def module_file(module: str) -> str:
    """The source file of a worker module, found without importing it (or anything but its package)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):  # a parent package that is missing, or not a module name
        spec = None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise WorkerCrashed(f"worker {module}: no such module file")
    return spec.origin


class WorkerTimeout(TimeoutError):
    """The worker did not answer in time and was killed."""


class WorkerCrashed(RuntimeError):
    """The worker died or answered with something that is not a reply."""


class BoundedWorker:
    """One child process running a module (as its file, see above), answering one JSON request per line.

    The module first writes `{"ready": true}` once it has imported what it needs, then one reply per
    request line.
    """

    def __init__(self, module: str, startup_timeout: float = 120.0, *, local: bool = False):
        self.module = module
        self.startup_timeout = startup_timeout
        self.local = local  # always a process of its own, even after share_workers (a broker's own workers)
        self._process: subprocess.Popen[bytes] | None = None
        self._broker: socket.socket | None = None  # the connection to a WorkerBroker, after share_workers
        self._broker_buffer = b""
        self._buffer = b""
        self._lock = threading.Lock()
        atexit.register(self._kill_at_exit)

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        with self._lock:
            if _broker_address is not None and not self.local:
                return self._ask_broker(_broker_address, request, timeout)
            process = self._ensure_started()  # may raise WorkerCrashed
            assert process.stdin is not None
            try:
                process.stdin.write(json.dumps(request).encode() + b"\n")
                process.stdin.flush()
                line = self._read_line(process, timeout)
            except WorkerTimeout:
                self._kill()
                self._restart_in_background()
                raise
            except (BrokenPipeError, OSError) as err:
                self._kill()
                raise WorkerCrashed(f"worker {self.module} died: {err}") from None
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                self._kill()
                raise WorkerCrashed(f"worker {self.module} answered {line[:200]!r}") from None

    def start(self) -> None:
        """Start the worker now if it is not running (its imports never count against a request's timeout)."""
        with self._lock:
            if _broker_address is not None and not self.local:
                self._ask_broker(_broker_address, None, None)
                return
            self._ensure_started()

    def _restart_in_background(self) -> None:
        """Start the next worker now, off the caller's path, so the next request does not wait for imports."""

        def start() -> None:
            with self._lock, contextlib.suppress(WorkerCrashed, OSError):
                self._ensure_started()

        threading.Thread(target=start, name=f"restart-{self.module}", daemon=True).start()

    def _ensure_started(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
            self._buffer = b""
            # Under a guardian in its own process group: a Ctrl-C meant for the trainer does not hit
            # the worker first, and the worker dies with this process however it ends (even SIGKILL).
            self._process = spawn(
                [sys.executable, "-P", module_file(self.module)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                grace=0,
            )
            # The child says it is ready once its imports are done, so start-up never counts against
            # a request's timeout.
            try:
                ready = json.loads(self._read_line(self._process, self.startup_timeout))
            except (WorkerTimeout, WorkerCrashed, json.JSONDecodeError) as err:
                self._kill()
                raise WorkerCrashed(f"worker {self.module} did not start: {err}") from None
            if not ready.get("ready"):
                self._kill()
                raise WorkerCrashed(f"worker {self.module} did not start: {ready}")
        return self._process

    def _read_line(self, process: subprocess.Popen[bytes], timeout: float) -> bytes:
        assert process.stdout is not None
        fd = process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimeout(f"worker {self.module} took longer than {timeout:g}s")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise WorkerCrashed(f"worker {self.module} exited (code {process.wait()})")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _ask_broker(self, address: str, request: dict[str, Any] | None, timeout: float | None) -> dict[str, Any]:
        """One request through the shared worker (None: only make sure it is started); raises as `call` does.

        The broker bounds every request itself (it kills its worker at the timeout), so the reply is
        waited for without a limit of our own; a broker that is gone is an end of file, not a hang.
        """
        message = {"module": self.module, "request": request, "timeout": timeout}
        try:
            if self._broker is None:
                self._broker = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._broker.connect(address)
            self._broker.sendall(json.dumps(message).encode() + b"\n")
            while b"\n" not in self._broker_buffer:
                data = self._broker.recv(65536)
                if not data:
                    raise OSError("the broker closed the connection")
                self._broker_buffer += data
            line, _, self._broker_buffer = self._broker_buffer.partition(b"\n")
            reply = json.loads(line)
        except (OSError, json.JSONDecodeError) as err:
            self._disconnect()
            raise WorkerCrashed(f"worker {self.module}: shared worker unreachable: {err}") from None
        if "timeout" in reply:
            raise WorkerTimeout(reply["timeout"])
        if "crashed" in reply:
            raise WorkerCrashed(reply["crashed"])
        return reply["reply"]

    def _disconnect(self) -> None:
        if self._broker is not None:
            self._broker.close()
        self._broker = None
        self._broker_buffer = b""

    def _kill(self) -> None:
        self._disconnect()
        if self._process is not None:
            kill_group(self._process)
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None:
                    stream.close()
        self._process = None
        self._buffer = b""

    def _kill_at_exit(self) -> None:
        """At exit, without the lock: a thread may still be waiting on a reply, and must not hold up the exit."""
        process = self._process
        if process is not None:
            kill_group(process)

    def stop(self, *, now: bool = False) -> None:
        """Stop the worker. `now`: kill it first, without waiting for the lock, so that a request or a
        start-up in flight ends at once (and fails as crashed) instead of being waited for."""
        if now:
            self._kill_at_exit()
        with self._lock:
            self._kill()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.poll() is None else None
