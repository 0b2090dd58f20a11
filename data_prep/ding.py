"""German-English example sentences from the Ding dictionary (Debian ``trans-de-en``).

The dictionary is one UTF-8 file, one entry per line: ``German ... :: English ...``.
Each side holds ``|``-separated sub-entries that align one to one, and many
sub-entries are full example sentences (:func:`read_pairs`); the rest are words and
short phrases (:func:`read_lexicon`, notes and alternatives removed).  Each dictionary
entry is one document for the held-out split, so a held-out entry keeps its phrases
out of training too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from data_prep.split import Pair

PACKAGE = "trans-de-en"
DICTIONARY = "usr/share/trans/de-en"
LICENSE = "GPL-2.0-or-later, Copyright (c) 1995-2023 Frank Richter, TU Chemnitz (Ding dictionary)"

# Dictionary placeholders ("etw.", "sb.") and alternatives ("comes/arrives")
# mark a sub-entry as a pattern rather than a sentence a person would write.
_PATTERN = re.compile(
    r"\b(etw|jdn|jdm|jds|jd|sth|sb|sb's|o\.ä|usw)\.|…|\.\.\.|/|\(|\)|\{|\}|\[|\]|~|=|\+|<|>|\""
)
_SENTENCE_END = re.compile(r"[.?!]$")
_NOTES = re.compile(r"\{[^}]*\}|\[[^\]]*\]|\([^)]*\)")
LEXICON_WORDS = 6  # the longest phrase kept in the lexicon, in words
_WORD = re.compile(r"\w+")


def _is_sentence(text: str) -> bool:
    return (len(_WORD.findall(text)) >= 4 and text[:1].isupper()
            and bool(_SENTENCE_END.search(text)) and not _PATTERN.search(text))


def _sub_entries(line: str) -> list[tuple[str, str]]:
    """The aligned (German, English) sub-entries of one dictionary line."""
    if line.startswith("#") or " :: " not in line:
        return []
    german, english = line.rstrip("\n").split(" :: ", 1)
    de_parts, en_parts = german.split(" | "), english.split(" | ")
    return list(zip(de_parts, en_parts)) if len(de_parts) == len(en_parts) else []


def lexicon_pairs(line: str) -> list[tuple[str, str]]:
    """The words and short phrases of one entry: each sub-entry that is not a sentence, its
    grammar notes removed, first alternative with first alternative."""
    pairs = []
    for de_part, en_part in _sub_entries(line):
        de, en = (" ".join(_NOTES.sub(" ", part).split("; ")[0].split()) for part in (de_part, en_part))
        if (de and en and not _is_sentence(de) and not _PATTERN.search(de) and not _PATTERN.search(en)
                and max(len(de.split()), len(en.split())) <= LEXICON_WORDS):
            pairs.append((de, en))
    return pairs


def sentence_pairs(line: str) -> list[tuple[str, str]]:
    """The (German, English) example sentences of one dictionary entry."""
    pairs = []
    for de_part, en_part in _sub_entries(line):
        de_alts = [" ".join(a.split()) for a in de_part.split("; ")]
        en_alts = [" ".join(a.split()) for a in en_part.split("; ")]
        if len(de_alts) == len(en_alts):
            candidates = list(zip(de_alts, en_alts))
        elif len(en_alts) == 1:
            candidates = [(de, en_alts[0]) for de in de_alts]
        elif len(de_alts) == 1:
            candidates = [(de_alts[0], en) for en in en_alts]
        else:
            continue
        pairs += [(de, en) for de, en in candidates if _is_sentence(de) and _is_sentence(en)]
    return pairs


def read_pairs(root: Path) -> Iterator[Pair]:
    """German-English sentence pairs from an unpacked ``trans-de-en`` (or a dictionary file)."""
    yield from _read(root, sentence_pairs, "ding")


def read_lexicon(root: Path) -> Iterator[Pair]:
    """German-English word and phrase pairs from an unpacked ``trans-de-en``."""
    yield from _read(root, lexicon_pairs, "ding-phrases")


def _read(root: Path, pairs_of, source: str) -> Iterator[Pair]:
    path = root / DICTIONARY if root.is_dir() else root
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            for de, en in pairs_of(line):
                yield Pair(de, en, source, f"ding:{number}")
