"""The configuration page, configs/default.yaml and the config dataclasses agree."""

import yaml
from helpers import REPO, load_script

config_doc = load_script("tools/config_doc.py")


def _yaml_text() -> str:
    return config_doc.DEFAULT_YAML.read_text(encoding="utf-8")


def test_configuration_page_is_what_the_code_and_default_yaml_generate():
    page = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert page == config_doc.render(), "docs/configuration.md is out of date: run `make docs`"


def test_every_dataclass_key_is_documented_once_in_the_page():
    page = config_doc.render()
    for key, *_ in config_doc.dataclass_rows():
        assert page.count(f"| `{key}` |") == 1, key


def test_a_default_changed_in_the_yaml_only_is_refused():
    text = _yaml_text().replace("learning_rate: 0.003 ", "learning_rate: 0.001 ", 1)
    problems = config_doc.disagreements(config_doc.dataclass_rows(), yaml.safe_load(text),
                                        config_doc.yaml_comments(text))
    assert problems == ["default.yaml: train.learning_rate is 0.001 but the dataclass default is 0.003"]


def test_a_key_without_comment_or_missing_from_the_yaml_is_refused():
    text = _yaml_text()
    comments = config_doc.yaml_comments(text)
    del comments["decode.batch_size"]
    defaults = yaml.safe_load(text)
    del defaults["train"]["clip_norm"]
    problems = config_doc.disagreements(config_doc.dataclass_rows(), defaults, comments)
    assert problems == [
        "default.yaml: key 'train.clip_norm' is missing (the dataclass default is 1.0)",
        "default.yaml: key 'decode.batch_size' has no comment saying what it means",
    ]


def test_continued_comments_are_joined_to_their_key():
    comments = config_doc.yaml_comments(_yaml_text())
    assert comments["model.attention"].startswith("score: luong_dot")
    assert comments["model.attention"].endswith("context fed into the recurrence)")
    assert "decode.beam_size" in comments and "train" not in comments
