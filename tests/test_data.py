"""Tokenizer round trips and the batch planner's guarantees."""

from __future__ import annotations

import numpy as np

from nmt.config import TokenizerConfig
from nmt.data import EncodedCorpus, filter_length, make_arrays, plan_batches
from nmt.vocab import BOS_ID, EOS_ID, PAD_ID, SubwordVocab, train_sentencepiece
from conftest import shipped_pairs


def test_sentencepiece_with_byte_fallback_round_trips_unseen_characters(tmp_path):
    lines = [de for de, _ in shipped_pairs("train", 300)]
    path = tmp_path / "spm.model"
    path.write_bytes(train_sentencepiece(lines, TokenizerConfig(vocab_size=400)))
    vocab = SubwordVocab(path)
    text = ["Grüße aus Köln 🙂 — ЖЖ 漢字.", "Ich habe keine Zeit."]
    ids = vocab.encode(text)
    assert all(row[-1] == EOS_ID for row in ids)
    assert not any(1 in row for row in ids), "no piece may be unknown"
    assert vocab.decode(ids) == text


def corpus_of(lengths):
    return EncodedCorpus([[5] * n for n in lengths], [[6] * (n + 1) for n in lengths])


def test_batches_cover_every_pair_once_within_the_token_budget():
    lengths = np.random.default_rng(0).integers(2, 40, 500)
    corpus = corpus_of(lengths)
    batches = plan_batches(corpus, batch_tokens=200, seed=1, epoch=0)
    assert sorted(np.concatenate(batches).tolist()) == list(range(500))
    for batch in batches:
        longest = max(max(len(corpus.sources[i]), len(corpus.targets[i])) for i in batch)
        assert longest * len(batch) <= 200 or len(batch) == 1


def test_batch_order_depends_only_on_seed_and_epoch():
    corpus = corpus_of(np.random.default_rng(0).integers(2, 40, 300))
    first = plan_batches(corpus, 150, seed=1, epoch=3)
    again = plan_batches(corpus, 150, seed=1, epoch=3)
    other = plan_batches(corpus, 150, seed=1, epoch=4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_teacher_forcing_arrays_are_shifted_and_padded():
    corpus = EncodedCorpus([[7, 8, EOS_ID], [9, EOS_ID]], [[10, 11, EOS_ID], [12, EOS_ID]])
    source, target_in, target_out = make_arrays(corpus, np.array([0, 1]))
    assert source.tolist() == [[7, 8, EOS_ID], [9, EOS_ID, PAD_ID]]
    assert target_in.tolist() == [[BOS_ID, 10, 11], [BOS_ID, 12, PAD_ID]]
    assert target_out.tolist() == [[10, 11, EOS_ID], [12, EOS_ID, PAD_ID]]


def test_length_filter():
    kept, dropped = filter_length(corpus_of([3, 10, 30]), max_length=10)
    assert dropped == 2 and kept.sources == [[5] * 3]
