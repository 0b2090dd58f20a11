"""benchmarks/: the FLOP count matches the model's matrices, and the scripts measure and write."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import load_script, run_script, save_config, tiny_config

from nmt.config import ModelConfig
from nmt.model import build_model

bench = load_script("benchmarks/bench.py")


def test_flops_of_one_token_pair_count_every_weight_matrix_once():
    config = ModelConfig(embedding_dim=8, encoder_layers=2, encoder_units=6, decoder_layers=2,
                         decoder_units=10, attention_units=12, attention="luong_general")
    model = build_model(50, 50, config)
    matrices = sum(int(np.prod(v.shape)) for v in model.trainable_variables
                   if len(v.shape) == 2 and "embedding" not in v.path and "bridge" not in v.path)
    # one source and one target token: each matrix weight is one multiply-add, plus the
    # score (decoder_units) and the context (2 * encoder_units) of the single (target, source) pair
    expected = 3 * 2 * (matrices + config.decoder_units + 2 * config.encoder_units)
    assert bench.training_flops(config, 50, 1, 1, 1) == expected


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
    assert report["seconds_to_first_translation"] > 0
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
