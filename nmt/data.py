"""Training batches: length-bucketed by token count, shuffled by seed, fed through tf.data.

Batches are planned in NumPy from the sentence lengths alone, so an epoch's
batch order is a pure function of (seed, epoch): resuming an interrupted epoch
just skips the batches already trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmt.vocab import BOS_ID, PAD_ID

POOL_BATCHES = 100  # sort this many batches' worth of sentences together by length


@dataclass
class EncodedCorpus:
    sources: list[list[int]]
    targets: list[list[int]]  # each ends with EOS

    def __len__(self) -> int:
        return len(self.sources)


def filter_length(corpus: EncodedCorpus, max_length: int) -> tuple[EncodedCorpus, int]:
    """Drop pairs with a side longer than ``max_length`` tokens; returns (kept, dropped)."""
    keep = [i for i, (s, t) in enumerate(zip(corpus.sources, corpus.targets))
            if 1 < len(s) <= max_length and 1 < len(t) <= max_length]
    kept = EncodedCorpus([corpus.sources[i] for i in keep], [corpus.targets[i] for i in keep])
    return kept, len(corpus) - len(kept)


def plan_batches(corpus: EncodedCorpus, batch_tokens: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Index arrays, one per batch, whose padded size stays within ``batch_tokens``."""
    rng = np.random.default_rng([seed, epoch])
    lengths = np.array([max(len(s), len(t)) for s, t in zip(corpus.sources, corpus.targets)])
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


def pad(rows: list[list[int]], prefix: list[int] = ()) -> np.ndarray:
    """Right-pad id lists (optionally prefixed) into an int32 matrix."""
    width = max(len(r) for r in rows) + len(prefix)
    out = np.full((len(rows), width), PAD_ID, dtype=np.int32)
    for i, row in enumerate(rows):
        full = list(prefix) + list(row)
        out[i, :len(full)] = full
    return out


def make_arrays(corpus: EncodedCorpus, indices: np.ndarray):
    """(source, target_in, target_out): target_in starts with BOS, target_out ends with EOS."""
    sources = [corpus.sources[i] for i in indices]
    targets = [corpus.targets[i] for i in indices]
    return pad(sources), pad([t[:-1] for t in targets], prefix=[BOS_ID]), pad(targets)


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
