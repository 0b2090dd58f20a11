"""Greedy and beam search, each compiled into one TensorFlow graph (``tf.while_loop``).

Both stop when every hypothesis has produced EOS or reached its length limit,
``ceil(max_length_ratio * source_length) + max_length_offset``.  Finished
hypotheses emit PAD and keep their score.  Beam search ranks the final
hypotheses by log-probability divided by the GNMT length penalty
``((5 + length) / 6) ** length_penalty``.
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from nmt.config import SearchSettings
from nmt.model import Seq2Seq
from nmt.vocab import BOS_ID, EOS_ID, PAD_ID


class Hypotheses(NamedTuple):
    """The returned hypothesis of every sentence in a batch."""

    tokens: tf.Tensor  # [batch, time] ids, EOS then PAD once finished
    scores: tf.Tensor  # [batch] log-probability (beam search: divided by the length penalty)
    attention: tf.Tensor | None = None  # [batch, time, source], when asked for


def _length_limits(source, ratio: float, offset: int):
    lengths = tf.reduce_sum(tf.cast(tf.not_equal(source, PAD_ID), tf.float32), axis=1)
    return tf.cast(tf.math.ceil(lengths * ratio), tf.int32) + offset


def _start(model: Seq2Seq, source):
    memory, mask, finals = model.encoder(source, training=False)
    keys = model.decoder.attention.keys(memory)
    return memory, mask, keys, model.decoder.initial_state(finals)


def _min_lengths(source, ratio: float):
    """Output tokens needed before EOS is allowed: at least one, since a barely trained model,
    which starts from the target unigram distribution, can rank EOS first."""
    lengths = tf.reduce_sum(tf.cast(tf.not_equal(source, PAD_ID), tf.float32), axis=1)
    return tf.maximum(tf.cast(tf.math.ceil(lengths * ratio), tf.int32), 1)


def _too_early(t, min_lengths, vocab):
    """-1e9 on EOS for rows [batch] whose minimum length is not reached at step ``t``, else 0.
    Added to the choice only; scores stay the model's log-probabilities."""
    return tf.where((tf.range(vocab)[None, :] == EOS_ID) & (t < min_lengths)[:, None], -1e9, 0.0)


def _repeated_ngrams(history, n: int, vocab):
    """-1e9 on every token that would make an n-gram the row of ``history`` [rows, time]
    already holds, else 0 [rows, vocab]."""
    rows, length = tf.shape(history)[0], tf.shape(history)[1]

    def blocked():
        frames = tf.signal.frame(history, n, 1, axis=1)  # [rows, windows, n]
        last = history[:, length - (n - 1):]
        repeats = tf.reduce_all(tf.equal(frames[:, :, :-1], last[:, None, :]), axis=2)
        windows = tf.shape(frames)[1]
        rows_index = tf.repeat(tf.range(rows)[:, None], windows, axis=1)
        where = tf.reshape(tf.stack([rows_index, frames[:, :, -1]], axis=2), [-1, 2])
        hits = tf.tensor_scatter_nd_max(tf.zeros([rows, vocab]), where,
                                        tf.reshape(tf.cast(repeats, tf.float32), [-1]))
        return -1e9 * hits

    return tf.cond(length >= n, blocked, lambda: tf.zeros([rows, vocab]))


def _still_forced(prefix, t):
    """[batch] whether step ``t`` is still inside the row's forced prefix."""
    if prefix is None:
        return tf.constant([False])
    return t < tf.reduce_sum(tf.cast(tf.not_equal(prefix, PAD_ID), tf.int32), axis=1)


def _prefix_limits(limits, prefix):
    """Length limits that leave room for a forced prefix and at least one more token."""
    if prefix is None:
        return limits
    lengths = tf.reduce_sum(tf.cast(tf.not_equal(prefix, PAD_ID), tf.int32), axis=1)
    return tf.maximum(limits, lengths + 1)


