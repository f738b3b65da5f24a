"""Processes that share one math-verify worker through a broker: the same verdicts, one worker, bounded, never a hang.

Real processes and the real math-verify worker; states are polled or asserted, never timed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from judgecraft.worker import BoundedWorker, WorkerCrashed, WorkerTimeout, share_workers
from judgecraft.worker_broker import WorkerBroker

ROOT = Path(__file__).resolve().parent.parent
MODULE = "judgecraft.verify_worker"
# A check sympy needs minutes for (see test_answer_worker.py).
SLOW = {
    "gold": "$(x+1)^{401}(y+2)^{400}(z+3)^{400}(w+4)^{300}$",
    "pred": "$(x+1)^{400}(y+2)^{400}(z+3)^{400}(w+4)^{300}$",
}

CLIENT = textwrap.dedent(
    """
    import json, sys
    from judgecraft.worker import BoundedWorker, share_workers

    share_workers(sys.argv[1])
    worker = BoundedWorker("judgecraft.verify_worker")
    worker.start()
    same = worker.call({"gold": "2x+2", "pred": "2(x+1)"}, 60)
    other = worker.call({"gold": "3", "pred": "4"}, 60)
    print(json.dumps([same, other, worker.pid]))
    """
)


@pytest.fixture
def shared():
    """A broker in this process, and this process's BoundedWorkers sending their requests to it."""
    with WorkerBroker() as broker:
        share_workers(broker.address)
        try:
            yield broker
        finally:
            share_workers(None)


def test_two_processes_get_their_verdicts_from_one_worker():
    with WorkerBroker() as broker:
        clients = [
            subprocess.Popen(
                [sys.executable, "-c", CLIENT, broker.address], cwd=ROOT, stdout=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        replies = [json.loads(c.communicate(timeout=600)[0]) for c in clients]
        assert all(c.returncode == 0 for c in clients)
        # The right verdicts, and no client started a worker of its own: the broker's one answered both.
        assert replies == [[{"equal": True}, {"equal": False}, None]] * 2
        assert broker.worker(MODULE).pid is not None


def test_a_timeout_reaches_the_caller_and_a_fresh_worker_answers_next(shared):
    client = BoundedWorker(MODULE)
    client.start()
    first = shared.worker(MODULE).pid
    assert first is not None and client.pid is None
    with pytest.raises(WorkerTimeout):
        client.call(SLOW, 1.0)
    assert client.call({"gold": "2x+2", "pred": "2(x+1)"}, 120) == {"equal": True}
    assert shared.worker(MODULE).pid not in (None, first)  # the slow one was killed, as without a broker


def test_bad_requests_are_errors_and_the_broker_serves_on(shared):
    with pytest.raises(WorkerCrashed, match="not a module name"):
        BoundedWorker("no such module; rm -rf").start()
    with pytest.raises(WorkerCrashed, match="no such module file"):
        BoundedWorker("judgecraft.no_such_worker").start()
    assert BoundedWorker(MODULE).call({"gold": "1/2", "pred": "0.5"}, 120) == {"equal": True}


def test_a_closed_broker_is_an_error_not_a_hang():
    broker = WorkerBroker()
    share_workers(broker.address)
    try:
        client = BoundedWorker(MODULE)
        client.start()
        worker = broker.worker(MODULE)
        broker.close()
        assert worker.pid is None  # the broker's worker is stopped with it
        with pytest.raises(WorkerCrashed):
            client.call({"gold": "2", "pred": "2"}, 60)
        assert not Path(broker.address).parent.exists()
    finally:
        share_workers(None)
