"""Typed experiment configuration: YAML in, validated dataclasses out.

Every key of ``configs/default.yaml`` is a field below.  A misspelled key, a
value of the wrong type or out of range is reported in one line naming the file,
the key path and what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from nmt.errors import NmtError
from nmt.schedule import SCHEDULES


def _range(low: float | None = None, high: float | None = None, choices: tuple = ()) -> dict:
    return {"low": low, "high": high, "choices": choices}


@dataclass(frozen=True)
class DataConfig:
    corpus: str = "debian-de-en"
    train: str = "data/debian-de-en/train"
    dev: str = "data/debian-de-en/dev"
    test: list[str] = field(default_factory=lambda: [f"data/debian-de-en/test-{kind}" for kind in
                                                     ("everyday", "help", "ui", "dialogue")])
    src_lang: str = "de"
    tgt_lang: str = "en"
    max_length: int = field(default=64, metadata=_range(4, 4096))
    sources: list[str] = field(default_factory=list)
    cache: str = ".cache"


@dataclass(frozen=True)
class TokenizerConfig:
    type: str = field(default="unigram", metadata=_range(choices=("unigram", "bpe")))
    vocab_size: int = field(default=8000, metadata=_range(100, 256000))
    shared: bool = True
    character_coverage: float = field(default=1.0, metadata=_range(0.9, 1.0))


CELL_NAMES = ("lstm", "peephole", "cifg", "gru")
ATTENTION_NAMES = ("luong_dot", "luong_general", "luong_concat", "bahdanau")


@dataclass(frozen=True)
class ModelConfig:
    cell: str = field(default="cifg", metadata=_range(choices=CELL_NAMES))
    encoder_cell: str | None = field(default=None, metadata=_range(choices=CELL_NAMES))
    decoder_cell: str | None = field(default=None, metadata=_range(choices=CELL_NAMES))
    embedding_dim: int = field(default=256, metadata=_range(1, 8192))
    encoder_layers: int = field(default=1, metadata=_range(1, 16))
    encoder_units: int = field(default=256, metadata=_range(1, 8192))
    decoder_layers: int = field(default=1, metadata=_range(1, 16))
    decoder_units: int = field(default=512, metadata=_range(1, 8192))
    attention: str = field(default="luong_general", metadata=_range(choices=ATTENTION_NAMES))
    attention_units: int = field(default=512, metadata=_range(1, 8192))
    input_feeding: bool = False
    residual: bool = False
    tie_embeddings: bool = False
    dropout: float = field(default=0.3, metadata=_range(0.0, 0.9))
    word_dropout: float = field(default=0.0, metadata=_range(0.0, 0.9))


@dataclass(frozen=True)
class TrainConfig:
    batch_tokens: int = field(default=4096, metadata=_range(16, 1_000_000))
    max_epochs: int = field(default=100, metadata=_range(1, 100_000))
    max_steps: int | None = field(default=None, metadata=_range(1))
    max_minutes: float | None = field(default=15.0, metadata=_range(0.01))
    learning_rate: float = field(default=0.003, metadata=_range(1e-7, 1.0))
    schedule: str = field(default="constant", metadata=_range(choices=SCHEDULES))
    warmup_steps: int = field(default=0, metadata=_range(0, 10_000_000))
    min_learning_rate: float = field(default=0.0, metadata=_range(0.0, 1.0))
    plateau_patience: int = field(default=2, metadata=_range(1, 1000))
    clip_norm: float = field(default=1.0, metadata=_range(0.0))
    accumulate: int = field(default=1, metadata=_range(1, 1000))
    init_from: str | None = None
    label_smoothing: float = field(default=0.0, metadata=_range(0.0, 0.99))
    log_every: int = field(default=50, metadata=_range(1))
    checkpoint_every: int = field(default=500, metadata=_range(1))
    keep_checkpoints: int = field(default=3, metadata=_range(1, 1000))
    validate_every: int | None = field(default=250, metadata=_range(1))
    patience: int | None = field(default=4, metadata=_range(1))
    nonfinite_loss: str = field(default="stop", metadata=_range(choices=("stop", "skip")))
    stall_steps: int = field(default=300, metadata=_range(1))
    on_stall: str = field(default="warn", metadata=_range(choices=("warn", "stop")))
    precision: str = field(default="auto", metadata=_range(choices=("float32", "bfloat16", "auto")))
    distribute: str = field(default="none", metadata=_range(choices=("none", "mirrored", "multi_worker")))
    worker_timeout: float = field(default=120.0, metadata=_range(5.0, 86_400.0))


@dataclass(frozen=True)
class DecodeConfig:
    beam_size: int = field(default=5, metadata=_range(1, 100))
    length_penalty: float = field(default=1.0, metadata=_range(0.0, 10.0))
    max_length_ratio: float = field(default=2.0, metadata=_range(0.1, 100.0))
    max_length_offset: int = field(default=10, metadata=_range(0, 10000))
    min_length_ratio: float = field(default=0.0, metadata=_range(0.0, 10.0))
    no_repeat_ngram: int = field(default=0, metadata=_range(0, 100))
    batch_size: int = field(default=64, metadata=_range(1, 100_000))
    max_input_length: int = field(default=200, metadata=_range(2, 100_000))
    protect: bool = True
    glossary: str | None = None


class SearchSettings(NamedTuple):
    """What bounds and ranks a search (the ``decode`` keys of the same names).  Made from a
    config by ``search_settings`` alone, so translate, serve, export, validation and the NumPy
    quick path all apply the same limits and safeguards."""

    max_length_ratio: float = 2.0  # an output stops after ratio x source length + offset tokens
    max_length_offset: int = 10
    length_penalty: float = 1.0  # beam search ranks by log-probability / ((5 + length) / 6) ** this
    min_length_ratio: float = 0.0  # no EOS before this x source length (and never first)
    no_repeat_ngram: int = 0  # no n-gram of this many tokens twice in one output (0: off)


def search_settings(decode: DecodeConfig) -> SearchSettings:
    """The search settings of a ``decode`` config section."""
    return SearchSettings(**{name: getattr(decode, name) for name in SearchSettings._fields})


@dataclass(frozen=True)
class Config:
    name: str = "debian-de-en"
    run_root: str = "runs"
    seed: int = 1234
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)

    @property
    def run_dir(self) -> Path:
        return Path(self.run_root) / self.name


def _type_name(kind: Any) -> str:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(kind) if a is not type(None)]
        return f"{_type_name(inner[0])} or null"
    if typing.get_origin(kind) is list:
        return f"a list of {_type_name(typing.get_args(kind)[0])}"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        kind, getattr(kind, "__name__", str(kind)))


def _convert(value: Any, kind: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        inner = [a for a in typing.get_args(kind) if a is not type(None)][0]
        return _convert(value, inner, where)
    if origin is list:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise NmtError(f"{where}: expected {_type_name(kind)}, got {value!r}")
        return [_convert(item, typing.get_args(kind)[0], where) for item in value]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif isinstance(value, kind) and not isinstance(value, bool):
        return value
    raise NmtError(f"{where}: expected {_type_name(kind)}, got {value!r}")


def _check_range(value: Any, meta: Any, where: str) -> None:
    if value is None or not meta:
        return
    low, high, choices = meta["low"], meta["high"], meta["choices"]
    if choices and value not in choices:
        raise NmtError(f"{where}: expected one of {', '.join(choices)}, got {value!r}")
    if low is not None and value < low or high is not None and value > high:
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise NmtError(f"{where}: expected a value {bounds}, got {value!r}")


def _build(cls: type, raw: Any, source: str, prefix: str = "") -> Any:
    if not isinstance(raw, dict):
        raise NmtError(f"{source}: {prefix.rstrip('.') or 'top level'}: expected a mapping of keys")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in raw.items():
        path = f"{prefix}{key}"
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else \
                f"; valid keys: {', '.join(fields)}"
            raise NmtError(f"{source}: unknown key '{path}'{hint}")
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            values[key] = _build(kind, value, source, f"{path}.")
        else:
            values[key] = _convert(value, kind, f"{source}: {path}")
            _check_range(values[key], fields[key].metadata, f"{source}: {path}")
    return cls(**values)


def _set_path(raw: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = raw
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise NmtError(f"override {dotted}: '{key}' is not a section")
    node[keys[-1]] = value


def parse_overrides(overrides: list[str]) -> dict:
    """Turn ``["train.max_steps=100", ...]`` into a nested dict of YAML values."""
    raw: dict = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise NmtError(f"override '{item}': expected key.path=value")
        try:
            value = yaml.safe_load(text) if text else ""
        except yaml.YAMLError:
            value = text
        _set_path(raw, key.strip(), value)
    return raw


def _merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NmtError(f"{path}: config file not found") from None
    except UnicodeDecodeError as error:
        raise NmtError(f"{path}: not UTF-8 text (byte {error.start})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise NmtError(f"{path}:{where}: {problem}") from None
    return raw if raw is not None else {}


def _check_schedule(train: TrainConfig, source: str) -> None:
    """Keys that are valid alone but not together."""
    if train.schedule == "rsqrt" and not train.warmup_steps:
        raise NmtError(f"{source}: train.schedule: rsqrt needs train.warmup_steps of at least 1 "
                       f"(the rate after the warmup is learning_rate * sqrt(warmup_steps / step))")
    if train.min_learning_rate > train.learning_rate:
        raise NmtError(f"{source}: train.min_learning_rate ({train.min_learning_rate}) must not "
                       f"exceed train.learning_rate ({train.learning_rate})")


def load_config(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read a YAML file, apply ``key.path=value`` overrides, validate."""
    path = Path(path)
    raw = read_yaml(path)
    source = str(path)
    config = _build(Config, raw, source)
    if overrides:
        source = f"{path} (with overrides)"
        config = _build(Config, _merge(raw, parse_overrides(list(overrides))), source)
    _check_schedule(config.train, source)
    return config


def to_dict(config: Config) -> dict:
    return dataclasses.asdict(config)


def dump_config(config: Config) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False, allow_unicode=True)