def _forced(prefix, t, vocab):
    """0 where a token is allowed at step ``t``, -1e9 elsewhere: while a sentence's prefix
    (PAD-padded ids) lasts, only its next token is allowed."""
    if prefix is None:
        return tf.zeros([1, vocab])
    width = tf.shape(prefix)[1]
    token = tf.where(t < width, prefix[:, tf.minimum(t, width - 1)], PAD_ID)
    allowed = tf.equal(tf.range(vocab)[None, :], token[:, None]) | tf.equal(token, PAD_ID)[:, None]
    return tf.where(allowed, 0.0, -1e9)


class Sampling(NamedTuple):
    """Draw each token instead of taking the most likely: from the distribution sharpened
    (temperature < 1) or flattened (> 1), limited to the ``top_k`` most likely (0: all)."""

    temperature: float = 1.0
    top_k: int = 0
    seed: int = 1


def _sample(logits, t, sampling: Sampling):
    """One token per row; the same seed, inputs and batches give the same draws.  PAD and BOS
    are never drawn (they are not output tokens)."""
    special = tf.equal(tf.range(tf.shape(logits)[-1]), PAD_ID) | tf.equal(tf.range(tf.shape(logits)[-1]), BOS_ID)
    scaled = tf.where(special, -1e9, logits / sampling.temperature)
    if sampling.top_k:
        kth = tf.math.top_k(scaled, k=tf.minimum(sampling.top_k, tf.shape(scaled)[-1])).values[:, -1:]
        scaled = tf.where(scaled < kth, -1e9, scaled)
    seed = tf.stack([tf.constant(sampling.seed, tf.int32), tf.cast(t, tf.int32)])
    return tf.random.stateless_categorical(scaled, 1, seed=seed, dtype=tf.int32)[:, 0]


def greedy_search(model: Seq2Seq, source, settings: SearchSettings = SearchSettings(),
                  with_attention: bool = False, prefix=None, sampling: Sampling | None = None) -> Hypotheses:
    """The most likely next token at every step (or a drawn one, with ``sampling``), and the
    summed log-probability of them; each output starts with its row of ``prefix``
    (PAD-padded target ids), if given.  ``settings.length_penalty`` plays no part."""
    memory, mask, keys, states = _start(model, source)
    batch = tf.shape(source)[0]
    limits = _prefix_limits(_length_limits(source, settings.max_length_ratio, settings.max_length_offset), prefix)
    min_lengths = _min_lengths(source, settings.min_length_ratio)
    tokens = tf.fill([batch], BOS_ID)
    finished = tf.zeros([batch], tf.bool)
    scores = tf.zeros([batch])
    output = tf.TensorArray(tf.int32, size=0, dynamic_size=True)
    history = tf.zeros([batch, 0], tf.int32)  # the output so far, kept for no_repeat_ngram only
    attention = tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[None, None])

    def not_done(t, tokens, states, finished, scores, output, attention, history):
        return tf.logical_not(tf.reduce_all(finished))

    def body(t, tokens, states, finished, scores, output, attention, history):
        logits, states, weights = model.decoder.step(tokens, states, keys, memory, mask)
        logits = tf.cast(logits, tf.float32)
        vocab = tf.shape(logits)[-1]
        allowed = logits + _too_early(t, min_lengths, vocab) + _forced(prefix, t, vocab)
        if settings.no_repeat_ngram:
            allowed += tf.where(_still_forced(prefix, t)[:, None], 0.0,
                                _repeated_ngrams(history, settings.no_repeat_ngram, vocab))
        tokens = (tf.argmax(allowed, axis=-1, output_type=tf.int32) if sampling is None
                  else _sample(allowed, t, sampling))
        log_prob = tf.gather(logits, tokens, batch_dims=1) - tf.reduce_logsumexp(logits, axis=-1)
        scores += tf.where(finished, 0.0, log_prob)
        tokens = tf.where(finished, PAD_ID, tokens)
        output = output.write(t, tokens)
        if with_attention:
            attention = attention.write(t, tf.cast(weights, tf.float32))
        if settings.no_repeat_ngram:
            history = tf.concat([history, tokens[:, None]], axis=1)
        finished = finished | tf.equal(tokens, EOS_ID) | (t + 1 >= limits)
        return t + 1, tokens, states, finished, scores, output, attention, history

    arrays = tf.TensorShape(None)  # TensorArrays keep their own element shapes
    shapes = (tf.TensorShape([]), tf.TensorShape([None]), None, tf.TensorShape([None]), tf.TensorShape([None]),
              arrays, arrays, tf.TensorShape([None, None]))
    loop_vars = (0, tokens, states, finished, scores, output, attention, history)
    *_, scores, output, attention, _ = tf.while_loop(not_done, body, loop_vars,
                                                     shape_invariants=_invariants(shapes, loop_vars))
    return Hypotheses(tf.transpose(output.stack()), scores,
                      tf.transpose(attention.stack(), [1, 0, 2]) if with_attention else None)


