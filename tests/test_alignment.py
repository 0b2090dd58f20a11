"""Word alignments from attention: pieces grouped into words, the most attended source word."""

from __future__ import annotations

import numpy as np

from nmt.alignment import hard_alignment, pharaoh, word_index


def test_pieces_after_a_word_boundary_continue_the_word():
    assert word_index(["▁Wir", "▁hab", "en", "▁Zeit", "."]) == [0, 1, 1, 2, 2]
    assert word_index(["en", "▁gut"]) == [0, 1]  # a first piece without the boundary still opens a word
    assert word_index(["▁", "Hallo", "▁", "▁!"]) == [0, 0, None, 1]  # a lone boundary is no word


def test_each_target_word_links_to_the_source_word_its_pieces_attend_to_most():
    source = ["▁Wir", "▁hab", "en", "▁Zeit"]          # words: Wir, haben, Zeit
    target = ["▁We", "▁have", "▁ti", "me"]            # words: We, have, time
    attention = np.array([[0.7, 0.1, 0.1, 0.1, 0.0],   # We -> Wir
                          [0.2, 0.3, 0.3, 0.2, 0.0],   # have -> haben (0.6 over its two pieces)
                          [0.1, 0.3, 0.2, 0.4, 0.0],   # ti + me together -> Zeit (0.9 against 0.8)
                          [0.3, 0.1, 0.1, 0.5, 0.0],
                          [0.0, 0.0, 0.0, 0.0, 1.0]])  # EOS row and column: ignored
    pairs = hard_alignment(attention, source, target)
    assert pairs == [(0, 0), (1, 1), (2, 2)]
    assert pharaoh(pairs) == "0-0 1-1 2-2"
    assert hard_alignment(attention, source, []) == []
