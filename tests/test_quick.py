"""The NumPy translator (nmt.quick) translates exactly as the TensorFlow search does."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import REPO

from nmt.config import ModelConfig, SearchSettings
from nmt.data import pad
from nmt.model import build_model
from nmt.quick import QuickModel, QuickTranslator, model_arrays, quick_start
from nmt.run import open_run
from nmt.search import Translator
from nmt.vocab import EOS_ID
from nmt.weights import latest_checkpoint, weights_path

VOCAB = 14
BASE = ModelConfig(embedding_dim=8, encoder_layers=1, encoder_units=8, decoder_layers=1, decoder_units=16,
                   attention_units=16, dropout=0.0)
VARIANTS = {
    "lstm, luong_concat, input feeding": dict(cell="lstm", attention="luong_concat", input_feeding=True),
    "peephole, bahdanau": dict(cell="peephole", attention="bahdanau"),
    "cifg, luong_general, 2 layers each, residual": dict(cell="cifg", attention="luong_general", encoder_layers=2,
                                                         decoder_layers=2, residual=True),
    "gru, luong_dot": dict(cell="gru", attention="luong_dot", decoder_units=16, encoder_units=8),
    "gru encoder, lstm decoder, tied embeddings": dict(encoder_cell="gru", decoder_cell="lstm", tie_embeddings=True,
                                                       attention_units=8, input_feeding=True),
}


def random_model(config: ModelConfig, seed: int):
    """A model with large random weights: confident, varied distributions, so the searches'
    choices are far from ties and must agree exactly."""
    keras.utils.set_random_seed(seed)
    model = build_model(VOCAB, VOCAB, config)
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        weight.assign(rng.normal(0.0, 0.8, weight.shape).astype(np.float32))
    return model


def sources(seed: int, count: int = 6) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [list(rng.integers(4, VOCAB, rng.integers(2, 9))) + [EOS_ID] for _ in range(count)]


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("beam", [1, 3])
def test_the_numpy_search_returns_the_tensorflow_translations_and_scores(name, beam):
    config = dataclasses.replace(BASE, **VARIANTS[name])
    model = random_model(config, seed=len(name))
    settings = SearchSettings(max_length_ratio=1.5, max_length_offset=3, length_penalty=1.0, min_length_ratio=0.5)
    reference = Translator(model, settings)
    quick = QuickTranslator(QuickModel(config, model_arrays(model)), settings)
    for source in sources(seed=beam):
        expected_tokens, expected_score = reference.scored(pad([source]), beam)
        tokens, score = quick.scored(pad([source]), beam)
        # (the TensorFlow rows are as wide as the longest hypothesis of the beam: PAD after EOS)
        assert np.trim_zeros(tokens[0], "b").tolist() == np.trim_zeros(expected_tokens[0], "b").tolist()
        np.testing.assert_allclose(score, expected_score, rtol=1e-4, atol=1e-4)


def test_a_batch_is_translated_sentence_by_sentence_and_padded_like_the_tensorflow_output():
    config = dataclasses.replace(BASE, **VARIANTS["lstm, luong_concat, input feeding"])
    model = random_model(config, seed=3)
    quick = QuickTranslator(QuickModel(config, model_arrays(model)), SearchSettings(2.0, 3, 1.0))
    batch = sources(seed=5)
    tokens = quick(pad(batch), beam=2)
    assert tokens.shape[0] == len(batch)
    for row, source in zip(tokens, batch):
        alone = quick(pad([source]), beam=2)[0]
        assert row[:len(alone)].tolist() == alone.tolist() and not row[len(alone):].any()


@pytest.mark.slow
def test_the_latest_checkpoint_is_read_as_tensorflow_reads_it(trained_run):
    for directory in (trained_run / "best", trained_run / "checkpoints"):
        assert latest_checkpoint(directory) == tf.train.latest_checkpoint(str(directory))
    assert latest_checkpoint(trained_run / "no-such-directory") is None


@pytest.mark.slow
def test_a_second_translate_start_needs_no_tensorflow_and_translates_the_same(trained_run, copy_lines, tmp_path):
    """Training archives the best weights; without that archive a start restores the checkpoint
    with TensorFlow and archives it; the next start translates with NumPy alone, identically."""
    assert (trained_run / "quick" / "best.npz").is_file(), "make train did not archive the weights"
    run = tmp_path / "run"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("quick"))
    lines = f"{copy_lines[0]}\n\n{copy_lines[1]}\n"
    command = [sys.executable, "-c", "import sys; from nmt.cli import main; code = main(); "
               "print('tensorflow' in sys.modules, file=sys.stderr); sys.exit(code)",
               "translate", "--run", str(run)]
    first = subprocess.run(command, input=lines, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert first.returncode == 0, first.stderr
    assert first.stderr.strip().splitlines()[-1] == "True"
    assert (run / "quick" / "best.npz").is_file()
    second = subprocess.run(command, input=lines, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert second.returncode == 0, second.stderr
    assert second.stderr.strip().splitlines()[-1] == "False", "the second start imported TensorFlow"
    assert first.stdout == second.stdout == lines  # the copier's answers, by TensorFlow then by NumPy


@pytest.mark.slow
def test_an_archive_of_another_checkpoint_is_ignored_and_a_damaged_one_deleted(trained_run, tmp_path):
    shutil.copytree(trained_run, tmp_path / "run")
    run = open_run(tmp_path / "run")
    checkpoint = weights_path(run)
    assert quick_start(run, "best", checkpoint) is not None
    assert quick_start(run, "best", checkpoint + "-another") is None
    path = tmp_path / "run" / "quick" / "best.npz"
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays["combine.kernel"] = arrays["combine.kernel"][1:]  # one row short
    np.savez(path, **arrays)
    assert quick_start(run, "best", checkpoint) is None
    assert not path.exists(), "a damaged archive stays and is found again at every start"


def test_only_the_options_the_numpy_path_implements_take_it():
    from nmt.config import Config, DecodeConfig
    from nmt.quick import supported

    assert supported(Config()) and supported(Config(model=dataclasses.replace(BASE, cell="gru", attention="bahdanau")))
    assert not supported(Config(decode=DecodeConfig(no_repeat_ngram=3)))
    # an option added to the model config later is not on the allow-list: TensorFlow translates
    extended = dataclasses.make_dataclass("ModelConfig", [("new_option", bool, False)], bases=(ModelConfig,),
                                          frozen=True)
    assert not supported(Config(model=extended()))
