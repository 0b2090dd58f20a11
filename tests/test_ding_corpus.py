"""The shipped Ding corpus and its recipe: clean sentence pairs, no dev/test sentence in train."""

from __future__ import annotations

import importlib.util
import json

from conftest import REPO, SHIPPED

spec = importlib.util.spec_from_file_location("ding", REPO / "data_prep" / "ding.py")
ding = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ding)


def read(split: str, lang: str) -> list[str]:
    return (SHIPPED / f"{split}.{lang}").read_text(encoding="utf-8").splitlines()


def test_shipped_splits_align_and_do_not_leak():
    sides = {}
    for split in ("train", "dev", "test"):
        de, en = read(split, "de"), read(split, "en")
        assert len(de) == len(en) > 400
        sides[split] = {ding.normalize(line) for line in de}, {ding.normalize(line) for line in en}
    for held in ("dev", "test"):
        for lang in (0, 1):
            assert not sides[held][lang] & sides["train"][lang], f"{held} leaks into train"
    assert not sides["dev"][0] & sides["test"][0]
    stats = json.loads((SHIPPED / "stats.json").read_text())
    assert stats["train"]["pairs"] == len(read("train", "de"))
    assert (SHIPPED / "NOTICE.md").read_text().count("GPL-2+") >= 1


def test_recipe_keeps_aligned_sentences_and_drops_patterns():
    line = ("Abfall verstreuen; etw. verschmutzen {vt} | Schmutzige Wäsche lag über den Boden "
            "verstreut. | Bitte halten Sie den Rasen sauber! :: to litter | Dirty clothes littered "
            "the floor. | Please keep the lawn clean!\n")
    assert ding.sentence_pairs(line) == [
        ("Schmutzige Wäsche lag über den Boden verstreut.", "Dirty clothes littered the floor."),
        ("Bitte halten Sie den Rasen sauber!", "Please keep the lawn clean!")]
    assert ding.sentence_pairs("Er hat etw. getan und ging. :: He did sth. and left.\n") == []
    assert ding.sentence_pairs("# Version :: devel\n") == []
    assert ding.sentence_pairs("Ein Satz mit vier Wörtern. | x :: A sentence of four words.\n") == []


def test_split_holds_out_whole_entries_and_removes_leaks():
    entries = [[(f"Das ist der Satz Nummer {i}.", f"This is sentence number {i}.")] for i in range(1700)]
    entries.append([("Das ist der Satz Nummer 1.", "This is sentence number 1.")])
    splits = ding.split(entries, seed=3)
    assert len(splits["test"]) == ding.TEST_PAIRS and len(splits["dev"]) == ding.DEV_PAIRS
    held = {ding.normalize(de) for split in ("dev", "test") for de, _ in splits[split]}
    assert not held & {ding.normalize(de) for de, _ in splits["train"]}
    assert len(splits["train"]) + len(splits["dev"]) + len(splits["test"]) <= 1700
