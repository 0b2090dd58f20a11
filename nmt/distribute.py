"""Data-parallel training on TensorFlow's own engine, ``tf.distribute``.

``train.distribute`` picks the strategy:

- ``none``: one process, TensorFlow's default strategy;
- ``mirrored``: ``MirroredStrategy``, one process with a replica per local device;
- ``multi_worker``: ``MultiWorkerMirroredStrategy``, one process per machine,
  the cluster described by the ``TF_CONFIG`` environment variable.

Every worker plans the same global batch (``train.batch_tokens``) from the same
seed, and replica r of n takes its sentences r, r + n, ...  Each replica divides
its summed loss by the global number of target tokens and the gradients are
summed across replicas, so an update equals the one-process update on the whole
batch.  The chief (worker 0) writes checkpoints, logs and reports; every worker
restores from the chief's checkpoints, so the run directory must be on a
filesystem that all workers share.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from nmt.errors import NmtError
from nmt.files import write_atomic
from nmt.preemption import EXIT_PREEMPTED, EXIT_WORKER_LOST, RESTARTABLE


def cluster_task() -> tuple[str, int, list[str]]:
    """(task type, task index, the workers' addresses) from ``TF_CONFIG``, checked."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise NmtError("train.distribute=multi_worker needs the TF_CONFIG environment variable "
                       "(see docs/distributed.md); `make train-distributed "
                       "WORKERS=N` sets it for local workers")
    try:
        tf_config = json.loads(raw)
        workers = tf_config["cluster"]["worker"]
        task_type, index = tf_config["task"]["type"], int(tf_config["task"]["index"])
    except (ValueError, KeyError, TypeError):
        raise NmtError('TF_CONFIG: expected JSON like {"cluster": {"worker": ["host:port", ...]}, '
                       '"task": {"type": "worker", "index": 0}}') from None
    if task_type not in ("worker", "chief") or not 0 <= index < len(workers):
        raise NmtError(f"TF_CONFIG: task {task_type!r} {index} is not one of the "
                       f"{len(workers)} workers in cluster.worker")
    return task_type, index, [str(worker) for worker in workers]


def make_strategy(mode: str):
    """The ``tf.distribute`` strategy for ``train.distribute``.

    It must be made before TensorFlow runs any op, because the multi-worker
    strategy starts this process's collective-communication server.
    """
    import tensorflow as tf

    if mode == "mirrored":
        return tf.distribute.MirroredStrategy()
    if mode == "multi_worker":
        cluster_task()
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(mode: str) -> bool:
    """Only the chief writes checkpoints, logs and reports (worker 0 when there is no "chief")."""
    if mode != "multi_worker":
        return True
    task_type, index, _ = cluster_task()
    return task_type == "chief" or (task_type == "worker" and index == 0)


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports on 127.0.0.1.

    All probe sockets stay open until every port is chosen: closing each one first
    lets the system hand out the same port twice.
    """
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]


def launch_local_workers(config_path: str, overrides: list[str], workers: int, log_dir: Path,
                         restarts: int, grace: float) -> int:
    """Start ``workers`` training processes on 127.0.0.1 and wait for all of them; after a
    preemption or a lost worker, start them again, up to ``restarts`` times.

    The chief's output goes to this terminal, the others' to ``log_dir/worker-<i>.log``;
    each worker's process id is in ``log_dir/worker-<i>.pid``.  Once one worker has ended
    badly, the others get ``grace`` seconds to end too (they save a checkpoint after a
    preemption, or notice the lost worker) before they are killed.
    """
    if workers < 1:
        raise NmtError(f"WORKERS: expected a positive number of workers, got {workers}")
    if restarts < 0:
        raise NmtError(f"RESTARTS: expected a number of restarts of 0 or more, got {restarts}")
    for attempt in range(restarts + 1):
        status = _run_workers(config_path, overrides, workers, log_dir, grace)
        if status not in RESTARTABLE or attempt == restarts:
            return status
        reason = "a preemption" if status == EXIT_PREEMPTED else "a lost worker"
        print(f"restarting the {workers} workers after {reason} (restart {attempt + 1} of {restarts})",
              file=sys.stderr)
    return status


def _run_workers(config_path: str, overrides: list[str], workers: int, log_dir: Path, grace: float) -> int:
    """One launch of the workers, on fresh ports; the status the launch ended with."""
    addresses = [f"127.0.0.1:{port}" for port in free_ports(workers)]
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = []
    with contextlib.ExitStack() as logs:
        for index in range(workers):
            env = dict(os.environ, TF_CONFIG=json.dumps(
                {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}))
            command = [sys.executable, "-m", "nmt.cli", "train", "--config", config_path, *overrides,
                       "train.distribute=multi_worker"]
            log = logs.enter_context(open(log_dir / f"worker-{index}.log", "w", encoding="utf-8")) if index else None
            processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=log))
            write_atomic(log_dir / f"worker-{index}.pid", f"{processes[-1].pid}\n")
        print(f"started {workers} workers on {', '.join(addresses)}; logs of workers 1.. in {log_dir}",
              file=sys.stderr)
        try:
            return _wait_all(processes, log_dir, grace)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()


def _wait_all(processes: list[subprocess.Popen], log_dir: Path, grace: float) -> int:
    """Wait for every worker; the launch's status: preempted if any worker was, else a lost
    worker if any died of a signal or found a peer lost, else the worst exit status."""
    deadline = None
    try:
        while any(process.poll() is None for process in processes):
            if deadline is None and any(process.poll() not in (None, 0) for process in processes):
                deadline = time.monotonic() + grace
            if deadline is not None and time.monotonic() > deadline:
                _stop(processes, signal.SIGKILL)
            time.sleep(0.5)
    except KeyboardInterrupt:
        _stop(processes, signal.SIGTERM)  # each worker saves a checkpoint on SIGTERM
        for process in processes:
            process.wait()
        return 130
    codes = [process.returncode for process in processes]
    for index, code in enumerate(codes):
        if index and code not in (0, EXIT_PREEMPTED):
            print(f"worker {index} ended with status {code}; see {log_dir / f'worker-{index}.log'}", file=sys.stderr)
    if EXIT_PREEMPTED in codes:
        return EXIT_PREEMPTED
    if EXIT_WORKER_LOST in codes or any(code < 0 for code in codes):
        return EXIT_WORKER_LOST
    return max(codes)


def _stop(processes: list[subprocess.Popen], signal_number: int) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal_number)
