"""A run killed with SIGKILL resumes from its last checkpoint and continues identically."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers import REPO, run_cli, save_config, tiny_config


def latest_step(checkpoints: Path) -> int | None:
    state = checkpoints / "checkpoint"
    if not state.exists():
        return None
    match = re.search(r'model_checkpoint_path: "ckpt-(\d+)"', state.read_text())
    return int(match.group(1)) if match else None


def losses(stderr: str) -> dict[int, tuple[str, str]]:
    """{step: (loss, learning rate)} from the progress lines."""
    return {int(step): (loss, rate) for step, loss, rate in
            re.findall(r"step (\d+)/\d+ \| loss ([\d.]+) \| lr ([\d.e+-]+)", stderr)}


@pytest.mark.slow
def test_run_killed_mid_warmup_resumes_from_last_checkpoint_and_matches_uninterrupted_run(tmp_path):
    train = {"max_steps": 60, "max_epochs": 100, "checkpoint_every": 4, "log_every": 1,
             "learning_rate": 0.01, "schedule": "rsqrt", "warmup_steps": 40}
    reference_config = tiny_config(tmp_path, name="reference", train=train, model={"dropout": 0.1})
    reference = run_cli("train", "--config", str(save_config(tmp_path, reference_config, "ref.yaml")))
    assert reference.returncode == 0, reference.stderr

    config = tiny_config(tmp_path, name="killed", train=train, model={"dropout": 0.1})
    path = save_config(tmp_path, config, "killed.yaml")
    checkpoints = tmp_path / "runs" / "killed" / "checkpoints"
    process = subprocess.Popen([sys.executable, "-m", "nmt.cli", "train", "--config", str(path)],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while (latest_step(checkpoints) or 0) < 16 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = latest_step(checkpoints)
    assert killed_at is not None and 16 <= killed_at < 40, "the run was not killed mid-warmup"

    resumed = run_cli("train", "--config", str(path))
    assert resumed.returncode == 0, resumed.stderr
    assert f"from step {killed_at} " in resumed.stderr
    after = losses(resumed.stderr)
    assert min(after) == killed_at + 1 and max(after) == 60
    expected = losses(reference.stderr)
    assert {step: expected[step] for step in after} == after  # the same losses and rates
    assert float(after[killed_at + 1][1]) == pytest.approx(0.01 * (killed_at + 1) / 40, rel=1e-3)
    final = {run: tf.train.load_checkpoint(str(tmp_path / "runs" / run / "checkpoints" / "ckpt-60"))
             for run in ("reference", "killed")}
    names = [name for name, _ in tf.train.list_variables(str(tmp_path / "runs/killed/checkpoints/ckpt-60"))
             if name.startswith(("model/", "optimizer/"))]
    assert len(names) > 20
    for name in names:
        np.testing.assert_allclose(final["killed"].get_tensor(name), final["reference"].get_tensor(name),
                                   atol=1e-5, err_msg=name)


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_exits_as_preempted(tmp_path):
    config = tiny_config(tmp_path, train={"max_steps": 5000, "max_epochs": 1000,
                                          "checkpoint_every": 1000, "log_every": 1})
    path = save_config(tmp_path, config)
    log = tmp_path / "stderr.txt"
    with open(log, "w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "nmt.cli", "train", "--config", str(path)],
                                   cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 120
        while "step 5/" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 75  # EX_TEMPFAIL: the same command again will go on
    last = log.read_text().strip().splitlines()[-1]
    match = re.fullmatch(r"error: preempted \(SIGTERM\) at step (\d+); checkpoint saved in (.+); "
                         r"run the same command again to resume", last)
    assert match, last
    assert latest_step(Path(match.group(2))) == int(match.group(1)) >= 5
