"""Train/dev/test splits that do not leak.

Near-duplicates are everywhere in real parallel text (the same help paragraph in
ten files, the same UI label in five programs), so holding out random lines
would put test sentences in train.  Instead whole documents - a help file, a
campaign, a catalog, a Bible book - go to dev or test, sampled within each source
and kind of text (everyday sentences, help, UI strings, dialogue) so each kind gets
its own test set of a chosen size; afterwards every train pair whose
source or target side matches a dev/test side (in :func:`comparison_key` form) is
dropped, and so is every repeat of a pair already kept.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass

from data_prep.clean import comparison_key

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Pair:
    src: str
    tgt: str
    source: str    # which resource it came from, e.g. "wesnoth"
    document: str  # the unit held out as a whole, e.g. "wesnoth-1.16-httt"
    kind: str = "text"  # the kind of text, e.g. "dialogue": held-out sets are sized per kind


@dataclass
class Splits:
    train: list[Pair]
    dev: list[Pair]
    test: list[Pair]
    removed: Counter  # reason -> number of pairs

    def items(self):
        return (("train", self.train), ("dev", self.dev), ("test", self.test))


def _keys(src: str, tgt: str) -> tuple[str, str]:
    """The comparison keys of a pair's two sides."""
    return "src:" + comparison_key(src), "tgt:" + comparison_key(tgt)


def _draw_order(documents: set[str], salt: str) -> list[str]:
    """The documents in an order fixed by their names alone (a hash), so a document that
    appears or disappears in a rebuild moves no other document between train and test."""
    return sorted(documents, key=lambda document: hashlib.sha256(f"{salt}:{document}".encode()).digest())


def _held_out_documents(pairs: list[Pair], sizes: dict[str, int], salt: str) -> dict[str, str]:
    """document -> "dev"/"test", drawn per source in proportion to its share of pairs."""
    by_source: dict[str, Counter] = defaultdict(Counter)
    for pair in pairs:
        by_source[pair.source][pair.document] += 1
    chosen: dict[str, str] = {}
    for name, size in sizes.items():
        taken = 0
        sources = sorted(by_source)
        for index, source in enumerate(sources):
            share = sum(by_source[source].values()) / len(pairs)
            quota = size - taken if index == len(sources) - 1 else round(size * share)
            documents = _draw_order({d for d in by_source[source] if d not in chosen}, salt)
            got = 0
            for document in documents:
                if got >= quota:
                    break
                if got + by_source[source][document] > 1.25 * quota + 10:
                    continue  # too big for what is left: a whole catalog would swamp the set
                chosen[document] = name
                got += by_source[source][document]
            taken += got
    return chosen


def split_by_document(pairs: list[Pair], held_out: dict[str, tuple[int, int]], seed: int) -> Splits:
    """Hold out whole documents of each kind of text for dev and test (at least
    ``held_out[kind] = (dev, test)`` pairs after deduplication; kinds not named there
    only train), then remove leaks and duplicates."""
    margins = {kind: 1.05 for kind in held_out}
    for _ in range(8):  # duplicates inside held-out documents are removed: ask for a little more
        splits = _split(pairs, {kind: (round(dev * margins[kind]), round(test * margins[kind]))
                                for kind, (dev, test) in held_out.items()}, seed)
        short = [kind for kind, (dev, test) in held_out.items()
                 if sum(p.kind == kind for p in splits.dev) < dev or sum(p.kind == kind for p in splits.test) < test]
        if not short:
            break
        for kind in short:
            margins[kind] *= 1.2
    return splits


def _split(pairs: list[Pair], held_out: dict[str, tuple[int, int]], seed: int) -> Splits:
    documents: dict[str, str] = {}
    for kind, (dev, test) in sorted(held_out.items()):
        of_kind = [pair for pair in pairs if pair.kind == kind]
        if of_kind:
            documents.update(_held_out_documents(of_kind, {"test": test, "dev": dev},
                                                 f"{seed}:{kind}"))
    grouped: dict[str, list[Pair]] = {"train": [], "dev": [], "test": []}
    removed: Counter = Counter()
    for pair in pairs:
        fate = documents.get(pair.document, "train")
        if pair.kind in held_out or fate == "train":
            grouped[fate].append(pair)
        else:  # e.g. a phrase of a held-out dictionary entry: kept out of training, never tested
            removed[f"{pair.kind} pair of a held-out document"] += 1
    held_keys: set[str] = set()
    kept: dict[str, list[Pair]] = {}
    for name in ("test", "dev", "train"):
        kept[name], seen_pairs = [], set()
        for pair in grouped[name]:
            keys = _keys(pair.src, pair.tgt)
            if keys in seen_pairs:
                removed[f"duplicate in {name}"] += 1
            elif held_keys.intersection(keys):
                removed[f"{name} pair overlapping a held-out side"] += 1
            else:
                seen_pairs.add(keys)
                kept[name].append(pair)
        if name != "train":
            held_keys.update(k for pair in kept[name] for k in _keys(pair.src, pair.tgt))
    return Splits(kept["train"], kept["dev"], kept["test"], removed)


def overlap(train: list[tuple[str, str]], held: list[tuple[str, str]]) -> int:
    """How many held-out pairs share a normalized source or target side with train."""
    train_keys = {key for src, tgt in train for key in _keys(src, tgt)}
    return sum(not train_keys.isdisjoint(_keys(src, tgt)) for src, tgt in held)
