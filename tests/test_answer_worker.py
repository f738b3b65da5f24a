"""The math-verify worker never outlives the process that started it (SIGKILL of the parent, or a normal exit)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A parent that starts the worker, reports the guardian's pid, then runs a check sympy needs minutes for.
PARENT = textwrap.dedent(
    """
    import sys, threading
    from judgecraft import AnswerChecker
    from judgecraft.answer import _worker

    checker = AnswerChecker(timeout=600)
    _worker.start()
    print(_worker._process.pid, flush=True)
    slow = "The answer is \\\\boxed{(x+1)^{400}(y+2)^{400}(z+3)^{400}(w+4)^{300}}"
    gold = "(x+1)^{401}(y+2)^{400}(z+3)^{400}(w+4)^{300}"
    if sys.argv[1] == "exit":
        threading.Thread(target=checker.check, args=(slow, gold), daemon=True).start()
        sys.stdin.readline()  # the test says when the check is running; then a normal exit
        sys.exit(0)
    checker.check(slow, gold)
    """
)


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2 :].split()
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] != b"Z"


def _cpu_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    fields = stat[stat.rfind(b")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _wait_for(predicate, deadline: float, what: str):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
@pytest.mark.parametrize("ending", ["sigkill", "exit"])
def test_the_worker_dies_with_its_parent(ending):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, ending], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        guardian = int(parent.stdout.readline())
        workers = _wait_for(
            lambda: [p for p in _children_of(guardian) if "verify_worker" in _cmdline(p)],
            120,
            "the verify worker under the guardian",
        )
        # Ready workers only wait on stdin: CPU time that grows means the check is running (a state, not a sleep).
        idle = _cpu_ticks(workers[0])
        _wait_for(lambda: _cpu_ticks(workers[0]) > idle + 5, 120, "the check to start")
        if ending == "sigkill":
            parent.send_signal(signal.SIGKILL)
        else:
            parent.stdin.write("go\n")
            parent.stdin.flush()
        parent.wait(60)
        _wait_for(lambda: not any(_alive(p) for p in [guardian, *workers]), 5, "the worker and guardian to end")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
