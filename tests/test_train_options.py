"""Training options end to end through the CLI: separate BPE tokenizers, bfloat16 (a copier trained
in it, translated in float32), patience, a time budget spanning resumes, a corpus built on first use, and a run root
that cannot be written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sentencepiece.sentencepiece_model_pb2 as spm_model
import yaml
from corpus_fixtures import fake_debian_cache, sentence_pairs
from helpers import run_cli, save_config, shipped_pairs, tiny_config

from nmt.run import open_run
from nmt.weights import load_model

pytestmark = pytest.mark.slow  # each test trains through the CLI: left out by make test-fast


def validations(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "validations.jsonl").read_text().splitlines()]


def test_separate_bpe_tokenizers_train_and_translate(tmp_path):
    config = tiny_config(tmp_path, tokenizer={"type": "bpe", "shared": False, "vocab_size": 500})
    path = save_config(tmp_path, config)
    trained = run_cli("train", "--config", str(path))
    assert trained.returncode == 0, trained.stderr
    run = tmp_path / "runs" / "tiny"
    models = {}
    for side in ("src", "tgt"):
        models[side] = spm_model.ModelProto.FromString((run / f"spm.{side}.model").read_bytes())
        assert models[side].trainer_spec.model_type == spm_model.TrainerSpec.BPE
    pieces = [{p.piece for p in models[side].pieces} for side in ("src", "tgt")]
    assert {"▁und", "ß"} <= pieces[0] - pieces[1] and {"▁The", "tion"} <= pieces[1] - pieces[0], \
        "one model per language"
    assert not (run / "spm.model").exists()
    assert all(record["dev_loss"] > 0 for record in validations(run))
    translated = run_cli("translate", "--config", str(path), "--beam", "2", stdin="Der Hund.\n\nDie Katze.\n")
    assert translated.returncode == 0, translated.stderr
    assert len(translated.stdout.split("\n")) == 4  # six updates: the words are not worth checking


def test_a_bfloat16_run_learns_to_copy_and_translates_in_float32(copier, copy_lines, tmp_path):
    """The copier's config trained in bfloat16: it learns the task as well, and translation
    computes in float32 from the float32 weights, so the quick start serves bfloat16 runs too."""
    config = yaml.safe_load(copier.read_text(encoding="utf-8"))
    config["run_root"] = str(tmp_path / "runs")
    config["train"]["precision"] = "bfloat16"
    path = save_config(tmp_path, config)
    trained = run_cli("train", "--config", str(path))
    assert trained.returncode == 0, trained.stderr
    run = tmp_path / "runs" / "tiny"
    translated = run_cli("translate", "--config", str(path), "--beam", "2",
                         stdin="".join(line + "\n" for line in copy_lines[:20]))
    assert translated.returncode == 0, translated.stderr
    copied = sum(a == b for a, b in zip(translated.stdout.splitlines(), copy_lines[:20], strict=True))
    assert copied >= 18, translated.stdout
    assert (run / "quick" / "best.npz").is_file()
    assert load_model(open_run(run)).compute_dtype == "float32"


def test_patience_stops_after_that_many_validations_without_a_better_bleu(tmp_path):
    # at a rate of 1e-7 nothing changes, so no validation after the first is better
    config = tiny_config(tmp_path, train={"learning_rate": 1e-7, "validate_every": 1, "patience": 2,
                                          "max_steps": 50, "checkpoint_every": 50})
    result = run_cli("train", "--config", str(save_config(tmp_path, config)))
    assert result.returncode == 0, result.stderr
    assert [record["step"] for record in validations(tmp_path / "runs" / "tiny")] == [1, 2, 3]
    assert "training done at step 3" in result.stderr


def test_max_minutes_is_one_budget_across_resumes(tmp_path):
    budget = 0.05  # 3 s of training time
    config = tiny_config(tmp_path, train={"max_minutes": budget, "max_steps": None, "max_epochs": 10_000,
                                          "validate_every": 10_000, "checkpoint_every": 10_000})
    path = save_config(tmp_path, config)
    first = run_cli("train", "--config", str(path))
    assert first.returncode == 0, first.stderr
    run = tmp_path / "runs" / "tiny"
    done = validations(run)[-1]
    assert done["elapsed_seconds"] >= budget * 60 and done["step"] > 1
    again = run_cli("train", "--config", str(path))  # the budget is spent: nothing more to train
    assert again.returncode == 0, again.stderr
    assert validations(run)[-1]["step"] == done["step"]
    # a budget 3 s beyond the time already spent (which a slow step can stretch past 2 x budget)
    longer_budget = done["elapsed_seconds"] / 60 + budget
    longer = run_cli("train", "--config", str(path), f"train.max_minutes={longer_budget}")
    assert longer.returncode == 0, longer.stderr
    resumed = validations(run)[-1]
    assert resumed["step"] > done["step"] and resumed["elapsed_seconds"] >= longer_budget * 60


def test_train_builds_a_missing_corpus_with_its_recipe(tmp_path):
    fake_debian_cache(tmp_path / "cache", sentence_pairs(6912) + shipped_pairs("train", 2000), "fr")
    data = tmp_path / "data" / "debian-fr-en"
    config = tiny_config(tmp_path, data={"corpus": "debian-fr-en", "src_lang": "fr", "train": str(data / "train"),
                                         "dev": str(data / "dev"), "test": [str(data / "test")],
                                         "cache": str(tmp_path / "cache")},
                         train={"max_steps": 2, "validate_every": 2})
    result = run_cli("train", "--config", str(save_config(tmp_path, config)))
    assert result.returncode == 0, result.stderr
    stats = json.loads((data / "stats.json").read_text())
    assert stats["recipe"] == "debian-fr-en" and stats["dev"]["pairs"] >= 800 and stats["test"]["pairs"] >= 3000
    assert len((data / "train.fr").read_text(encoding="utf-8").splitlines()) == stats["train"]["pairs"]
    assert (tmp_path / "runs" / "tiny" / "best").is_dir()


@pytest.mark.parametrize("where", ["file", "proc"])
def test_a_run_root_that_cannot_be_written_is_one_line(tmp_path, where):
    root = tmp_path / "a-file" if where == "file" else Path("/proc/nmt-runs")
    if where == "file":
        root.write_text("not a directory\n")
    result = run_cli("train", "--config", str(save_config(tmp_path, tiny_config(tmp_path, run_root=str(root)))))
    assert result.returncode == 2
    reason = "File exists" if where == "file" else "No such file or directory"
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: run_root: cannot create the run directory {root / 'tiny'} ({reason}: {root}); "
        f"choose a writable directory")
    assert "Traceback" not in result.stderr
