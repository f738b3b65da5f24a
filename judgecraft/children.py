"""Child processes that die with their parent, however the parent ends.

A reward or a trainer starts helpers (the math-verify worker, a vLLM server) and may itself end by
an exception, Ctrl-C or SIGKILL. `atexit` and `finally` cover only the first two, and Linux's
`PR_SET_PDEATHSIG` fires when the *thread* that started the child exits, which is wrong for a child
started from a thread pool. So every child runs under a guardian (`guardian.py`, stdlib only): a
tiny process that leads a new process group, starts the command in it, and waits on a pidfd of the
parent process. When the parent is gone, the guardian ends the whole group (SIGTERM, then SIGKILL),
so grandchildren such as vLLM's engine core go too. When the command ends, the guardian ends the
rest of the group and exits with the command's code.

Use `spawn(cmd, ...)` like `subprocess.Popen`, and `kill_group(process)` / `stop_group(process)` to
end it: signalling the returned Popen alone would hit only the guardian.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

GUARDIAN = Path(__file__).with_name("guardian.py")


def spawn(cmd: Sequence[str], *, grace: float = 10.0, **popen_kwargs: Any) -> subprocess.Popen[bytes]:
    """Start `cmd` under a guardian in a new process group; the group dies when this process dies.

    `popen_kwargs` go to `subprocess.Popen` (stdin/stdout/stderr/env/cwd...). `grace` is how long
    the guardian waits after SIGTERM before it sends SIGKILL to the group.
    """
    popen_kwargs.pop("start_new_session", None)
    # -I: isolated (no user site, no PYTHON* variables, no script folder on sys.path, so the
    # package's own io.py/parse.py can never shadow the standard library in the guardian).
    guarded = [sys.executable, "-I", str(GUARDIAN), str(os.getpid()), f"{grace:g}", "--", *cmd]
    return subprocess.Popen(guarded, start_new_session=True, **popen_kwargs)


def signal_group(process: subprocess.Popen[Any], sig: int) -> None:
    """Send `sig` to the guardian's process group (the guardian, the command and its children)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def kill_group(process: subprocess.Popen[Any]) -> None:
    """SIGKILL the whole group at once and reap the guardian."""
    signal_group(process, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        process.wait()


def stop_group(process: subprocess.Popen[Any], grace: float = 20.0) -> int | None:
    """SIGTERM the group, SIGKILL it after `grace` seconds; return the guardian's exit code."""
    if process.poll() is None:
        signal_group(process, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    kill_group(process)  # whatever is left of the group
    return process.returncode
