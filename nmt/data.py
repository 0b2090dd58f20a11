"""Training batches: length-bucketed by token count, shuffled by seed, fed through tf.data.

The training corpus is streamed from its text files once, tokenized into flat
id files in the run directory and memory-mapped from then on, so memory stays
flat however large the corpus grows.  Batches are planned in NumPy from the
sentence lengths alone, so an epoch's batch order is a pure function of
(seed, epoch): resuming an interrupted epoch just skips the batches already
trained on.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from array import array
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from nmt.errors import NmtError
from nmt.vocab import BOS_ID, PAD_ID, SubwordVocab

POOL_BATCHES = 100  # sort this many batches' worth of sentences together by length
ENCODE_CHUNK = 10_000  # pairs tokenized at a time while streaming a corpus to disk


class EncodedCorpus:
    """Token ids of aligned pairs, stored flat: pair i's source is
    ``src_ids[src_offsets[i]:src_offsets[i + 1]]`` (every row ends with EOS).

    The id arrays may be memory-mapped files, so a training corpus larger than
    memory costs only its offsets in RAM and is paged in batch by batch.
    """

    def __init__(self, src_ids: np.ndarray, src_offsets: np.ndarray,
                 tgt_ids: np.ndarray, tgt_offsets: np.ndarray):
        self.src_ids, self.src_offsets = src_ids, src_offsets
        self.tgt_ids, self.tgt_offsets = tgt_ids, tgt_offsets

    @classmethod
    def from_lists(cls, sources: list[list[int]], targets: list[list[int]]) -> EncodedCorpus:
        def flat(rows):
            offsets = np.zeros(len(rows) + 1, dtype=np.int64)
            offsets[1:] = np.cumsum([len(row) for row in rows])
            ids = np.fromiter((i for row in rows for i in row), dtype=np.int32, count=int(offsets[-1]))
            return ids, offsets
        return cls(*flat(sources), *flat(targets))

    def __len__(self) -> int:
        return len(self.src_offsets) - 1

    def source(self, index: int) -> np.ndarray:
        return self.src_ids[self.src_offsets[index]:self.src_offsets[index + 1]]

    def target(self, index: int) -> np.ndarray:
        return self.tgt_ids[self.tgt_offsets[index]:self.tgt_offsets[index + 1]]

    def target_unigram_entropy(self) -> float:
        """Entropy (nats per token) of the target tokens' frequencies, EOS included: the
        cross-entropy of a model that ignores the source and its own history, which a
        training loss stuck near this value has learned nothing beyond."""
        counts = np.bincount(self.tgt_ids)
        p = counts[counts > 0] / counts.sum()
        return float(-(p * np.log(p)).sum())

    def target_log_frequencies(self, vocab_size: int) -> np.ndarray:
        """Add-one smoothed log-frequencies of the target tokens, one per vocabulary id."""
        counts = np.bincount(self.tgt_ids, minlength=vocab_size).astype(np.float64) + 1.0
        return np.log(counts / counts.sum()).astype(np.float32)

    def lengths(self) -> np.ndarray:
        """Per pair, the longer side in tokens: what a pair costs in a padded batch."""
        return np.maximum(np.diff(self.src_offsets), np.diff(self.tgt_offsets))


def _within(source: list[int], target: list[int], max_length: int) -> bool:
    return 1 < len(source) <= max_length and 1 < len(target) <= max_length


def encode_to_disk(pairs: Iterable[tuple[str, str]], src_vocab: SubwordVocab, tgt_vocab: SubwordVocab,
                   max_length: int, directory: Path, fingerprint: dict) -> int:
    """Tokenize a stream of pairs into id files in ``directory``, a chunk at a time.

    Pairs with a side longer than ``max_length`` tokens (or an empty side) are
    skipped; returns how many.  ``fingerprint`` (what the files were made from)
    is stored with them; the directory appears in one rename when complete.
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.partial-"))
    dropped = 0
    offsets = {"src": array("q", [0]), "tgt": array("q", [0])}  # 8 bytes per pair, nothing more
    try:
        with open(staging / "src.ids", "wb") as src_out, open(staging / "tgt.ids", "wb") as tgt_out:
            chunk: list[tuple[str, str]] = []
            for pair in pairs:
                chunk.append(pair)
                if len(chunk) == ENCODE_CHUNK:
                    dropped += _write_chunk(chunk, src_vocab, tgt_vocab, max_length, src_out, tgt_out, offsets)
                    chunk = []
            dropped += _write_chunk(chunk, src_vocab, tgt_vocab, max_length, src_out, tgt_out, offsets)
            for handle in (src_out, tgt_out):
                handle.flush()
                os.fsync(handle.fileno())
        for side in ("src", "tgt"):
            with open(staging / f"{side}.offsets.npy", "wb") as handle:
                np.save(handle, np.frombuffer(offsets[side], dtype=np.int64))
                handle.flush()
                os.fsync(handle.fileno())
        (staging / "fingerprint.json").write_text(json.dumps(fingerprint, sort_keys=True) + "\n")
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    except OSError as error:
        raise NmtError(f"{directory}: cannot write the tokenized corpus ({error.strerror}); "
                       f"free space and run the same command again") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dropped


