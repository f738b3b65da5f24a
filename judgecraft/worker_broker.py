"""One helper process per module for several processes: a broker that lends its BoundedWorkers over a local socket.

Each scoring process of `judgecraft score --workers N` would otherwise start its own math-verify
worker: N start-ups (sympy's imports, about a CPU-second each) on the same cores that score, and N
cold caches. With a broker, the main process owns one BoundedWorker per module and the scoring
processes (after `judgecraft.worker.share_workers(broker.address)`) send it their requests. The
broker keeps BoundedWorker's guarantees: requests to one worker are serialised, each is bounded by
its timeout (the worker is killed and restarted, as in a single process), start-up never counts
against a request, and the worker dies with the main process (it runs under the guardian).

The socket lives in a fresh directory only this user can enter. Protocol, one JSON object per line:
{"module", "request" (None: only start the worker), "timeout"} in; {"reply"} or {"timeout"} or
{"crashed"} (the message of the exception to raise in the caller) out.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

from judgecraft.worker import BoundedWorker, WorkerCrashed, WorkerTimeout

_MODULE_RE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\Z")


class WorkerBroker:
    """Serves BoundedWorker requests from other processes of this user until closed (a context manager)."""

    def __init__(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="judgecraft-workers-"))  # mode 0700
        self.address = str(self._folder / "broker.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.address)
        self._listener.listen()
        self._workers: dict[str, BoundedWorker] = {}
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name="worker-broker", daemon=True).start()

    def worker(self, module: str) -> BoundedWorker:
        """The broker's worker for `module` (made on first use; started by the first request)."""
        with self._lock:
            if module not in self._workers:
                self._workers[module] = BoundedWorker(module, local=True)
            return self._workers[module]

    def prestart(self, module: str) -> None:
        """Start the worker for `module` now, in the background, so that its imports overlap other start-up work."""

        def start() -> None:
            with contextlib.suppress(WorkerCrashed, OSError):  # a failed start is retried by the first request
                self.worker(module).start()

        threading.Thread(target=start, name=f"prestart-{module}", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._serve, args=(connection,), name="worker-broker-client", daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with self._lock:
            if self._closed:
                connection.close()
                return
            self._connections.add(connection)
        try:
            with contextlib.suppress(OSError), connection.makefile("rb") as lines:
                for line in lines:
                    connection.sendall(json.dumps(self._answer(line)).encode() + b"\n")
        finally:
            with self._lock:
                self._connections.discard(connection)
            connection.close()

    def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            message = json.loads(line)
            module, request, timeout = message["module"], message["request"], message["timeout"]
            if not (isinstance(module, str) and _MODULE_RE.match(module)):
                raise ValueError(f"not a module name: {module!r}")
        except (ValueError, KeyError, TypeError) as err:
            return {"crashed": f"bad request to the worker broker: {err}"[:300]}
        worker = self.worker(module)
        try:
            if request is None:
                worker.start()
                return {"reply": None}
            return {"reply": worker.call(request, float(timeout))}
        except WorkerTimeout as err:
            return {"timeout": str(err)}
        except WorkerCrashed as err:
            return {"crashed": str(err)}
        except Exception as err:  # e.g. no process could be started: the caller's error, not a dead broker
            return {"crashed": f"worker {module}: {type(err).__name__}: {err}"[:300]}

    def close(self) -> None:
        """Stop serving and stop the workers; callers still connected get an end of file (WorkerCrashed)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self._listener.close()
        with self._lock:
            for connection in self._connections:  # wakes the serving threads
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            workers = list(self._workers.values())
        for worker in workers:
            worker.stop(now=True)  # a start-up still in progress (nothing needed it yet) is not waited for
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> WorkerBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
