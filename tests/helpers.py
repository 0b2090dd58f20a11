"""Helpers shared by the tests: small real corpora cut from the shipped Ding data, tiny
configs, and running the ``nmt`` command or a script as a user would."""

from __future__ import annotations

import collections
import importlib.util
import random
import subprocess
import sys
from pathlib import Path

import yaml

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
        # float32 on every CPU (the default, auto, is bfloat16 where the CPU computes it)
        "train": {"batch_tokens": 400, "max_steps": 6, "max_minutes": None, "log_every": 2, "checkpoint_every": 3,
                  "validate_every": None, "patience": None, "precision": "float32"},
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


def run_script(script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run one of the repository's scripts (``benchmarks/bench.py``, ...) in a fresh process."""
    return subprocess.run([sys.executable, str(REPO / script), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def load_script(script: str):
    """Import one of the repository's scripts (not part of the installed package) as a module."""
    path = REPO / script
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_copied(translations: list[str], sources: list[str], share: float = 0.9) -> None:
    """The copier's output: one translation per line, and at least ``share`` of them the very
    line (the model is tiny: it may get a word of a few lines wrong, never the line order)."""
    assert len(translations) == len(sources), (translations, sources)
    exact = sum(t == s for t, s in zip(translations, sources))
    assert exact >= share * len(sources), list(zip(translations, sources))


def with_spans(copy_lines: list[str]) -> list[str]:
    """Lines the copier returns unchanged, with spans put between their words (what the model
    sees after protection is the copy line itself, so the expected output is the input)."""
    first, second, third = [line.split() for line in copy_lines if len(line.split()) >= 2][:3]
    return [f"{first[0]} %s {' '.join(first[1:])}",
            f"{second[0]} <b>{second[1]}</b> {' '.join(second[2:])} {{name}}".replace("  ", " "),
            f"_{' '.join(third)} 3"]
