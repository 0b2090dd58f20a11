"""Fixtures shared by the tests, and an environment free of the caller's TensorFlow settings.

The helpers they use (tiny configs, small real corpora, running the CLI) are in helpers.py."""

from __future__ import annotations

import os

import pytest
from helpers import run_cli, save_config, tiny_config, write_copy_task

from nmt import prefer_onednn

# The suite never depends on the caller's TensorFlow settings (TF_CPP_MIN_LOG_LEVEL, TF_CONFIG,
# TF_ENABLE_ONEDNN_OPTS, ...) or on NMT_DEBUG; TensorFlow imported by the tests themselves is quiet.
for _key in [key for key in os.environ if key.startswith("TF_") or key == "NMT_DEBUG"]:
    del os.environ[_key]
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
prefer_onednn()  # as in every nmt process: the tests import TensorFlow before nmt


@pytest.fixture
def tiny(tmp_path):
    return tiny_config(tmp_path)


@pytest.fixture(scope="session")
def copier(tmp_path_factory):
    """The config of the suite's one trained run: a tiny model, trained through the CLI, that
    has learned to copy sequences of real German words (nearly every line of its test set
    comes back unchanged), so a test can check the translated text itself - a line lost,
    repeated, in the wrong place or translated by the wrong path shows."""
    tmp_path = tmp_path_factory.mktemp("copier")
    config = tiny_config(tmp_path, train={"max_steps": 250, "max_epochs": 10_000, "batch_tokens": 2000,
                                          "log_every": 50, "checkpoint_every": 250,
                                          "learning_rate": 0.02},
                         model={"embedding_dim": 32, "encoder_units": 32, "decoder_units": 64,
                                "attention_units": 64})
    write_copy_task(tmp_path / "data", (("train", 3000), ("dev", 16), ("test", 40)))  # replaces tiny's
    path = save_config(tmp_path, config)
    result = run_cli("train", "--config", str(path))
    assert result.returncode == 0, result.stderr
    (tmp_path / "train.stdout").write_text(result.stdout, encoding="utf-8")  # for the tests of `nmt train`
    (tmp_path / "train.stderr").write_text(result.stderr, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def trained_run(copier):
    """The copier's run directory, shared read-only (copy it before damaging it)."""
    return copier.parent / "runs" / "tiny"


@pytest.fixture(scope="session")
def copy_lines(copier) -> list[str]:
    """The lines of the copier's test set that its training's own test translation returned
    unchanged (at least 36 of the 40): every way of translating them must return them as they are."""
    sources = (copier.parent / "data" / "test.de").read_text(encoding="utf-8").splitlines()
    translations = (copier.parent / "runs" / "tiny" / "test.en.hyp").read_text(encoding="utf-8").splitlines()
    copied = [source for source, translation in zip(sources, translations, strict=True) if source == translation]
    assert len(copied) >= 36, list(zip(sources, translations))
    return copied
