"""Start vLLM's OpenAI-compatible server for a judge model and wait until it answers.

`vllm serve` is broken in some installs (the CPU build here among them), so the server is started
as `python -m vllm.entrypoints.openai.api_server`, which works everywhere. The launcher checks the
model folder before spending a minute on start-up, runs the server under `judgecraft.children`'s
guardian in its own process group (so stopping it stops its engine workers too, and it dies with
this process), keeps its log in a file, and waits for /v1/models to
list the model; if the process dies first, the error carries the end of its log.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from judgecraft.children import kill_group, spawn, stop_group
from judgecraft.judge.backend_vllm import check_model_dir
from judgecraft.judge.verdict import JudgeSetupError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def server_command(
    model: str | Path,
    name: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_model_len: int | None = 4096,
    dtype: str = "auto",
    compact_json: bool = True,
    extra_args: list[str] | tuple[str, ...] = (),
) -> list[str]:
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model), "--served-model-name", name,
        "--host", host, "--port", str(port), "--dtype", dtype,
        "--no-enable-chunked-prefill",  # per-request seeds need it off on the CPU
    ]  # fmt: skip
    if max_model_len:
        cmd += ["--max-model-len", str(max_model_len)]
    if compact_json:  # verdicts without free whitespace: fewer tokens
        cmd += ["--structured-outputs-config", '{"backend": "xgrammar", "disable_any_whitespace": true}']
    return cmd + list(extra_args)


class JudgeServer:
    """A running vLLM server. Use as a context manager, or call `stop()`; `url`/`spec` say how to reach it."""

    def __init__(
        self,
        model: str | Path,
        name: str = "judge",
        host: str = "127.0.0.1",
        port: int | None = None,
        log: str | Path | None = None,
        env: dict[str, str] | None = None,
        **options: Any,
    ):
        self.model = check_model_dir(model)
        self.name, self.host = name, host
        self.port = port or free_port(host)
        self.command = server_command(self.model, name, host, self.port, **options)
        self.log_path = Path(log) if log else Path(tempfile.mkstemp(prefix="judgecraft-server-", suffix=".log")[1])
        self.env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def spec(self) -> str:
        """What `make_judge` and `--judge` take to use this server."""
        return f"{self.url}#{self.name}"

    def start(self, timeout: float = 600.0) -> JudgeServer:
        if self.process is not None and self.process.poll() is None:
            return self
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child keeps writing to it)
        try:
            # Under a guardian: the server and its engine workers die with this process, even on SIGKILL.
            self.process = spawn(self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        finally:
            log.close()
        self.wait(timeout)
        return self

    def wait(self, timeout: float = 600.0) -> None:
        """Block until /v1/models lists the model; raise JudgeSetupError if the server dies or times out."""
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise JudgeSetupError(
                    f"the vLLM server exited with code {self.process.returncode} before answering; "
                    f"end of its log ({self.log_path}):\n{self.log_tail()}"
                )
            try:
                resp = httpx.get(f"{self.url}/models", timeout=2)
                if resp.status_code == 200 and any(m.get("id") == self.name for m in resp.json().get("data", [])):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(1.0)
        self.stop()
        raise JudgeSetupError(f"the vLLM server did not answer within {timeout:g}s; log: {self.log_path}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.returncode

    def kill(self) -> None:
        """Kill the server at once (SIGKILL to its process group): what a crash looks like to clients."""
        if self.process is not None:
            kill_group(self.process)

    def stop(self, grace: float = 20.0) -> None:
        """Stop the server and its workers: SIGTERM to the group, SIGKILL after `grace` seconds."""
        if self.process is not None:
            stop_group(self.process, grace)

    def __enter__(self) -> JudgeServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve(model: str | Path, name: str = "judge", **options: Any) -> JudgeServer:
    """Start a judge server and return it once it answers (stop it with `.stop()` or use `with`)."""
    timeout = options.pop("timeout", 600.0)
    return JudgeServer(model, name, **options).start(timeout)
