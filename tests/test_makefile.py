"""The Makefile's variables reach the command they name (CONFIG, INPUT, OUTPUT, BEAM, WEIGHTS, LAST),
checked by running the real targets on a copy of a tiny trained run."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from helpers import REPO, save_config, tiny_config

pytestmark = pytest.mark.slow  # several processes each load TensorFlow: left out by make test-fast


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], capture_output=True, text=True,
                          timeout=300, cwd=REPO)


@pytest.fixture
def config(trained_run, tmp_path):
    """A config whose run is a copy of the tiny trained run (targets may write into it)."""
    shutil.copytree(trained_run, tmp_path / "runs" / "tiny")
    return save_config(tmp_path, tiny_config(tmp_path))


def test_translate_reads_input_writes_output_with_beam_and_weights(config, tmp_path):
    source, target = tmp_path / "in.de", tmp_path / "out.en"
    source.write_text("Guten Morgen.\n\nWie geht es dir?\n", encoding="utf-8")
    result = make("translate", f"CONFIG={config}", f"INPUT={source}", f"OUTPUT={target}", "BEAM=1",
                  "WEIGHTS=latest")
    assert result.returncode == 0, result.stderr
    assert len(target.read_text(encoding="utf-8").split("\n")) == 4  # three lines, the blank one kept
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
