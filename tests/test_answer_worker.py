"""The math-verify worker never outlives the process that started it (SIGKILL of the parent, or a normal exit)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from processes import alive, children_of, cmdline, cpu_ticks, wait_for

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


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
@pytest.mark.parametrize("ending", ["sigkill", "exit"])
def test_the_worker_dies_with_its_parent(ending):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, ending], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        guardian = int(parent.stdout.readline())
        workers = wait_for(
            lambda: [p for p in children_of(guardian) if "verify_worker" in cmdline(p)],
            "the verify worker under the guardian",
        )
        # Ready workers only wait on stdin: CPU time that grows means the check is running (a state, not a sleep).
        idle = cpu_ticks(workers[0])
        wait_for(lambda: cpu_ticks(workers[0]) > idle + 5, "the check to start")
        if ending == "sigkill":
            parent.send_signal(signal.SIGKILL)
        else:
            parent.stdin.write("go\n")
            parent.stdin.flush()
        parent.wait(60)
        wait_for(lambda: not any(alive(p) for p in [guardian, *workers]), "the worker and guardian to end")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
