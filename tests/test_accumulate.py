"""Gradient accumulation (``train.accumulate``): N batches make one update, equal to one
batch N times as large, and a run stopped in the middle of a group resumes it."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import tensorflow as tf
from helpers import run_cli, save_config, tiny_config

from nmt.vocab import PAD_ID

pytestmark = pytest.mark.slow  # builds and trains several tiny models


def trainer_for(tmp_path, accumulate: int):
    """A Trainer on the tiny corpus whose label smoothing and clipping are on, so they are
    covered too; every Trainer built with the same seed starts from the same weights."""
    from nmt.config import load_config
    from nmt.train import Trainer, prepare_run, read_corpora

    config = load_config(save_config(tmp_path, tiny_config(
        tmp_path, train={"label_smoothing": 0.1, "clip_norm": 0.5, "learning_rate": 0.01})))
    corpora = read_corpora(config)
    run = prepare_run(config, corpora)
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, accumulate=accumulate))
    return Trainer(dataclasses.replace(run, config=config), corpora)


def first_batches(trainer, count: int) -> list[tuple[np.ndarray, ...]]:
    from nmt.data import epoch_dataset

    dataset = epoch_dataset(trainer.corpus, trainer.config.train.batch_tokens, trainer.config.seed, 0)
    return [tuple(t.numpy() for t in batch) for batch, _ in zip(dataset, range(count))]


def joined(batches: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """The batches as one batch: rows stacked, each padded to the longest."""
    def stack(arrays):
        width = max(a.shape[1] for a in arrays)
        return np.concatenate([np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=PAD_ID)
                               for a in arrays])
    return tuple(stack([batch[i] for batch in batches]) for i in range(3))


def step(trainer, batch, last: bool) -> int:
    _, _, outcome, _, _ = trainer.train_step(*(tf.constant(t) for t in batch), tf.constant(0.0, tf.float64),
                                             tf.constant(0.01), tf.constant(last), tf.constant(0.0))
    return int(outcome)


def test_accumulated_gradients_equal_those_of_one_batch_as_large_as_the_group(tmp_path):
    trainer = trainer_for(tmp_path, 3)
    batches = first_batches(trainer, 3)
    assert len({b[0].shape for b in batches}) > 1, "batches of different shapes make the test stronger"
    for batch in batches:
        tokens = tf.reduce_sum(tf.cast(batch[2] != PAD_ID, tf.float32))
        loss_sum, gradients = trainer.train_step.replica_gradients(*batch, tokens)
        trainer.accumulator.add(loss_sum, gradients, tokens)
    group_loss, group_gradients = trainer.accumulator.totals()

    big = joined(batches)
    big_loss, big_gradients = trainer.train_step.replica_gradients(
        *big, tf.reduce_sum(tf.cast(big[2] != PAD_ID, tf.float32)))
    np.testing.assert_allclose(float(group_loss), float(big_loss), rtol=1e-5)
    for got, expected, variable in zip(group_gradients, big_gradients, trainer.model.trainable_variables):
        np.testing.assert_allclose(got.numpy(), tf.convert_to_tensor(expected).numpy(), atol=1e-6,
                                   err_msg=variable.path)


def test_updates_of_accumulated_groups_equal_updates_of_joined_batches(tmp_path):
    from nmt.step import ACCUMULATED, APPLIED

    grouped, single = trainer_for(tmp_path, 2), trainer_for(tmp_path, 1)
    batches = first_batches(grouped, 6)
    start = [v.numpy() for v in grouped.model.trainable_variables]
    for update in range(3):
        first, second = batches[2 * update], batches[2 * update + 1]
        assert step(grouped, first, last=False) == ACCUMULATED
        if update == 0:  # nothing moves before the group is complete
            for before, variable in zip(start, grouped.model.trainable_variables):
                np.testing.assert_array_equal(variable.numpy(), before)
        assert step(grouped, second, last=True) == APPLIED
        assert step(single, joined([first, second]), last=True) == APPLIED
    assert int(grouped.optimizer.iterations) == int(single.optimizer.iterations) == 3
    moved = max(float(np.max(np.abs(v.numpy() - s))) for v, s in zip(grouped.model.trainable_variables, start))
    assert moved > 1e-3
    for got, expected in zip(grouped.model.trainable_variables, single.model.trainable_variables):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5, err_msg=got.path)


def final_weights(run) -> dict[str, np.ndarray]:
    checkpoint = tf.train.latest_checkpoint(str(run / "checkpoints"))
    reader = tf.train.load_checkpoint(checkpoint)
    return {key: reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
            if key.startswith("model/") and "seed_generator" not in key}


def test_a_run_stopped_inside_a_group_resumes_it(tmp_path):
    """The first epoch ends inside a group: its gradients go into the checkpoint, and a
    run continued from there ends with the weights of a run that never stopped."""
    train = {"accumulate": 4, "max_steps": None, "log_every": 1, "checkpoint_every": 1000}
    config = tiny_config(tmp_path, train={**train, "max_epochs": 1})
    path = save_config(tmp_path, config)
    first = run_cli("train", "--config", str(path), "name=stopped")
    assert first.returncode == 0, first.stderr
    batches, updates = map(int, re.search(r"(\d+) batches per epoch \((\d+) updates of 4 batches\)",
                                          first.stderr).groups())
    assert batches % 4 != 0 and updates == batches // 4, "the first epoch must end inside a group"
    resumed = run_cli("train", "--config", str(path), "name=stopped", "train.max_epochs=3")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {tmp_path / 'runs' / 'stopped'} from step {updates} " in resumed.stderr
    switched = run_cli("train", "--config", str(path), "name=stopped", "train.max_epochs=4", "train.accumulate=1")
    assert switched.returncode != 0
    assert switched.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'runs' / 'stopped'}: its checkpoints were written with train.accumulate=4, the "
        "config now says 1; accumulation cannot be switched on or off in a run: keep train.accumulate=4 "
        "or use a new name")
    assert "accumulate: 4" in (tmp_path / "runs" / "stopped" / "config.yaml").read_text()  # left as it was
    whole = run_cli("train", "--config", str(path), "name=whole", "train.max_epochs=3")
    assert whole.returncode == 0, whole.stderr
    assert f"step {3 * batches // 4}/" in whole.stderr

    got, expected = final_weights(tmp_path / "runs" / "stopped"), final_weights(tmp_path / "runs" / "whole")
    assert got.keys() == expected.keys()
    for key in got:
        np.testing.assert_allclose(got[key], expected[key], atol=1e-5, err_msg=key)
