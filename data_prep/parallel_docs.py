"""Pairs from documentation that exists once per language with the same structure.

GIMP's help (DocBook HTML), GNOME's help (Mallard XML pages) and the Debian
Reference (HTML) are translated file by file, block by block: the German file has
the same headings, paragraphs, list items and table cells in the same order as
the English one, but no shared ids.  So each file becomes its sequence of text
blocks, and the two sequences are aligned on their block tags (difflib), which
tolerates the odd block a translator added or dropped.  An aligned pair of
paragraphs that splits into the same number of sentences on both sides yields
sentence pairs, so long paragraphs still give training text.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

from data_prep.split import Pair

BLOCK_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "li", "dt", "title", "desc"}
SKIPPED_TAGS = {"pre", "screen", "script", "style", "programlisting"}
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[\"'(]?[A-ZÄÖÜ])")


class _Blocks(HTMLParser):
    """The (tag, text) of every innermost text block, in document order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str]] = []
        self._open: list[list] = []  # [tag, text parts, has a child block]
        self._skipping: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in SKIPPED_TAGS:
            self._skipping.append(tag)
        elif tag in BLOCK_TAGS and not self._skipping:
            if self._open:
                self._open[-1][2] = True
            self._open.append([tag, [], False])

    def handle_endtag(self, tag):
        if self._skipping and tag == self._skipping[-1]:
            self._skipping.pop()
        elif tag in BLOCK_TAGS and not self._skipping and self._open and self._open[-1][0] == tag:
            name, parts, has_child = self._open.pop()
            text = " ".join("".join(parts).split())
            if text and not has_child:
                self.blocks.append((name, text))

    def handle_data(self, data):
        if self._open and not self._skipping:
            self._open[-1][1].append(data)


def blocks(path: Path) -> list[tuple[str, str]]:
    parser = _Blocks()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    return parser.blocks


def aligned_blocks(src: list[tuple[str, str]], tgt: list[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """Text pairs of the blocks whose tag sequences match."""
    matcher = difflib.SequenceMatcher(None, [tag for tag, _ in src], [tag for tag, _ in tgt], autojunk=False)
    for start_src, start_tgt, size in matcher.get_matching_blocks():
        for offset in range(size):
            yield src[start_src + offset][1], tgt[start_tgt + offset][1]


def sentences(text: str) -> list[str]:
    return [part for part in _SENTENCE_BREAK.split(text) if part]


def sentence_pairs(src: str, tgt: str) -> list[tuple[str, str]]:
    """The pair split into sentences when both sides have the same number, else the pair itself."""
    src_parts, tgt_parts = sentences(src), sentences(tgt)
    if len(src_parts) == len(tgt_parts):
        return list(zip(src_parts, tgt_parts))
    return [(src, tgt)]


def read_pairs(src_files: dict[str, Path], tgt_files: dict[str, Path], source: str) -> Iterator[Pair]:
    """Pairs from files of the same name (the key, also the held-out document) in both languages."""
    for name in sorted(src_files.keys() & tgt_files.keys()):
        for src, tgt in aligned_blocks(blocks(src_files[name]), blocks(tgt_files[name])):
            for src_part, tgt_part in sentence_pairs(src, tgt):
                yield Pair(src_part, tgt_part, source, f"{source}:{name}")
