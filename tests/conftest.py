"""Shared fixtures: a small real corpus cut from the shipped Ding data, and tiny configs."""

from __future__ import annotations

import collections
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# The suite never depends on the caller's TensorFlow settings (TF_CPP_MIN_LOG_LEVEL, TF_CONFIG,
# TF_ENABLE_ONEDNN_OPTS, ...) or on NMT_DEBUG; TensorFlow imported by the tests themselves is quiet.
for _key in [key for key in os.environ if key.startswith("TF_") or key == "NMT_DEBUG"]:
    del os.environ[_key]
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "data" / "ding-de-en"


def write_corpus(directory: Path, split: str, pairs: list[tuple[str, str]]) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{split}.de").write_text("".join(de + "\n" for de, _ in pairs), encoding="utf-8")
    (directory / f"{split}.en").write_text("".join(en + "\n" for _, en in pairs), encoding="utf-8")
    return str(directory / split)


def shipped_pairs(split: str, count: int) -> list[tuple[str, str]]:
    de = (SHIPPED / f"{split}.de").read_text(encoding="utf-8").splitlines()[:count]
    en = (SHIPPED / f"{split}.en").read_text(encoding="utf-8").splitlines()[:count]
    return list(zip(de, en))


def write_copy_task(directory: Path, sizes=(("train", 3000), ("dev", 16), ("test", 40))) -> None:
    """A copy task on real words: sequences of 3-8 of the 60 most frequent German words of the
    shipped training text, the same on both sides; a tiny model learns it in 100-200 updates."""
    counts = collections.Counter(word for german, _ in shipped_pairs("train", 3000)
                                 for word in german.split() if word.isalpha())
    words, rng = [word for word, _ in counts.most_common(60)], random.Random(5)
    for split, count in sizes:
        lines = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 8))) for _ in range(count)]
        write_corpus(directory, split, list(zip(lines, lines)))


def tiny_config(tmp_path: Path, **sections) -> dict:
    """A config small enough to train for a few steps in seconds, on real sentences."""
    data_dir = tmp_path / "data"
    config = {
        "name": "tiny", "run_root": str(tmp_path / "runs"), "seed": 7,
        "data": {"corpus": "tiny", "train": write_corpus(data_dir, "train", shipped_pairs("train", 300)),
                 "dev": write_corpus(data_dir, "dev", shipped_pairs("dev", 16)),
                 "test": [write_corpus(data_dir, "test", shipped_pairs("test", 16))],
                 "max_length": 40},
        "tokenizer": {"vocab_size": 400},
        "model": {"embedding_dim": 16, "encoder_layers": 1, "encoder_units": 16,
                  "decoder_layers": 1, "decoder_units": 32, "attention_units": 32, "dropout": 0.0},
        "train": {"batch_tokens": 400, "max_steps": 6, "log_every": 2, "checkpoint_every": 3},
        "decode": {"beam_size": 2, "max_length_offset": 3, "max_length_ratio": 1.0},
    }
    for section, values in sections.items():
        if isinstance(values, dict):
            config.setdefault(section, {}).update(values)
        else:
            config[section] = values
    return config


def save_config(tmp_path: Path, config: dict, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run_cli(*args: str, stdin: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the ``nmt`` command as a user would, in a fresh process."""
    return subprocess.run([sys.executable, "-m", "nmt.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


@pytest.fixture
def tiny(tmp_path):
    return tiny_config(tmp_path)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """One tiny run trained through the CLI, shared read-only (copy it before damaging it)."""
    tmp_path = tmp_path_factory.mktemp("trained")
    path = save_config(tmp_path, tiny_config(tmp_path))
    result = run_cli("train", "--config", str(path))
    assert result.returncode == 0, result.stderr
    return tmp_path / "runs" / "tiny"
