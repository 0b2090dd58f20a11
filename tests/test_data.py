"""Tokenizer round trips and the batch planner's guarantees."""

from __future__ import annotations

import numpy as np
from helpers import shipped_pairs

from nmt.config import TokenizerConfig
from nmt.data import EncodedCorpus, make_arrays, plan_batches
from nmt.vocab import BOS_ID, EOS_ID, PAD_ID, SubwordVocab, train_sentencepiece


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


def test_tokenizer_survives_reseeding_and_a_second_copy_of_its_model(tmp_path):
    """tf.random.set_seed clears TensorFlow's kernel cache, which once freed the model under
    every tokenizer made before (each training run reseeds; bench builds two trainers)."""
    import gc

    import tensorflow as tf

    path = tmp_path / "spm.model"
    path.write_bytes(train_sentencepiece([de for de, _ in shipped_pairs("train", 300)],
                                         TokenizerConfig(vocab_size=400)))
    first = SubwordVocab(path)
    expected = first.encode(["Ich habe keine Zeit."])
    tf.random.set_seed(1)
    second = SubwordVocab(path)
    assert second.encode(["Ich habe keine Zeit."]) == expected
    del second
    gc.collect()
    tf.random.set_seed(2)
    assert first.encode(["Ich habe keine Zeit."]) == expected
    assert first.decode(expected) == ["Ich habe keine Zeit."]


def corpus_of(lengths):
    return EncodedCorpus.from_lists([[5] * n for n in lengths], [[6] * (n + 1) for n in lengths])


def test_batches_cover_every_pair_once_within_the_token_budget():
    lengths = np.random.default_rng(0).integers(2, 40, 500)
    corpus = corpus_of(lengths)
    batches = plan_batches(corpus, batch_tokens=200, seed=1, epoch=0)
    assert sorted(np.concatenate(batches).tolist()) == list(range(500))
    for batch in batches:
        longest = max(max(len(corpus.source(i)), len(corpus.target(i))) for i in batch)
        assert longest * len(batch) <= 200 or len(batch) == 1


def test_batch_order_depends_only_on_seed_and_epoch():
    corpus = corpus_of(np.random.default_rng(0).integers(2, 40, 300))
    first = plan_batches(corpus, 150, seed=1, epoch=3)
    again = plan_batches(corpus, 150, seed=1, epoch=3)
    other = plan_batches(corpus, 150, seed=1, epoch=4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_teacher_forcing_arrays_are_shifted_and_padded():
    corpus = EncodedCorpus.from_lists([[7, 8, EOS_ID], [9, EOS_ID]], [[10, 11, EOS_ID], [12, EOS_ID]])
    source, target_in, target_out = make_arrays(corpus, np.array([0, 1]))
    assert source.tolist() == [[7, 8, EOS_ID], [9, EOS_ID, PAD_ID]]
    assert target_in.tolist() == [[BOS_ID, 10, 11], [BOS_ID, 12, PAD_ID]]
    assert target_out.tolist() == [[10, 11, EOS_ID], [12, EOS_ID, PAD_ID]]


def encode_fixture(tmp_path, pairs, max_length=60, name="corpus"):
    from nmt.data import encode_to_disk, open_encoded

    path = tmp_path / "spm.model"
    if not path.exists():
        path.write_bytes(train_sentencepiece([s for pair in shipped_pairs("train", 300) for s in pair],
                                             TokenizerConfig(vocab_size=400)))
    vocab = SubwordVocab(path)
    directory = tmp_path / "encoded"
    dropped = encode_to_disk(iter(pairs), vocab, vocab, max_length, directory, {"corpus": name})
    return vocab, dropped, open_encoded(directory, {"corpus": name})


def test_corpus_streamed_to_disk_matches_in_memory_encoding(tmp_path, monkeypatch):
    import nmt.data

    monkeypatch.setattr(nmt.data, "ENCODE_CHUNK", 7)  # many chunks, one partly filled
    pairs = shipped_pairs("train", 50) + [("", "empty source"), ("x " * 40, "too long")]
    vocab, dropped, corpus = encode_fixture(tmp_path, pairs)
    # what the chunked writer must reproduce: both sides of 2..60 tokens (EOS included)
    encoded = zip(vocab.encode([s for s, _ in pairs]), vocab.encode([t for _, t in pairs]))
    expected = [(src, tgt) for src, tgt in encoded if 1 < len(src) <= 60 and 1 < len(tgt) <= 60]
    assert dropped == len(pairs) - len(expected) >= 2  # the empty and the overlong pair at least
    assert isinstance(corpus.src_ids, np.memmap)
    assert len(corpus) == len(expected)
    for i, (src, tgt) in enumerate(expected):
        assert corpus.source(i).tolist() == src and corpus.target(i).tolist() == tgt
    from nmt.data import open_encoded
    assert open_encoded(tmp_path / "encoded", {"corpus": "something else"}) is None


def test_encoding_memory_does_not_grow_with_the_corpus(tmp_path, monkeypatch):
    import tracemalloc

    import nmt.data

    monkeypatch.setattr(nmt.data, "ENCODE_CHUNK", 200)
    base = shipped_pairs("train", 2000)
    encode_fixture(tmp_path, base[:10])  # tokenizer trained outside the measurement
    peaks = []
    for copies in (1, 4):
        tracemalloc.start()
        encode_fixture(tmp_path, (pair for _ in range(copies) for pair in base))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # 3x more pairs may add their 16 bytes of offsets, nothing proportional to the text
    assert peaks[1] < 1.2 * peaks[0] + 16 * 3 * len(base), peaks
