"""``train.init_from``: a new run starts from a trained run's weights and tokenizer, with a
fresh optimizer, step counter and budget, and is refused in one line when they do not fit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import yaml
from helpers import run_cli, save_config, shipped_pairs, tiny_config, write_corpus

pytestmark = pytest.mark.slow  # trains tiny models


def child_config(tmp_path, parent, **train) -> dict:
    """The tiny config, with the parent run's model, on other sentences of the shipped corpus
    (a "new domain")."""
    parent_config = parent / "config.yaml"
    model = yaml.safe_load(parent_config.read_text(encoding="utf-8"))["model"] if parent_config.exists() else {}
    config = tiny_config(tmp_path, name="child", model=model, train={"init_from": str(parent), **train})
    config["data"]["train"] = write_corpus(tmp_path / "other", "train", shipped_pairs("train", 600)[300:])
    return config


def test_a_run_starts_from_the_weights_and_tokenizer_of_another(trained_run, tmp_path):
    from nmt.config import load_config
    from nmt.run import open_run
    from nmt.train import Trainer, prepare_run, read_corpora
    from nmt.weights import load_model

    config = load_config(save_config(tmp_path, child_config(tmp_path, trained_run)))
    corpora = read_corpora(config)
    run = prepare_run(config, corpora)
    assert (run.directory / "spm.model").read_bytes() == (trained_run / "spm.model").read_bytes()
    trainer = Trainer(run, corpora)
    assert trainer.translator.changing_weights  # validation searches weights that keep training
    trainer.restore()
    parent = load_model(open_run(trained_run))  # its best checkpoint
    compared = 0
    for got, expected in zip(trainer.model.trainable_variables, parent.trainable_variables, strict=True):
        np.testing.assert_array_equal(got.numpy(), expected.numpy(), err_msg=got.path)
        compared += 1
    assert compared == len(trainer.model.trainable_variables) > 5
    assert int(trainer.step) == 0 and int(trainer.optimizer.iterations) == 0  # fresh counters


def test_continued_training_through_the_cli_trains_its_own_budget(trained_run, tmp_path):
    path = save_config(tmp_path, child_config(tmp_path, trained_run, max_steps=4))
    result = run_cli("train", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert f"starting from {trained_run} (train.init_from)" in result.stderr
    assert f"starting from the weights of {trained_run / 'best'}" in result.stderr
    assert "step 4/4" in result.stderr and "tokenizer (" not in result.stderr
    again = run_cli("train", "--config", str(path), "train.max_steps=6")  # resumes its own checkpoint
    assert again.returncode == 0, again.stderr
    assert "resuming" in again.stderr and "starting from the weights" not in again.stderr


@pytest.mark.parametrize("override, message", [
    ("model.decoder_units=48", "was trained with model.decoder_units=64, this config says 48; "
                               "a run started from it keeps its tokenizer and model"),
    ("tokenizer.vocab_size=500", "was trained with tokenizer.vocab_size=400, this config says 500; "
                                 "a run started from it keeps its tokenizer and model"),
])
def test_a_run_that_does_not_fit_is_refused_in_one_line(trained_run, tmp_path, override, message):
    path = save_config(tmp_path, child_config(tmp_path, trained_run))
    result = run_cli("train", "--config", str(path), override)
    assert result.returncode == 2
    assert result.stderr == f"error: train.init_from: {trained_run} {message}\n"
    assert not (tmp_path / "runs" / "child").exists()


def test_a_missing_run_is_refused_in_one_line(tmp_path):
    path = save_config(tmp_path, child_config(tmp_path, tmp_path / "runs" / "nothing"))
    result = run_cli("train", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr == (f"error: train.init_from: {tmp_path / 'runs' / 'nothing'} is not a trained "
                             f"run (no config.yaml there)\n")


def test_dropout_may_differ_from_the_parent(trained_run, tmp_path):
    from nmt.config import load_config
    from nmt.run import parent_run

    config = load_config(save_config(tmp_path, child_config(tmp_path, trained_run)))
    changed = dataclasses.replace(config, model=dataclasses.replace(config.model, dropout=0.4, word_dropout=0.1))
    assert parent_run(changed).directory == trained_run
