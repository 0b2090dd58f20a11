"""`nmt compare`: one table and one plot for several variants trained on the same budget."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from helpers import run_cli, save_config, tiny_config

import nmt.compare
from nmt.compare import markdown, variant_configs
from nmt.config import load_config
from nmt.errors import NmtError


@pytest.mark.slow
def test_compare_two_cells_over_two_seeds_and_a_second_config(tmp_path):
    config = tiny_config(tmp_path, train={"max_steps": 4, "validate_every": 2, "log_every": 1,
                                          "stall_steps": 2})
    path = save_config(tmp_path, config)
    other = save_config(tmp_path, {**config, "name": "other"}, "other.yaml")
    result = run_cli("compare", "--config", str(path), "--vary", "model.cell=lstm,cifg",
                     "--vary", f"config={other}", "--seeds", "1,2")
    assert result.returncode == 0, result.stderr
    root = tmp_path / "runs" / "tiny-compare"
    report = json.loads((root / "compare.json").read_text())
    assert list(report["results"]) == ["lstm-seed1", "lstm-seed2", "cifg-seed1", "cifg-seed2",
                                       "other-seed1", "other-seed2"]
    lstm, cifg = report["results"]["lstm-seed1"], report["results"]["cifg-seed1"]
    assert cifg["parameters"] < lstm["parameters"]
    assert [r["seed"] for r in report["results"].values()] == [1, 2, 1, 2, 1, 2]
    assert report["results"]["other-seed2"]["cell"] == "cifg"  # the default cell of other.yaml
    # different seeds are different runs
    assert lstm["history"][-1]["dev_loss"] != report["results"]["lstm-seed2"]["history"][-1]["dev_loss"]
    for row in report["results"].values():
        assert row["steps"] == 4 and len(row["history"]) == 2
        first = row["history"][0]
        assert row["loss_to_unigram"] == round(first["train_loss"] / first["unigram_entropy"], 3)
        speeds = sorted(h["train_tokens_per_second"] for h in row["history"])
        assert row["train_tokens_per_second"] == round((speeds[0] + speeds[1]) / 2)  # the median of the history
        assert row["decode_sentences_per_second"] > 0
        assert row["BLEU"]["signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    table = (root / "compare.md").read_text()
    assert "| lstm-seed1 | tiny | lstm | 1 |" in table and "| other-seed2 | tiny | cifg | 2 |" in table
    assert "| lstm-seed1 |" in result.stdout
    assert (root / "dev_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_finished_variant_is_reused_and_a_changed_one_retrained(tmp_path, monkeypatch):
    trained = []
    monkeypatch.setattr(nmt.compare, "train_variant",
                        lambda config: trained.append(config.seed) or {"seed": config.seed})
    config = load_config(save_config(tmp_path, tiny_config(tmp_path)))
    assert nmt.compare.cached_or_trained(config) == {"seed": 7}
    assert nmt.compare.cached_or_trained(config) == {"seed": 7} and trained == [7]
    assert nmt.compare.cached_or_trained(replace(config, seed=8)) == {"seed": 8} and trained == [7, 8]


def test_runs_tested_on_several_sets_get_a_bleu_column_per_set():
    def result(help_bleu: float) -> dict:
        sets = {"test-everyday": {"BLEU": {"score": 7.5, "signature": "nrefs:1"}},
                "test-help": {"BLEU": {"score": help_bleu, "signature": "nrefs:1"}}}
        return {"corpus": "c", "cell": "cifg", "seed": 1, "parameters": 10, "train_tokens_per_second": 5,
                "steps": 9, "stall_steps": 3, "loss_to_unigram": 0.5, "dev_loss": 2.0, "dev_bleu": 1.0,
                "test_set": "data/c/test-everyday", "BLEU": {"score": 7.5, "signature": "nrefs:1"},
                "chrF": {"score": 30.0, "signature": "chrF2"}, "test_sets": sets,
                "decode_sentences_per_second": 3.0, "beam_size": 5}
    table = markdown({"a": result(30.25), "b": result(41.0)})
    assert "| run | BLEU test-everyday | BLEU test-help |" in table
    assert "| a | 7.50 | 30.25 |" in table and "| b | 7.50 | 41.00 |" in table


@pytest.mark.slow
def test_bad_seeds_are_a_one_line_error(tmp_path):
    path = save_config(tmp_path, tiny_config(tmp_path))
    result = run_cli("compare", "--config", str(path), "--seeds", "one,two")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --seeds 'one,two': expected integers separated by commas, e.g. 1,2"]


@pytest.mark.slow
def test_unknown_cell_lists_valid_names_before_training(tmp_path):
    path = save_config(tmp_path, tiny_config(tmp_path))
    result = run_cli("compare", "--config", str(path), "--vary", "model.cell=lstm,lstn")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {path} (with overrides): model.cell: expected one of lstm, peephole, cifg, gru, "
        f"got 'lstn'"]
    assert not (tmp_path / "runs").exists()


def test_a_variant_sets_several_keys_and_base_is_the_config_unchanged(tmp_path):
    path = save_config(tmp_path, tiny_config(tmp_path))
    configs = variant_configs(str(path), ["train.max_steps=7"], ["model.cell=gru"], [1, 2],
                              tmp_path / "cmp", ["base:", "reg: model.dropout=0.5 train.label_smoothing=0.1"])
    assert list(configs) == ["gru-seed1", "gru-seed2", "base-seed1", "base-seed2", "reg-seed1", "reg-seed2"]
    base, reg = configs["base-seed2"], configs["reg-seed2"]
    assert (base.model.dropout, base.train.label_smoothing) == (0.0, 0.0)
    assert (reg.model.dropout, reg.train.label_smoothing, reg.seed) == (0.5, 0.1, 2)
    assert reg.train.max_steps == base.train.max_steps == 7  # the shared overrides apply to every variant
    assert reg.run_root == str(tmp_path / "cmp")


@pytest.mark.parametrize("text", ["reg model.dropout=0.5", ": model.dropout=0.5", "a/b: model.dropout=0.5"])
def test_a_malformed_variant_is_refused(tmp_path, text):
    path = save_config(tmp_path, tiny_config(tmp_path))
    with pytest.raises(NmtError, match="expected NAME: key.path=value key.path=value"):
        variant_configs(str(path), [], [], [None], tmp_path, [text])
