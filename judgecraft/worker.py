"""A persistent helper process for work that may hang or explode (sympy on hostile answers).

Why not a multiprocessing or pebble pool: their spawn and forkserver workers re-import the user's
main script, so a training script without an `if __name__ == "__main__":` guard would start training
again inside the worker; and fork is unsafe beside the threads of torch and a trainer. A plain child
process started as `python -m <module>` imports only what it needs. Requests and replies are JSON
lines over its stdin and stdout; a reply that does not come within the timeout gets the child
killed (SIGKILL, not a signal handler inside it), and the next request starts a fresh one. The child
runs under `judgecraft.children`'s guardian, so it never outlives this process. Calls are
serialised by a lock, so the worker is safe to use from threads and from `asyncio.to_thread`.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from judgecraft.children import kill_group, spawn

PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


class WorkerTimeout(TimeoutError):
    """The worker did not answer in time and was killed."""


class WorkerCrashed(RuntimeError):
    """The worker died or answered with something that is not a reply."""


class BoundedWorker:
    """One child process running `python -m <module>`, answering one JSON request per line.

    The module first writes `{"ready": true}` once it has imported what it needs, then one reply per
    request line.
    """

    def __init__(self, module: str, startup_timeout: float = 120.0):
        self.module = module
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._lock = threading.Lock()
        atexit.register(self._kill_at_exit)

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        with self._lock:
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
                [sys.executable, "-m", self.module],
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

    def _kill(self) -> None:
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

    def stop(self) -> None:
        with self._lock:
            self._kill()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.poll() is None else None
