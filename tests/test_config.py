"""Config validation: typed values, one-line errors naming the key, overrides."""

from __future__ import annotations

import dataclasses
import re
import typing

import pytest
from helpers import REPO

from nmt.config import Config, load_config
from nmt.errors import NmtError


def write(tmp_path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, message", [
    ("model:\n  encoder_unit: 8\n", "unknown key 'model.encoder_unit'; did you mean 'model.encoder_units'?"),
    ("trian:\n  max_steps: 3\n", "unknown key 'trian'; did you mean 'train'?"),
    ("model:\n  encoder_units: big\n", "model.encoder_units: expected an integer, got 'big'"),
    ("model:\n  dropout: 1.5\n", "model.dropout: expected a value between 0.0 and 0.9, got 1.5"),
    ("tokenizer:\n  type: words\n", "tokenizer.type: expected one of unigram, bpe, got 'words'"),
    ("train:\n  max_steps: 0\n", "train.max_steps: expected a value at least 1, got 0"),
    ("tokenizer:\n  shared: 1\n", "tokenizer.shared: expected true or false, got 1"),
    ("model: 3\n", "model: expected a mapping of keys"),
    ("model:\n  cell: lstn\n", "model.cell: expected one of lstm, peephole, cifg, gru, got 'lstn'"),
    ("model:\n  decoder_cell: GRU\n",
     "model.decoder_cell: expected one of lstm, peephole, cifg, gru, got 'GRU'"),
    ("model:\n  attention: luong\n",
     "model.attention: expected one of luong_dot, luong_general, luong_concat, bahdanau, got 'luong'"),
    ("model: [\n", "line 2"),
])
def test_bad_config_is_one_line_error_naming_the_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(NmtError) as error:
        load_config(path)
    assert str(error.value).startswith(str(path))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(NmtError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_overrides_are_typed_and_validated(tmp_path):
    path = write(tmp_path, "train:\n  max_steps: 3\n")
    config = load_config(path, ["train.max_steps=7", "model.dropout=0.1", "data.test=a/b"])
    assert config.train.max_steps == 7 and config.model.dropout == 0.1
    assert config.data.test == ["a/b"]
    with pytest.raises(NmtError, match=r"unknown key 'train.max_step'; did you mean 'train.max_steps'"):
        load_config(path, ["train.max_step=7"])
    with pytest.raises(NmtError, match="expected key.path=value"):
        load_config(path, ["train.max_steps"])


def _keys(cls, prefix=""):
    for name, kind in typing.get_type_hints(cls).items():
        if dataclasses.is_dataclass(kind):
            yield from _keys(kind, f"{prefix}{name}.")
        else:
            yield prefix + name


def test_default_yaml_sets_and_comments_every_key():
    load_config(REPO / "configs" / "default.yaml")
    text = (REPO / "configs" / "default.yaml").read_text(encoding="utf-8")
    keys = list(_keys(Config))
    assert len(keys) > 30
    for key in keys:
        line = re.search(rf"^\s*{key.split('.')[-1]}:.*$", text, re.MULTILINE)
        assert line, f"{key} missing from default.yaml"
        assert "#" in line.group(0), f"{key} has no comment in default.yaml"