# Entries per block in `top_k`: 8,000 logits make 125 blocks of 64 (docs/tried.md has the
# measurement that chose it).
TOP_K_BLOCK = 64


def top_k(values, k: int, block: int = TOP_K_BLOCK):
    """``tf.math.top_k(values, k)`` over the last axis (of static size), found in two rounds:
    the ``k`` blocks of ``block`` entries with the largest maxima, then the best ``k`` of their
    entries.  Each of the ``k`` best values lies in a block whose maximum is at least as large,
    so it is in one of those blocks.  TopK on a whole row of logits costs far more than a
    blockwise maximum.  Ties go to the lower index, as with TopK."""
    width, rank = values.shape[-1], values.shape.rank
    if width <= k * block:
        return tf.math.top_k(values, k)
    padding = [[0, 0]] * (rank - 1) + [[0, -width % block]]
    blocks = tf.pad(values, padding, constant_values=float("-inf"))
    blocks = tf.reshape(blocks, tf.concat([tf.shape(values)[:-1], [-1, block]], 0))
    _, best = tf.math.top_k(tf.reduce_max(blocks, axis=-1), k)
    best = tf.sort(best, axis=-1)  # in index order, so equal values keep TopK's order
    entries = tf.gather(blocks, best, batch_dims=rank - 1)
    entries = tf.reshape(entries, tf.concat([tf.shape(values)[:-1], [k * block]], 0))
    top, where = tf.math.top_k(entries, k)
    return top, tf.gather(best, where // block, batch_dims=rank - 1) * block + where % block


def _gather_beams(tensor, beam_index, batch, beam):
    """Reorder a [batch*beam, ...] tensor so row (b, k) comes from beam beam_index[b, k]."""
    shaped = tf.reshape(tensor, tf.concat([[batch, beam], tf.shape(tensor)[1:]], 0))
    gathered = tf.gather(shaped, beam_index, batch_dims=1)
    return tf.reshape(gathered, tf.shape(tensor))


def _beam_rows(sentences, beam: int):
    """The rows [len(sentences) * beam] of the hypotheses of ``sentences`` in a [batch*beam] tensor."""
    return tf.reshape(sentences[:, None] * beam + tf.range(beam)[None, :], [-1])


def _extend(full, active, live):
    """``full`` [batch, beam, time, ...] one step longer (PAD or 0), with the rows of the
    ``active`` sentences replaced by ``live`` [active, beam, time + 1, ...]."""
    padding = [[0, 0], [0, 0], [0, 1]] + [[0, 0]] * (len(full.shape) - 3)
    return tf.tensor_scatter_nd_update(tf.pad(full, padding, constant_values=PAD_ID if full.dtype == tf.int32 else 0),
                                       active[:, None], live)


def _candidates(model: Seq2Seq, attentional, finished, beam: int, t, min_lengths, prefix, history,
                no_repeat_ngram: int):
    """The best ``beam`` extensions (log-probabilities [rows, beam], tokens [rows, beam]) of each
    hypothesis row, for rows of ``beam`` hypotheses per sentence; per-sentence arguments
    (min_lengths, prefix) have one row per sentence, ``history`` one per hypothesis.

    Only running hypotheses are projected onto the vocabulary (the largest product of a step):
    a finished one can only be extended by PAD, at no cost.  The best ``beam`` tokens of each
    hypothesis hold the best ``beam`` extensions of its sentence, so the sentence's choice
    then ranks beam x beam candidates, not beam x vocab."""
    rows = tf.cast(tf.reshape(tf.where(tf.logical_not(finished)), [-1]), tf.int32)
    sentence = rows // beam
    logits = tf.cast(model.decoder.logits(tf.nest.map_structure(lambda a: tf.gather(a, rows), attentional)),
                     tf.float32)
    vocab = tf.shape(logits)[-1]
    # Ranked on the logits, which order a row as its log-probabilities do; only the chosen
    # candidates are normalised (log p = logit - logsumexp), not the whole vocabulary.
    log_norm = tf.reduce_logsumexp(logits, axis=-1, keepdims=True)
    row_min_lengths = tf.gather(min_lengths, sentence)
    logits = tf.cond(tf.reduce_any(t < row_min_lengths),
                     lambda: logits + _too_early(t, row_min_lengths, vocab), lambda: logits)
    row_prefix = None if prefix is None else tf.gather(prefix, sentence)
    if prefix is not None:
        logits += _forced(row_prefix, t, vocab)
    if no_repeat_ngram:
        repeats = _repeated_ngrams(tf.gather(history, rows), no_repeat_ngram, vocab)
        logits += tf.where(_still_forced(row_prefix, t)[:, None], 0.0, repeats)
    per_hypothesis = min(beam, logits.shape[-1])
    found, found_tokens = top_k(logits, per_hypothesis)
    everyone = tf.shape(finished)[0]
    at_no_cost = tf.tile(tf.one_hot(0, per_hypothesis, 0.0, -1e9)[None, :], [everyone, 1])
    return (tf.tensor_scatter_nd_update(at_no_cost, rows[:, None], found - log_norm),
            tf.tensor_scatter_nd_update(tf.fill([everyone, per_hypothesis], PAD_ID), rows[:, None], found_tokens))


def beam_search(model: Seq2Seq, source, beam: int, settings: SearchSettings = SearchSettings(),
                with_attention: bool = False, nbest: bool = False, prefix=None, table=None) -> Hypotheses:
    """The best of ``beam`` hypotheses per sentence under the length penalty; with ``nbest``
    all of them, best first (tokens [batch, beam, time], scores [batch, beam]).  Each
    hypothesis starts with its row of ``prefix`` (PAD-padded target ids), if given.

    The source is encoded, and its memory kept, once per sentence, not once per hypothesis;
    a sentence whose hypotheses have all finished leaves the decoder's batch, so a batch of
    sentences of mixed lengths costs about the sum of their lengths, not the longest length
    times the batch.  ``table`` is the decoder's ``token_table()``, if kept."""
    batch = tf.shape(source)[0]
    memory, mask, keys, states = _start(model, source)
    states = tf.nest.map_structure(lambda x: tf.repeat(x, beam, axis=0), states)
    limits = _prefix_limits(_length_limits(source, settings.max_length_ratio, settings.max_length_offset), prefix)
    min_lengths = _min_lengths(source, settings.min_length_ratio)
    first = tf.concat([tf.zeros([1]), tf.fill([beam - 1], -1e9)], 0)
    scores = tf.tile(first[None, :], [batch, 1])
    tokens = tf.fill([batch * beam], BOS_ID)
    finished = tf.zeros([batch, beam], tf.bool)
    history = tf.zeros([batch, beam, 0], tf.int32)
    attention = tf.zeros([batch, beam, 0, tf.shape(source)[1] if with_attention else 0])
    active = tf.range(batch)  # the sentences still in the decoder's batch
    lookup = None if table is None else model.decoder.token_lookup(table)

    def not_done(t, active, tokens, states, memory, mask, keys, scores, finished, history, attention):
        return tf.size(active) > 0

    def body(t, active, tokens, states, memory, mask, keys, scores, finished, history, attention):
        attentional, states, weights = model.decoder.advance(tokens, states, keys, memory, mask, beam, lookup)
        alive = tf.shape(active)[0]
        live_history = tf.gather(history, active)
        live_finished = tf.gather(finished, active)
        candidates, candidate_tokens = _candidates(
            model, attentional, tf.reshape(live_finished, [-1]), beam, t,
            tf.gather(min_lengths, active), None if prefix is None else tf.gather(prefix, active),
            tf.reshape(live_history, [alive * beam, -1]), settings.no_repeat_ngram)
        live_scores, beam_index, new_tokens = _best_candidates(
            tf.gather(scores, active), candidates, candidate_tokens, alive, beam)
        live_history = tf.concat([tf.gather(live_history, beam_index, batch_dims=1), new_tokens[:, :, None]], 2)
        live_finished = (tf.gather(live_finished, beam_index, batch_dims=1) | tf.equal(new_tokens, EOS_ID)
                         | (t + 1 >= tf.gather(limits, active))[:, None])
        history = _extend(history, active, live_history)
        scores = tf.tensor_scatter_nd_update(scores, active[:, None], live_scores)
        finished = tf.tensor_scatter_nd_update(finished, active[:, None], live_finished)
        if with_attention:
            weights = tf.reshape(tf.cast(weights, tf.float32), [alive, beam, 1, -1])
            attention = _extend(attention, active, tf.concat(
                [tf.gather(tf.gather(attention, active), beam_index, batch_dims=1),
                 tf.gather(weights, beam_index, batch_dims=1)], axis=2))
        states = tf.nest.map_structure(lambda s: _gather_beams(s, beam_index, alive, beam), states)
        running = tf.reshape(tf.where(tf.logical_not(tf.reduce_all(live_finished, axis=1))), [-1])
        decoder_inputs = _running_only(running, alive, beam, (tf.reshape(new_tokens, [-1]), states),
                                       (memory, mask, keys))
        return (t + 1, tf.gather(active, running), *decoder_inputs, scores, finished, history, attention)

    loop_vars = (0, active, tokens, states, memory, mask, keys, scores, finished, history, attention)
    *_, scores, _, history, attention = tf.while_loop(
        not_done, body, loop_vars, shape_invariants=_invariants(_beam_loop_shapes(beam), loop_vars))
    return _ranked(history, scores, attention if with_attention else None, settings.length_penalty, nbest)


def _best_candidates(scores, candidates, candidate_tokens, alive, beam: int):
    """The ``beam`` best continuations of each sentence among its hypotheses' candidates: their
    scores [alive, beam], the hypothesis each continues and its new token."""
    per_hypothesis = candidates.shape[-1]
    total = tf.reshape(scores[:, :, None] + tf.reshape(candidates, [alive, beam, per_hypothesis]),
                       [alive, beam * per_hypothesis])
    best_scores, flat_index = tf.math.top_k(total, k=beam)
    new_tokens = tf.gather(tf.reshape(candidate_tokens, [alive, -1]), flat_index, batch_dims=1)
    return best_scores, flat_index // per_hypothesis, new_tokens


def _running_only(running, alive: int, beam: int, per_hypothesis, per_sentence) -> tuple:
    """The decoder's inputs (tokens, states; memory, mask, keys) of the sentences still
    ``running``: a batch whose sentences have all finished leaves the loop's batch."""
    def leave_finished():
        sentences = tf.cast(running, tf.int32)
        rows = _beam_rows(sentences, beam)
        return (*tf.nest.map_structure(lambda x: tf.gather(x, rows), per_hypothesis),
                *tf.nest.map_structure(lambda x: tf.gather(x, sentences), per_sentence))

    return tf.cond(tf.size(running) < alive, leave_finished, lambda: (*per_hypothesis, *per_sentence))


def _beam_loop_shapes(beam: int) -> tuple:
    """Shape invariants of beam search's loop variables (None: the loop variable's own)."""
    rows = tf.TensorShape([None])
    return (tf.TensorShape([]), rows, rows, None, None, None, None, tf.TensorShape([None, beam]),
            tf.TensorShape([None, beam]), tf.TensorShape([None, beam, None]),
            tf.TensorShape([None, beam, None, None]))


def _ranked(history, scores, attention, length_penalty: float, nbest: bool) -> Hypotheses:
    """Every sentence's hypotheses under the length penalty: the best one, or all best first."""
    lengths = tf.reduce_sum(tf.cast(tf.not_equal(history, PAD_ID), tf.float32), axis=2)
    normalized = scores / tf.pow((5.0 + lengths) / 6.0, length_penalty)
    if nbest:
        order = tf.argsort(normalized, axis=1, direction="DESCENDING", stable=True)
    else:
        order = tf.argmax(normalized, axis=1, output_type=tf.int32)
    return Hypotheses(tf.gather(history, order, batch_dims=1), tf.gather(normalized, order, batch_dims=1),
                      None if attention is None else tf.gather(attention, order, batch_dims=1))


def _invariants(shapes, loop_vars):
    """``shapes``, each None replaced by the shapes of its loop variable (a nest of tensors)
    with any number of rows."""
    return tuple(tf.nest.map_structure(lambda x: tf.TensorShape([None]).concatenate(x.shape[1:]), var)
                 if shape is None else shape for shape, var in zip(shapes, loop_vars))


# Batches of sources are PAD-padded to a multiple of this width (masked, so nothing
# changes): the matrix shapes then repeat, and oneDNN's kernels, made and cached per
# shape, are reused instead of filling memory with one per (batch, length) pair.  A
# lone sentence has few shapes and is not padded, so its encoder takes no extra steps.
SOURCE_WIDTH_MULTIPLE = 8


def search(model: Seq2Seq, source, beam: int, settings: SearchSettings, *, with_attention: bool = False,
           nbest: bool = False, prefix=None, sampling: Sampling | None = None, batched: bool = False,
           table=None) -> Hypotheses:
    """The search a translation asks for: sampling, greedy search (``beam`` 1) or beam search
    (with ``nbest``, every hypothesis).  ``batched`` for sources of several sentences."""
    if sampling or (beam == 1 and not nbest and not batched):
        return greedy_search(model, source, settings, with_attention, prefix, sampling)
    # Greedy search of a batch runs as a beam of one, which drops finished sentences from the
    # batch (1.2x the sentences/s at batch 64, docs/tried.md); without a length penalty its
    # scores are greedy search's log-probabilities.
    if beam == 1 and not nbest:
        settings = settings._replace(length_penalty=0.0)
    return beam_search(model, source, beam, settings, with_attention, nbest, prefix, table)


# The most values a token table may hold (256 MB in float32): 4,000 tokens x 2,048 gates
# (configs/default.yaml) need an eighth of it.
TOKEN_TABLE_LIMIT = 2 ** 26


class Translator:
    """Compiled search functions for one model; one trace per (search, settings)."""

    def __init__(self, model: Seq2Seq, settings: SearchSettings = SearchSettings(),
                 sampling: Sampling | None = None, changing_weights: bool = False):
        self.model = model
        self.settings = settings
        self.sampling = sampling  # when set, every search draws its tokens (the beam size is ignored)
        # A model that keeps training between searches (validation) gets no token table:
        # the table would keep the embeddings and kernel of the step it was made at.
        self.changing_weights = changing_weights
        self._table: tf.Variable | None = None
        self._compiled: dict[tuple[int, bool], tf.types.experimental.PolymorphicFunction] = {}

    def _token_table(self) -> tf.Variable | None:
        """The decoder's ``token_table()``, made on first use, for searches of batches: one lookup
        per hypothesis and step instead of a product with the embedding (5% of a step's
        multiplications with the bench model; docs/tried.md).  A lone sentence's search reads
        every weight once per step whatever it multiplies, so it goes without."""
        if self.changing_weights or not isinstance(self.model, Seq2Seq):  # an ensemble has one per model
            return None
        decoder = self.model.decoder
        if decoder.embedding.input_dim * decoder.cells[0].kernel.shape[-1] > TOKEN_TABLE_LIMIT:
            return None
        if self._table is None:
            self._table = tf.Variable(decoder.token_table(), trainable=False)
        return self._table

    def _function(self, beam: int, with_attention: bool = False, nbest: bool = False,
                  prefixed: bool = False, batched: bool = False):
        key = (beam, with_attention, nbest, prefixed, batched)
        if key not in self._compiled:
            spec = tf.TensorSpec([None, None], tf.int32)
            table = self._token_table() if batched and not self.sampling else None  # only beam_search uses it

            def run(source, prefix=None):
                return search(self.model, source, beam, self.settings, with_attention=with_attention, nbest=nbest,
                              prefix=prefix, sampling=self.sampling, batched=batched, table=table)

            # The searches spell out their loops (tf.while_loop) and branch only on Python values,
            # so AutoGraph has nothing to convert; skipping it cuts tracing from 2.0 to 0.4 s.
            self._compiled[key] = tf.function(run, input_signature=[spec, spec] if prefixed else [spec],
                                              autograph=False)
        return self._compiled[key]

    def _search(self, source, prefix=None, **settings):
        source = tf.convert_to_tensor(source, tf.int32)
        function = self._function(prefixed=prefix is not None, batched=source.shape[0] > 1, **settings)
        if source.shape[0] > 1 and not settings.get("with_attention"):  # attention keeps the caller's width
            source = tf.pad(source, [[0, 0], [0, -source.shape[1] % SOURCE_WIDTH_MULTIPLE]])
        return function(source) if prefix is None else function(source, tf.convert_to_tensor(prefix, tf.int32))

    def __call__(self, source, beam: int = 1, prefix=None):
        """Token ids [batch, time] of the returned hypotheses (each starting with its row of
        ``prefix``, PAD-padded target ids, if given)."""
        return self._search(source, prefix, beam=beam).tokens.numpy()

    def scored(self, source, beam: int = 1, prefix=None):
        """(tokens [batch, time], scores [batch]) of the returned hypotheses."""
        found = self._search(source, prefix, beam=beam)
        return found.tokens.numpy(), found.scores.numpy()

    def nbest(self, source, beam: int, prefix=None):
        """(tokens [batch, beam, time], scores [batch, beam]): every hypothesis of the beam,
        best first, scored as the returned one is."""
        found = self._search(source, prefix, beam=beam, nbest=True)
        return found.tokens.numpy(), found.scores.numpy()

    def with_attention(self, source, beam: int = 1):
        """(tokens [batch, time], attention [batch, time, source]) of the returned hypotheses."""
        tokens, _, attention = self.scored_with_attention(source, beam)
        return tokens, attention

    def scored_with_attention(self, source, beam: int = 1):
        """(tokens [batch, time], scores [batch], attention [batch, time, source])."""
        found = self._search(source, beam=beam, with_attention=True)
        return found.tokens.numpy(), found.scores.numpy(), found.attention.numpy()
