"""Training that survives losing a machine: a preemption notice reaches every worker, and a
lost worker never leaves the others waiting.

SIGTERM - what Kubernetes, Slurm and preemptible machines send shortly before they take a
machine away - only sets a flag.  The flag travels with the next update's all-reduce
(``nmt.step``), so every worker learns of it at the same update; all of them save that
update's checkpoint together and exit with status 75 (``EXIT_PREEMPTED``).  Running the same
command again resumes there; ``nmt train-distributed --restarts N`` and the scheduler recipes
of docs/distributed.md do that by themselves.

A worker killed outright (SIGKILL, out of memory, a host gone) cannot warn anyone, and its
peers would wait in the next all-reduce for ever.  So each worker's heartbeat thread writes
a counter into the shared run directory every few seconds and watches the others'; when a
peer's counter has not moved for ``train.worker_timeout`` seconds, the worker prints one
line naming that peer and exits with status 76 (``EXIT_WORKER_LOST``) at once, since its
main thread may be stuck inside TensorFlow.  (When the dead worker's host is still up, its
kernel resets the connections and the all-reduce fails at once: the same line and status.)
Checkpoints are written whole or not at all, so the run directory keeps its last complete one.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
import uuid
from pathlib import Path

from nmt.errors import NmtError, first_line
from nmt.files import write_atomic

EXIT_PREEMPTED = 75  # sysexits' EX_TEMPFAIL: the same command later will succeed
EXIT_WORKER_LOST = 76
RESTARTABLE = (EXIT_PREEMPTED, EXIT_WORKER_LOST)
STOPPED = "stopped"  # what a worker leaves in its heartbeat file when it ends on purpose


class Preempted(NmtError):
    """Training stopped after a SIGTERM, with a checkpoint saved; exit status 75."""

    exit_status = EXIT_PREEMPTED


class WorkerLost(NmtError):
    """A peer went away and the all-reduce failed at once (its host answered for it); exit status 76."""

    exit_status = EXIT_WORKER_LOST


def worker_lost(error: Exception, addresses: list[str]) -> WorkerLost:
    """A collective's failure as one line naming the worker it lost (TensorFlow names it as
    ``/job:worker/replica:0/task:<index>``) and why the all-reduce gave up."""
    text = str(error)
    found = re.search(r"/job:worker/replica:\d+/task:(\d+)", text)
    who = f"worker {found.group(1)} ({addresses[int(found.group(1))]})" if found else "a worker"
    reason = re.search(r"Collective ops is aborted by: (.*)", text)
    because = reason.group(1).strip().rstrip(":")[:160] if reason else first_line(error)
    return WorkerLost(f"{who} lost: {because}; stopping. The run directory keeps its last checkpoint; "
                      f"run the same command again to resume")


class PreemptionNotice:
    """Within the block, SIGTERM sets ``requested`` instead of ending the process."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self) -> PreemptionNotice:
        self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        return self

    def __exit__(self, *_) -> None:
        signal.signal(signal.SIGTERM, self._previous)

    def _on_sigterm(self, signum, frame) -> None:
        if not self.requested:
            print("SIGTERM: saving a checkpoint after this update, then stopping", file=sys.stderr)
        self.requested = True


class Heartbeat:
    """This worker's pulse in ``directory/heartbeat-<index>``, and a watch on its peers'."""

    def __init__(self, directory: Path, index: int, addresses: list[str], timeout: float):
        self.directory, self.index, self.addresses, self.timeout = directory, index, addresses, timeout
        self.interval = min(5.0, timeout / 6)
        self._token = uuid.uuid4().hex  # a restarted worker's pulse differs from its stale file
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._beat(0)
        self._thread.start()
        return self

    def __exit__(self, error_type, *_) -> None:
        """Ending on purpose (done or preempted) says so; a failure just stops the pulse."""
        self._done.set()
        self._thread.join()
        if error_type is None or issubclass(error_type, Preempted):
            write_atomic(self._path(self.index), f"{STOPPED} {self._token}")

    def _path(self, index: int) -> Path:
        return self.directory / f"heartbeat-{index}"

    def _beat(self, count: int) -> None:
        write_atomic(self._path(self.index), f"{self._token} {count}")

    def _read(self, index: int) -> str | None:
        try:
            return self._path(index).read_text(encoding="utf-8")
        except OSError:
            return None

    def _run(self) -> None:
        peers = [index for index in range(len(self.addresses)) if index != self.index]
        stale = {index: self._read(index) for index in peers}  # perhaps an earlier job's
        seen = {index: (stale[index], time.monotonic()) for index in peers}
        count = 0
        while not self._done.wait(self.interval):
            count += 1
            self._beat(count)
            now = time.monotonic()
            for index in peers:
                pulse = self._read(index)
                if pulse != stale[index] and (pulse or "").startswith(STOPPED):
                    continue  # this job's peer ended on purpose
                if pulse != seen[index][0]:
                    seen[index] = (pulse, now)
                elif now - seen[index][1] > self.timeout:
                    self._lost(index, now - seen[index][1])

    def _lost(self, index: int, silent: float) -> None:
        print(f"error: worker {index} ({self.addresses[index]}) lost: no heartbeat for {silent:.0f} s "
              f"(train.worker_timeout={self.timeout:g}); stopping. The run directory keeps its last "
              f"checkpoint; run the same command again to resume", file=sys.stderr, flush=True)
        os._exit(EXIT_WORKER_LOST)