def _write_chunk(chunk, src_vocab, tgt_vocab, max_length, src_out, tgt_out, offsets) -> int:
    if not chunk:
        return 0
    sources = src_vocab.encode([src for src, _ in chunk])
    targets = tgt_vocab.encode([tgt for _, tgt in chunk])
    kept = [(s, t) for s, t in zip(sources, targets) if _within(s, t, max_length)]
    for side, out, rows in (("src", src_out, [s for s, _ in kept]), ("tgt", tgt_out, [t for _, t in kept])):
        for row in rows:
            offsets[side].append(offsets[side][-1] + len(row))
        if rows:
            out.write(np.concatenate([np.asarray(r, dtype=np.int32) for r in rows]).tobytes())
    return len(chunk) - len(kept)


def open_encoded(directory: Path, fingerprint: dict) -> EncodedCorpus | None:
    """The memory-mapped corpus in ``directory`` if it was made from ``fingerprint``, else None."""
    try:
        stored = json.loads((directory / "fingerprint.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if stored != json.loads(json.dumps(fingerprint, sort_keys=True)):
        return None
    arrays = []
    for side in ("src", "tgt"):
        offsets = np.load(directory / f"{side}.offsets.npy")
        ids = (np.memmap(directory / f"{side}.ids", dtype=np.int32, mode="r") if offsets[-1]
               else np.zeros(0, dtype=np.int32))  # a zero-length file cannot be mapped
        arrays += [ids, offsets]
    return EncodedCorpus(*arrays)


def plan_batches(corpus: EncodedCorpus, batch_tokens: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Index arrays, one per batch, whose padded size stays within ``batch_tokens``."""
    rng = np.random.default_rng([seed, epoch])
    lengths = corpus.lengths()
    order = rng.permutation(len(lengths))
    pool = max(1, POOL_BATCHES * batch_tokens // max(1, int(lengths.mean())))
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start:start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batch: list[int] = []
        longest = 0
        for index in chunk:
            longest_if_added = max(longest, lengths[index])
            if batch and longest_if_added * (len(batch) + 1) > batch_tokens:
                batches.append(np.array(batch))
                batch, longest_if_added = [], lengths[index]
            batch.append(index)
            longest = longest_if_added
        if batch:
            batches.append(np.array(batch))
    rng.shuffle(batches)
    return batches


def pad(rows: list[np.ndarray], prefix: tuple[int, ...] = ()) -> np.ndarray:
    """Right-pad id rows (optionally prefixed) into an int32 matrix."""
    width = max(len(r) for r in rows) + len(prefix)
    out = np.full((len(rows), width), PAD_ID, dtype=np.int32)
    out[:, :len(prefix)] = prefix
    for i, row in enumerate(rows):
        out[i, len(prefix):len(prefix) + len(row)] = row
    return out


def make_arrays(corpus: EncodedCorpus, indices: np.ndarray):
    """(source, target_in, target_out): target_in starts with BOS, target_out ends with EOS."""
    sources = [corpus.source(i) for i in indices]
    targets = [corpus.target(i) for i in indices]
    return pad(sources), pad([t[:-1] for t in targets], prefix=(BOS_ID,)), pad(targets)


def epoch_dataset(corpus: EncodedCorpus, batch_tokens: int, seed: int, epoch: int, skip: int = 0):
    """A tf.data pipeline over one epoch's planned batches, starting after ``skip`` batches."""
    import tensorflow as tf

    plan = plan_batches(corpus, batch_tokens, seed, epoch)[skip:]
    spec = tf.TensorSpec([None, None], tf.int32)
    dataset = tf.data.Dataset.from_generator(
        lambda: (make_arrays(corpus, indices) for indices in plan),
        output_signature=(spec, spec, spec))
    return dataset.prefetch(tf.data.AUTOTUNE)


def epoch_size(corpus: EncodedCorpus, batch_tokens: int, seed: int, epoch: int) -> int:
    return len(plan_batches(corpus, batch_tokens, seed, epoch))
