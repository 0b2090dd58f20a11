"""`nmt diagnose` and the start from the unigram distribution it measures."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli, save_config, tiny_config

pytestmark = pytest.mark.slow  # trains several models or processes: left out by make test-fast


def diagnose(tmp_path, *flags: str) -> list[dict]:
    output = tmp_path / f"diagnose{len(flags)}.jsonl"
    path = save_config(tmp_path, tiny_config(tmp_path))
    result = run_cli("diagnose", "--config", str(path), "--steps", "20", "--every", "10",
                     "--output", str(output), *flags)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 10, 20]
    assert not (tmp_path / "runs").exists(), "diagnose must not leave a run behind"
    return records


def test_training_starts_at_the_unigram_loss_and_diagnose_measures_it(tmp_path):
    start = diagnose(tmp_path)[0]
    # the output bias holds the target log-frequencies: the first loss is the unigram entropy
    assert start["loss_to_unigram"] == pytest.approx(1.0, abs=0.03)
    assert start["attentional_saturated"] == 0.0 and start["bridge_saturated"] == 0.0
    assert 0.9 < start["attention_entropy"] <= 1.0  # untrained attention is nearly uniform
    assert start["encoder_recurrent_gradient"] > 0 and start["decoder_recurrent_gradient"] > 0


def test_zero_output_bias_starts_far_above_the_unigram_loss(tmp_path):
    start = diagnose(tmp_path, "--zero-output-bias")[0]
    assert start["loss_to_unigram"] > 1.3  # log(vocabulary) against the unigram entropy
