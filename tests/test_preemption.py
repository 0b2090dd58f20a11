"""Multi-worker training that survives losing a machine: SIGTERM to one worker stops every
worker at the same update with a checkpoint (exit status 75) and the restarted job goes on
as if nothing happened; SIGKILL to one worker makes the others exit (76) within
``train.worker_timeout``; ``nmt train-distributed --restarts`` relaunches by itself.

The two-host tests run each worker in its own network namespace (its own address, joined to
the other by a virtual cable), made here and removed after; they are skipped, with the reason,
where namespaces cannot be created (not root, no ``ip``), except under CI=true (.ci/run), where
they fail instead."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, save_config, tiny_config
from test_distribute import loss_curve
from test_resume import latest_step

from nmt.preemption import EXIT_PREEMPTED, EXIT_WORKER_LOST, worker_lost

STEPS = 80


def environment(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(extra)
    return env


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def reached(log: Path, step: int) -> bool:
    return f" step {step}/" in log.read_text(encoding="utf-8", errors="replace")


# ---- the heartbeat, alone ----------------------------------------------------------------------

HEARTBEAT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from nmt.preemption import Heartbeat
    with Heartbeat(Path(sys.argv[1]), 0, ["a:1", "b:2"], timeout=1.0):
        time.sleep(float(sys.argv[2]))
""")


def heartbeat(directory: Path, seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", HEARTBEAT, str(directory), str(seconds)], cwd=REPO,
                            stderr=subprocess.PIPE, text=True)


def test_a_peer_whose_heartbeat_stops_is_named_and_ends_the_worker(tmp_path):
    (tmp_path / "heartbeat-1").write_text("beat-of-an-earlier-job 7")  # stale: never changes
    started = time.monotonic()
    watcher = heartbeat(tmp_path, 30)
    assert watcher.wait(timeout=20) == EXIT_WORKER_LOST
    assert time.monotonic() - started < 15
    assert watcher.stderr.read().strip().splitlines()[-1].startswith(
        "error: worker 1 (b:2) lost: no heartbeat for 1 s (train.worker_timeout=1); stopping.")


def test_a_peer_that_beats_or_ended_on_purpose_is_not_lost(tmp_path):
    watcher = heartbeat(tmp_path, 4)
    for count in range(10):  # a live peer, then one that stopped on purpose
        (tmp_path / "heartbeat-1").write_text(f"token {count}")
        time.sleep(0.2)
    (tmp_path / "heartbeat-1").write_text("stopped token")
    assert watcher.wait(timeout=20) == 0, watcher.stderr.read()
    assert (tmp_path / "heartbeat-0").read_text().startswith("stopped ")


def test_a_failed_all_reduce_names_the_lost_worker_and_why():
    reset = Exception("Collective ops is aborted by: recvmsg:Connection reset by peer\nAdditional GRPC error "
                      "information from remote target /job:worker/replica:0/task:1 while calling RecvBuf")
    assert str(worker_lost(reset, ["10.0.0.1:2222", "10.0.0.2:2222"])) == (
        "worker 1 (10.0.0.2:2222) lost: recvmsg:Connection reset by peer; stopping. The run directory keeps "
        "its last checkpoint; run the same command again to resume")
    assert str(worker_lost(Exception("Graph execution error:\nsomething else"), ["a:1", "b:1"])).startswith(
        "a worker lost: Graph execution error:; stopping.")


# ---- workers on two hosts ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def hosts():
    """Two network namespaces, 10.213.0.1 and 10.213.0.2, joined by a veth pair."""
    tag = f"{os.getpid() % 100000}"
    names = [f"nmt-test-{tag}-0", f"nmt-test-{tag}-1"]
    addresses = ["10.213.0.1", "10.213.0.2"]
    commands = [["ip", "netns", "add", names[0]], ["ip", "netns", "add", names[1]],
                ["ip", "link", "add", f"nmt{tag}a", "netns", names[0], "type", "veth",
                 "peer", "name", f"nmt{tag}b", "netns", names[1]]]
    for name, address, device in zip(names, addresses, (f"nmt{tag}a", f"nmt{tag}b"), strict=True):
        commands += [["ip", "-n", name, "addr", "add", f"{address}/24", "dev", device],
                     ["ip", "-n", name, "link", "set", device, "up"], ["ip", "-n", name, "link", "set", "lo", "up"]]
    try:
        for command in commands:
            subprocess.run(command, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as error:
        delete_namespaces(names)
        reason = f"network namespaces cannot be created here: {(getattr(error, 'stderr', None) or str(error)).strip()}"
        if os.environ.get("CI") == "true":  # CI runs as root: these tests must run there
            pytest.fail(reason)
        pytest.skip(reason.splitlines()[0])
    yield list(zip(names, addresses, strict=True))
    delete_namespaces(names)


def delete_namespaces(names: list[str]) -> None:
    for name in names:
        try:
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
        except OSError:  # no ip: nothing was made
            return


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """A tiny config and the loss curve of one uninterrupted process (which two workers match)."""
    directory = tmp_path_factory.mktemp("preemption")
    config = save_config(directory, tiny_config(directory, train={
        "max_steps": STEPS, "log_every": 1, "checkpoint_every": 5, "validate_every": 1000,
        "learning_rate": 0.01, "worker_timeout": 10}))
    done = subprocess.run([sys.executable, "-m", "nmt.cli", "train", "--config", str(config), "name=reference"],
                          capture_output=True, text=True, cwd=REPO, env=environment(), timeout=600)
    assert done.returncode == 0, done.stderr
    return config, loss_curve(directory / "runs" / "reference")


def start_workers(hosts, config: Path, name: str, logs: Path) -> list[subprocess.Popen]:
    """One worker per host, as a user starts them on two machines."""
    cluster = [f"{address}:23456" for _, address in hosts]
    workers = []
    for index, (namespace, _) in enumerate(hosts):
        tf_config = {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}}
        log = open(logs / f"{name}-{index}.log", "a", encoding="utf-8")  # noqa: SIM115 - closed by the process end
        workers.append(subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-m", "nmt.cli", "train", "--config", str(config),
             f"name={name}", "train.distribute=multi_worker"],
            cwd=REPO, env=environment(TF_CONFIG=json.dumps(tf_config)), stdout=log, stderr=log))
    return workers


