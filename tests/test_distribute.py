"""Multi-worker training (MultiWorkerMirroredStrategy on loopback) equals one worker on the same batches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers import REPO, save_config, tiny_config

from nmt.distribute import free_ports

pytestmark = pytest.mark.slow  # trains several models or processes: left out by make test-fast


def nmt(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "nmt.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=REPO, env=environment)


def loss_curve(run: Path) -> list[float]:
    """The train/loss scalars the chief logged to TensorBoard, in step order."""
    points = {}
    for events in sorted((run / "tensorboard").glob("events.*")):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            for value in event.summary.value:
                if value.tag == "train/loss":
                    points[event.step] = float(tf.make_ndarray(value.tensor))
    return [points[step] for step in sorted(points)]


def weights(checkpoint: str) -> dict[str, np.ndarray]:
    reader = tf.train.load_checkpoint(checkpoint)
    return {key: reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
            if key.startswith("model/") and "seed_generator" not in key}


def test_local_workers_get_distinct_ports():
    ports = free_ports(32)  # the system may reuse a port once its probe socket is closed
    assert len(set(ports)) == 32 and all(1024 <= port <= 65535 for port in ports)


def test_two_workers_follow_the_single_worker_loss_curve(tmp_path):
    config = save_config(tmp_path, tiny_config(
        tmp_path, train={"max_steps": 8, "log_every": 1, "checkpoint_every": 4, "learning_rate": 0.02,
                         "batch_tokens": 1200}))
    single = nmt("train", "--config", str(config), "name=single")
    assert single.returncode == 0, single.stderr
    assert "replicas" not in single.stderr
    two = nmt("train-distributed", "--workers", "2", "--config", str(config), "name=two")
    assert two.returncode == 0, two.stderr
    assert "batches split across 2 replicas" in two.stderr
    worker_log = (tmp_path / "runs" / "two.workers" / "worker-1.log").read_text(encoding="utf-8")
    assert "batches split across 2 replicas" in worker_log and "step 8/8" in worker_log

    expected, got = loss_curve(tmp_path / "runs" / "single"), loss_curve(tmp_path / "runs" / "two")
    assert len(expected) == len(got) == 8
    assert expected[-1] < expected[0] - 0.05  # it learns, so a wrong update would show
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # only the chief wrote checkpoints, and they hold the same weights
    final = weights(str(tmp_path / "runs" / "two" / "checkpoints" / "ckpt-8"))
    reference = weights(str(tmp_path / "runs" / "single" / "checkpoints" / "ckpt-8"))
    assert final.keys() == reference.keys()
    for key in final:
        np.testing.assert_allclose(final[key], reference[key], atol=1e-5, err_msg=key)

    # resume: every worker restores the chief's checkpoint and the curves go on together
    single = nmt("train", "--config", str(config), "name=single", "train.max_steps=11")
    two = nmt("train-distributed", "--workers", "2", "--config", str(config), "name=two",
              "train.max_steps=11")
    assert single.returncode == 0 and two.returncode == 0, two.stderr
    resumed = f"resuming {tmp_path / 'runs' / 'two'} from step 8"
    assert resumed in two.stderr
    assert resumed in (tmp_path / "runs" / "two.workers" / "worker-1.log").read_text(encoding="utf-8")
    expected, got = loss_curve(tmp_path / "runs" / "single"), loss_curve(tmp_path / "runs" / "two")
    assert len(expected) == len(got) == 11
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_mirrored_strategy_trains_like_no_strategy(tmp_path):
    config = save_config(tmp_path, tiny_config(tmp_path, train={"max_steps": 4, "log_every": 1}))
    for name, strategy in (("plain", "none"), ("mirrored", "mirrored")):
        result = nmt("train", "--config", str(config), f"name={name}", f"train.distribute={strategy}")
        assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(loss_curve(tmp_path / "runs" / "mirrored"),
                               loss_curve(tmp_path / "runs" / "plain"), rtol=1e-6)


def test_multi_worker_needs_a_valid_tf_config(tmp_path):
    config = save_config(tmp_path, tiny_config(tmp_path))
    result = nmt("train", "--config", str(config), "train.distribute=multi_worker")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: train.distribute=multi_worker needs the TF_CONFIG environment variable (see "
        "docs/distributed.md); `make train-distributed WORKERS=N` sets it for local workers")
    result = nmt("train", "--config", str(config), "train.distribute=multi_worker",
                 env={"TF_CONFIG": '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"index": 3}}'})
    assert result.returncode == 2
    assert result.stderr.strip() == ('error: TF_CONFIG: expected JSON like {"cluster": {"worker": '
                                     '["host:port", ...]}, "task": {"type": "worker", "index": 0}}')
    assert not (tmp_path / "runs").exists()


def test_a_negative_number_of_restarts_is_one_line(tmp_path):
    config = save_config(tmp_path, tiny_config(tmp_path))
    result = nmt("train-distributed", "--restarts", "-1", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.strip() == "error: RESTARTS: expected a number of restarts of 0 or more, got -1"
