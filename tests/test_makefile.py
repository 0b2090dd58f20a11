"""The Makefile's variables reach the command they name (CONFIG, INPUT, OUTPUT, BEAM, WEIGHTS, LAST,
NBEST, SCORES, PREFIX, RUNS, SOURCE, TARGET), checked by running the real targets on a copy of the
suite's copier run, whose translation of each of its test lines is that line."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from helpers import REPO, save_config

pytestmark = pytest.mark.slow  # several processes each load TensorFlow: left out by make test-fast


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], capture_output=True, text=True,
                          timeout=300, cwd=REPO)


@pytest.fixture
def config(copier, trained_run, tmp_path):
    """A config whose run is a copy of the copier run (targets may write into it)."""
    shutil.copytree(trained_run, tmp_path / "runs" / "tiny")
    settings = yaml.safe_load(copier.read_text(encoding="utf-8"))
    return save_config(tmp_path, {**settings, "run_root": str(tmp_path / "runs")})


def test_translate_reads_input_writes_output_with_beam_and_weights(config, copy_lines, tmp_path):
    source, target = tmp_path / "in.de", tmp_path / "out.en"
    source.write_text(f"{copy_lines[0]}\n\n{copy_lines[1]}\n", encoding="utf-8")
    result = make("translate", f"CONFIG={config}", f"INPUT={source}", f"OUTPUT={target}", "BEAM=1",
                  "WEIGHTS=latest")
    assert result.returncode == 0, result.stderr
    assert target.read_text(encoding="utf-8") == f"{copy_lines[0]}\n\n{copy_lines[1]}\n"
    refused = make("translate", f"CONFIG={config}", f"INPUT={source}", "BEAM=0")
    assert refused.returncode != 0
    assert "error: --beam: expected a value between 1 and 100, got 0" in refused.stderr


def test_average_last_then_evaluate_and_export_the_averaged_weights(config, tmp_path):
    run = tmp_path / "runs" / "tiny"
    missing = make("evaluate", f"CONFIG={config}", "WEIGHTS=averaged")  # WEIGHTS reaches evaluate
    assert f"error: {run / 'averaged'}: no averaged checkpoint; run `nmt average` first" in missing.stderr
    too_many = make("average", f"CONFIG={config}", "LAST=9")  # LAST reaches average
    assert "asked to average the last 9 checkpoints" in too_many.stderr
    averaged = make("average", f"CONFIG={config}", "LAST=2")
    assert averaged.returncode == 0, averaged.stderr
    assert (run / "averaged").is_dir()
    evaluated = make("evaluate", f"CONFIG={config}", "WEIGHTS=averaged")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "BLEU" in evaluated.stdout
    exported = make("export", f"CONFIG={config}", "WEIGHTS=averaged", "BEAM=1")
    assert exported.returncode == 0, exported.stderr
    version = exported.stdout.strip().splitlines()[-1]
    assert version == str(run / "export" / "1"), "the default export path is runs/<name>/export/<version>"
    assert (run / "export" / "1" / "saved_model.pb").is_file()


def test_nbest_scores_prefix_and_runs_reach_translate(config, copy_lines, tmp_path):
    source, prefixes = tmp_path / "in.de", tmp_path / "prefixes.en"
    source.write_text(f"{copy_lines[0]}\n{copy_lines[1]}\n", encoding="utf-8")
    nbest = make("translate", f"CONFIG={config}", f"INPUT={source}", "BEAM=2", "NBEST=2")
    assert nbest.returncode == 0, nbest.stderr
    rows = [line.split("\t") for line in nbest.stdout.splitlines()]
    assert [(row[0], row[1]) for row in rows] == [("1", "1"), ("1", "2"), ("2", "1"), ("2", "2")]
    assert [row[3] for row in rows if row[1] == "1"] == copy_lines[:2]
    scored = make("translate", f"CONFIG={config}", f"INPUT={source}", "BEAM=2", "SCORES=1")
    assert [line.split("\t")[1] for line in scored.stdout.splitlines()] == copy_lines[:2]
    first = copy_lines[2].split()[0]
    prefixes.write_text(f"{first}\n\n", encoding="utf-8")
    prefixed = make("translate", f"CONFIG={config}", f"INPUT={source}", f"PREFIX={prefixes}")
    assert prefixed.returncode == 0, prefixed.stderr
    lines = prefixed.stdout.splitlines()
    assert lines[0].startswith(first + " ") and lines[1] == copy_lines[1]
    run = tmp_path / "runs" / "tiny"
    ensemble = make("translate", f"INPUT={source}", f"RUNS={run} {run}")
    assert ensemble.returncode == 0, ensemble.stderr
    assert f"ensemble of 2 runs: {run}, {run}" in ensemble.stderr and ensemble.stdout.splitlines() == copy_lines[:2]


def test_score_reads_source_and_target(config, copy_lines, tmp_path):
    source, target = tmp_path / "pairs.de", tmp_path / "pairs.en"
    source.write_text(f"{copy_lines[0]}\n{copy_lines[1]}\n", encoding="utf-8")
    target.write_text(f"{copy_lines[0]}\n{copy_lines[2]}\n", encoding="utf-8")
    scored = make("score", f"CONFIG={config}", f"SOURCE={source}", f"TARGET={target}")
    assert scored.returncode == 0, scored.stderr
    per_token = [float(line.split("\t")[1]) for line in scored.stdout.splitlines()]
    assert len(per_token) == 2 and per_token[0] > -0.5 > -2 > per_token[1]  # a copy is likely, another line not
