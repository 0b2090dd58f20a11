"""`nmt compare`: one table and one plot for several variants trained on the same budget."""

from __future__ import annotations

import json

from conftest import run_cli, save_config, tiny_config


def test_compare_two_cells(tmp_path):
    config = tiny_config(tmp_path, train={"max_steps": 4, "validate_every": 2, "log_every": 1})
    path = save_config(tmp_path, config)
    result = run_cli("compare", "--config", str(path), "--vary", "model.cell=lstm,cifg")
    assert result.returncode == 0, result.stderr
    root = tmp_path / "runs" / "tiny-compare"
    report = json.loads((root / "compare.json").read_text())
    assert report["key"] == "model.cell" and list(report["results"]) == ["lstm", "cifg"]
    lstm, cifg = report["results"]["lstm"], report["results"]["cifg"]
    assert cifg["parameters"] < lstm["parameters"]
    for row in (lstm, cifg):
        assert row["steps"] == 4 and len(row["history"]) == 2
        assert row["train_tokens_per_second"] > 0 and row["decode_sentences_per_second"] > 0
        assert row["BLEU"]["signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    table = (root / "compare.md").read_text()
    assert "| lstm |" in table and "| cifg |" in table and "| lstm |" in result.stdout
    assert (root / "dev_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_cell_lists_valid_names_before_training(tmp_path):
    path = save_config(tmp_path, tiny_config(tmp_path))
    result = run_cli("compare", "--config", str(path), "--vary", "model.cell=lstm,lstn")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {path} (with overrides): model.cell: expected one of lstm, peephole, cifg, gru, "
        f"got 'lstn'"]
    assert not (tmp_path / "runs").exists()
