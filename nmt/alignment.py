"""Hard word alignments from the attention of the returned translation.

A word is what sentencepiece marks as one: a piece that starts with the word
boundary ``▁`` opens a word, the pieces after it (and byte pieces) continue it, so
words are the whitespace-separated tokens of the normalized text.  Each target word
is linked to the source word that receives the most attention from its pieces,
summed over the pieces of both words; end-of-sentence positions take no part.
Pairs are written ``source-target`` with 0-based word indices (the Pharaoh format of
fast_align and Moses).
"""

from __future__ import annotations

import numpy as np

WORD_BOUNDARY = "\u2581"


def word_index(pieces: list[str]) -> list[int | None]:
    """The 0-based word each piece belongs to; None for the pieces of a word with no
    characters (a lone ``▁`` that nothing continues detokenizes to nothing)."""
    groups, texts = [], []
    for piece in pieces:
        if piece.startswith(WORD_BOUNDARY) or not texts:
            texts.append("")
        texts[-1] += piece.replace(WORD_BOUNDARY, "")
        groups.append(len(texts) - 1)
    numbers, count = {}, 0
    for group, text in enumerate(texts):
        if text:
            numbers[group], count = count, count + 1
    return [numbers.get(group) for group in groups]


def hard_alignment(attention: np.ndarray, source_pieces: list[str], target_pieces: list[str]) -> list[tuple[int, int]]:
    """(source word, target word) pairs from attention [target pieces, source pieces] (rows and
    columns beyond the given pieces, such as EOS, are ignored)."""
    source_words, target_words = word_index(source_pieces), word_index(target_pieces)
    source_count = 1 + max((w for w in source_words if w is not None), default=-1)
    target_count = 1 + max((w for w in target_words if w is not None), default=-1)
    if not source_count or not target_count:
        return []
    weights = np.zeros((target_count, source_count))
    for row, target_word in enumerate(target_words):
        for column, source_word in enumerate(source_words):
            if target_word is not None and source_word is not None:
                weights[target_word, source_word] += attention[row, column]
    return [(int(source), target) for target, source in enumerate(weights.argmax(axis=1))]


def pharaoh(pairs: list[tuple[int, int]]) -> str:
    return " ".join(f"{source}-{target}" for source, target in pairs)
