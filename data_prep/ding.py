"""German-English example sentences from the Ding dictionary (Debian ``trans-de-en``).

The dictionary is one UTF-8 file, one entry per line: ``German ... :: English ...``.
Each side holds ``|``-separated sub-entries that align one to one, and many
sub-entries are full example sentences; only those are kept.  Each dictionary
entry is one document for the held-out split.
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
_WORD = re.compile(r"\w+")


def _is_sentence(text: str) -> bool:
    return (len(_WORD.findall(text)) >= 4 and text[:1].isupper()
            and bool(_SENTENCE_END.search(text)) and not _PATTERN.search(text))


def sentence_pairs(line: str) -> list[tuple[str, str]]:
    """The (German, English) example sentences of one dictionary entry."""
    if line.startswith("#") or " :: " not in line:
        return []
    german, english = line.rstrip("\n").split(" :: ", 1)
    de_parts, en_parts = german.split(" | "), english.split(" | ")
    if len(de_parts) != len(en_parts):
        return []
    pairs = []
    for de_part, en_part in zip(de_parts, en_parts):
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
    """German-English pairs from an unpacked ``trans-de-en`` (or a dictionary file)."""
    path = root / DICTIONARY if root.is_dir() else root
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            for de, en in sentence_pairs(line):
                yield Pair(de, en, "ding", f"ding:{number}")