@pytest.mark.slow
def test_sigterm_to_one_host_stops_both_at_one_update_and_the_restart_goes_on_unchanged(hosts, experiment, tmp_path):
    config, uninterrupted = experiment
    run = config.parent / "runs" / "preempted"
    at = random.randint(8, STEPS - 55)
    workers = start_workers(hosts, config, "preempted", tmp_path)
    chief_log = tmp_path / "preempted-0.log"
    wait_for(lambda: reached(chief_log, at) or workers[0].poll() is not None, 300, f"step {at}")
    workers[1].terminate()  # SIGTERM to the non-chief only
    sent = time.monotonic()
    statuses = [worker.wait(timeout=60) for worker in workers]
    assert statuses == [EXIT_PREEMPTED, EXIT_PREEMPTED], chief_log.read_text()
    assert time.monotonic() - sent < 30
    stopped = latest_step(run / "checkpoints")
    for index in (0, 1):
        last = (tmp_path / f"preempted-{index}.log").read_text().strip().splitlines()[-1]
        assert last == (f"error: preempted (SIGTERM) at step {stopped}; checkpoint saved in {run / 'checkpoints'}; "
                        f"run the same command again to resume")
    assert at <= stopped <= STEPS - 50, (at, stopped)

    restarted = start_workers(hosts, config, "preempted", tmp_path)
    assert [worker.wait(timeout=600) for worker in restarted] == [0, 0], chief_log.read_text()
    assert f"resuming {run} from step {stopped}" in chief_log.read_text()
    curve = loss_curve(run)
    assert len(curve) == STEPS
    np.testing.assert_allclose(curve[stopped:stopped + 50], uninterrupted[stopped:stopped + 50], rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["kill", "freeze"])
def test_a_lost_host_ends_the_other_within_the_timeout_and_a_restart_finishes(hosts, experiment, tmp_path, stop):
    """``kill``: SIGKILL; the host stays up and resets the connections, so the all-reduce fails
    at once.  ``freeze``: SIGSTOP, a hung peer that answers nothing: a heartbeat notices."""
    config, _ = experiment
    name = f"lost-{stop}"
    run = config.parent / "runs" / name
    workers = start_workers(hosts, config, name, tmp_path)
    chief_log = tmp_path / f"{name}-0.log"
    wait_for(lambda: reached(chief_log, 12) or workers[0].poll() is not None, 300, "step 12")
    workers[1].send_signal(signal.SIGKILL if stop == "kill" else signal.SIGSTOP)
    lost = time.monotonic()
    assert workers[0].wait(timeout=60) == EXIT_WORKER_LOST, chief_log.read_text()
    assert time.monotonic() - lost < 10 + 10  # train.worker_timeout, and a few beats
    workers[1].kill()
    workers[1].wait()
    last = chief_log.read_text().strip().splitlines()[-1]
    assert last.startswith(f"error: worker 1 ({hosts[1][1]}:23456) lost: "), last
    assert last.endswith("run the same command again to resume")
    if stop == "freeze":  # nothing fails: this toolkit's heartbeat or TensorFlow's own notices
        assert "heartbeat" in last, last
    assert latest_step(run / "checkpoints") >= 10  # complete checkpoints, the run loads from them
    if stop == "kill":
        restarted = start_workers(hosts, config, name, tmp_path)
        assert [worker.wait(timeout=600) for worker in restarted] == [0, 0], chief_log.read_text()
        assert latest_step(run / "checkpoints") == STEPS


# ---- the launcher's restarts ---------------------------------------------------------------------

@pytest.mark.slow
def test_make_train_distributed_restarts_by_itself_through_two_preemptions(experiment, tmp_path):
    config, uninterrupted = experiment
    log = tmp_path / "launcher.log"
    workers = config.parent / "runs" / "restarted.workers"
    with open(log, "w", encoding="utf-8") as stderr:
        launcher = subprocess.Popen(  # as a user runs it: the Makefile's RESTARTS reaches --restarts
            ["make", "--no-print-directory", "train-distributed", "WORKERS=2", "RESTARTS=2", f"CONFIG={config}",
             "ARGS=name=restarted"], cwd=REPO, env=environment(), stderr=stderr)
        for restart, step in enumerate((15, 40), start=1):
            wait_for(lambda step=step: reached(log, step) or launcher.poll() is not None, 300, f"step {step}")
            os.kill(int((workers / "worker-1.pid").read_text()), 15)
            wait_for(lambda restart=restart: f"(restart {restart} of 2)" in log.read_text(), 120,
                     f"restart {restart}")
        assert launcher.wait(timeout=600) == 0, log.read_text()
    text = log.read_text()
    assert text.count("error: preempted (SIGTERM) at step") == 2
    curve = loss_curve(config.parent / "runs" / "restarted")
    np.testing.assert_allclose(curve, uninterrupted, rtol=1e-5, atol=1e-5)


@pytest.fixture(autouse=True, scope="module")
def _no_stale_namespaces():
    yield
    if shutil.which("ip"):
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert f"nmt-test-{os.getpid() % 100000}" not in listed
