"""benchmarks/: the FLOP count matches the model's matrices, and the scripts measure and write."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import load_script, run_script, save_config, tiny_config

from nmt.config import ModelConfig
from nmt.model import build_model

bench = load_script("benchmarks/bench.py")


def _uses(path: str, attention: str) -> str:
    """How often a weight matrix multiplies per training example: once per source token,
    per target token or per (target, source) pair."""
    if path.startswith("encoder_") or path.endswith(("/W_s/kernel", "/W_a/kernel")):
        return "source"
    return "pair" if path.endswith("/v/kernel") else "target"


@pytest.mark.parametrize("cell, attention, input_feeding", [
    ("cifg", "luong_general", False), ("cifg", "luong_general", True), ("lstm", "luong_dot", False),
    ("gru", "luong_concat", True), ("peephole", "bahdanau", False), ("lstm", "bahdanau", True)])
def test_flops_count_every_weight_matrix_once_per_token_it_multiplies(cell, attention, input_feeding):
    """The GFLOP/s figures of `make bench` rest on this count: checked against the model's own
    matrices, each weighted by how often it is used, for every attention and input feeding."""
    dec = 12 if attention == "luong_dot" else 10  # dot scores need decoder = 2 x encoder units
    config = ModelConfig(cell=cell, embedding_dim=8, encoder_layers=2, encoder_units=6, decoder_layers=2,
                         decoder_units=dec, attention_units=14, attention=attention, input_feeding=input_feeding)
    batch, source, target = 2, 3, 4
    model = build_model(50, 50, config)
    times = {"source": batch * source, "target": batch * target, "pair": batch * target * source}
    macs = sum(times[_uses(v.path, attention)] * int(np.prod(v.shape)) for v in model.trainable_variables
               if len(v.shape) == 2 and "embedding" not in v.path and "bridge" not in v.path)
    if attention in ("luong_dot", "luong_general"):
        macs += times["pair"] * dec                      # the score q . k of every pair
    macs += times["pair"] * 2 * config.encoder_units     # the context vectors
    assert bench.training_flops(config, 50, batch, source, target) == 3 * 2 * macs


@pytest.mark.slow
def test_bench_command_writes_its_measurements(tmp_path):
    path = save_config(tmp_path, tiny_config(tmp_path))
    result = run_script("benchmarks/bench.py", "--config", str(path), "--steps", "2",
                        "--output", str(tmp_path / "bench"))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "bench" / "bench.json").read_text())
    for precision in ("training_float32", "training_bfloat16"):
        assert report[precision]["target_tokens_per_second"] > 0 and report[precision]["steps_timed"] == 2
    assert all(value > 0 for value in report["decode_sentences_per_second"].values())
    first = report["seconds_to_first_translation"]
    assert first["piped"] > 0 and first["repl"] > 0 and first["first_start_tensorflow"] > 0
    assert "| training, float32: target tokens/s |" in result.stdout
    with np.load(tmp_path / "bench" / "batches.npz") as saved:
        assert int(saved["train_count"]) == 10 and int(saved["decode_count"]) > 0


@pytest.mark.slow
def test_bench_peer_failure_of_the_peer_is_one_line(tmp_path):
    path = save_config(tmp_path, tiny_config(tmp_path))
    result = run_script("benchmarks/bench_peer.py", "--config", str(path), "--rounds", "1",
                        "--peer-python", "/bin/false", "--output", str(tmp_path / "peer"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == \
        "error: bench-peer: the JoeyNMT side failed (exit 1); its messages are above"
    assert (tmp_path / "peer" / "round1" / "bench.json").exists()  # our side ran first
