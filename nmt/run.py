"""The run directory: everything a trained model needs, independent of the working directory.

    runs/<name>/
      config.yaml          resolved configuration the run was created with
      meta.json            vocabulary sizes and tokenizer fingerprints
      spm.model            sentencepiece model (spm.src.model + spm.tgt.model if not shared)
      encoded/train/       the training corpus as token ids (memory-mapped while training)
      checkpoints/         latest training checkpoints (model, optimizer, position)
      best/                checkpoint with the best dev score
      averaged/            mean of the last N training checkpoints (`nmt average`)
      export/<version>/    self-contained SavedModels (`nmt export`)
      tensorboard/         training curves
      <test>.hyp, report.json, report.md   translations and scores

A new run directory is assembled under a temporary name and renamed into place,
so it either exists complete (config, tokenizer, meta) or not at all.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

from nmt import config as config_module
from nmt.config import Config
from nmt.errors import NmtError
from nmt.files import write_atomic
from nmt.vocab import SubwordVocab, fingerprint, train_sentencepiece

# Sections that fix what the model is; changing them needs a new run.
FROZEN_SECTIONS = ("tokenizer", "model")


@dataclass(frozen=True)
class Run:
    directory: Path
    config: Config
    src_vocab: SubwordVocab
    tgt_vocab: SubwordVocab

    @property
    def checkpoints(self) -> Path:
        return self.directory / "checkpoints"

    @property
    def best(self) -> Path:
        return self.directory / "best"

    @property
    def averaged(self) -> Path:
        return self.directory / "averaged"


def _vocab_files(shared: bool) -> tuple[str, str]:
    return ("spm.model", "spm.model") if shared else ("spm.src.model", "spm.tgt.model")


def create_run(config: Config, lines: Callable[[str], Iterable[str]], tokenizer_from: Run | None = None) -> None:
    """Train the tokenizer(s), or copy those of ``tokenizer_from``, and write a new run
    directory in one rename.

    ``lines("src")`` / ``lines("tgt")`` stream one side of the training corpus.
    """
    target = config.run_dir
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{config.name}.partial-"))
    except OSError as error:
        raise NmtError(f"run_root: cannot create the run directory {target} "
                       f"({error.strerror}: {error.filename}); choose a writable directory") from None
    try:
        src_file, tgt_file = _vocab_files(config.tokenizer.shared)
        if tokenizer_from:
            models = {vocab.path.name: vocab.path.read_bytes()
                      for vocab in (tokenizer_from.src_vocab, tokenizer_from.tgt_vocab)}
        elif config.tokenizer.shared:
            models = {src_file: train_sentencepiece(chain(lines("src"), lines("tgt")), config.tokenizer)}
        else:
            models = {src_file: train_sentencepiece(lines("src"), config.tokenizer),
                      tgt_file: train_sentencepiece(lines("tgt"), config.tokenizer)}
        for name, data in models.items():
            (staging / name).write_bytes(data)
        src_vocab, tgt_vocab = SubwordVocab(staging / src_file), SubwordVocab(staging / tgt_file)
        meta = {"src_vocab_size": src_vocab.size, "tgt_vocab_size": tgt_vocab.size,
                "tokenizer_sha256": {name: fingerprint(data) for name, data in models.items()}}
        write_atomic(staging / "meta.json", json.dumps(meta, indent=2) + "\n")
        write_atomic(staging / "config.yaml", config_module.dump_config(config))
        staging.rename(target)
    except OSError as error:
        raise NmtError(f"{target}: cannot write the new run directory ({error.strerror}); "
                       f"free space and run the same command again") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _model_difference(old_config: Config, new_config: Config, ignored: tuple[str, ...] = ()):
    """The first (key, old value, new value) of the frozen sections that differs, or None."""
    old, new = config_module.to_dict(old_config), config_module.to_dict(new_config)
    for section in FROZEN_SECTIONS:
        for key, value in new[section].items():
            if old[section][key] != value and key not in ignored:
                return f"{section}.{key}", old[section][key], value
    return None


def check_compatible(stored: Config, requested: Config, directory: Path) -> None:
    """Refuse to continue a run with a config that would change its model."""
    difference = _model_difference(stored, requested)
    if difference:
        key, old, new = difference
        raise NmtError(f"{directory}: run was created with {key}={old!r}, config now says {new!r}; "
                       f"use a new name or delete the run directory")


# Model keys that change neither the variables nor the computation at inference.
_FINE_TUNABLE = ("dropout", "word_dropout")


def parent_run(config: Config) -> Run:
    """The run ``train.init_from`` names, checked to fit ``config``: a new run starts from its
    weights, so its tokenizer and model must be the ones ``config`` describes."""
    directory = Path(config.train.init_from)
    if not (directory / "config.yaml").exists():
        raise NmtError(f"train.init_from: {directory} is not a trained run (no config.yaml there)")
    parent = open_run(directory)
    difference = _model_difference(parent.config, config, ignored=_FINE_TUNABLE)
    if difference:
        key, old, new = difference
        raise NmtError(f"train.init_from: {directory} was trained with {key}={old!r}, this config says "
                       f"{new!r}; a run started from it keeps its tokenizer and model")
    return parent


def open_run(directory: Path, requested: Config | None = None, overrides: Sequence[str] = ()) -> Run:
    """Load a run's tokenizer(s), checking they are the ones it was trained with, and its config.

    The run works with ``requested`` (a whole config, as training passes it) or with the
    stored config plus ``overrides`` (``key.path=value``, as the CLI passes them), after
    checking that neither would change the trained model."""
    if not (directory / "config.yaml").exists():
        raise NmtError(f"{directory}: no trained run here (config.yaml missing); run `make train` first")
    stored = config_module.load_config(directory / "config.yaml")
    config = requested or (config_module.load_config(directory / "config.yaml", overrides) if overrides else stored)
    if config is not stored:
        check_compatible(stored, config, directory)
    try:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        expected = meta["tokenizer_sha256"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        raise NmtError(f"{directory / 'meta.json'}: missing or unreadable run metadata") from None
    src_file, tgt_file = _vocab_files(config.tokenizer.shared)
    src_vocab, tgt_vocab = SubwordVocab(directory / src_file), SubwordVocab(directory / tgt_file)
    for vocab in (src_vocab, tgt_vocab):
        if expected.get(vocab.path.name) != vocab.fingerprint:
            raise NmtError(f"{vocab.path}: tokenizer does not match the one this model was trained "
                           f"with (sha256 differs from meta.json)")
    if (src_vocab.size, tgt_vocab.size) != (meta["src_vocab_size"], meta["tgt_vocab_size"]):
        raise NmtError(f"{directory}: tokenizer vocabulary sizes differ from meta.json")
    return Run(directory, config, src_vocab, tgt_vocab)
