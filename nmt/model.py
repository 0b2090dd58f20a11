"""The encoder-decoder: embeddings, bidirectional recurrent encoder, attention decoder.

Without input feeding the decoder runs over the whole target at once (teacher
forcing) and attends for all steps in one batched matmul.  With Luong input
feeding, or Bahdanau attention (whose query is the previous decoder state and
whose context enters the recurrence), each step needs the previous step's
attention, so training runs the same ``_step`` that decoding uses, inside a
``tf.scan``.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import tensorflow as tf

from nmt.attention import Attention
from nmt.cells import make_cell
from nmt.config import ModelConfig
from nmt.errors import NmtError
from nmt.recurrent import run_recurrence
from nmt.vocab import PAD_ID


class TokenLookup(NamedTuple):
    """The first decoder layer's input product split for search: ``table`` holds every target
    token's embedding part (``Decoder.token_table``), ``feed_rows`` multiply the fed vector."""

    table: tf.Tensor  # [vocab, gates]
    feed_rows: tf.Tensor  # [fed vector size, gates]; no rows without input feeding


def word_dropout(rate: float) -> keras.layers.Dropout:
    """Zeroes whole token embeddings (one draw per token, not per feature): the model
    must translate with words missing, which regularises small corpora
    (Gal and Ghahramani 2016; Sennrich and Zhang 2019)."""
    return keras.layers.Dropout(rate, noise_shape=(None, None, 1))


class Encoder(keras.layers.Layer):
    """Stacked bidirectional recurrent layers; each reads the concatenated states of the last."""

    def __init__(self, vocab_size: int, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.residual = config.residual
        self.embedding = keras.layers.Embedding(vocab_size, config.embedding_dim, name="embedding")
        self.dropout = keras.layers.Dropout(config.dropout)
        self.word_dropout = word_dropout(config.word_dropout)
        self.forward_cells, self.backward_cells = [], []
        kind = config.encoder_cell or config.cell
        input_dim = config.embedding_dim
        for layer in range(config.encoder_layers):
            self.forward_cells.append(make_cell(kind, config.encoder_units, input_dim,
                                                f"encoder_fw_{layer}"))
            self.backward_cells.append(make_cell(kind, config.encoder_units, input_dim,
                                                 f"encoder_bw_{layer}"))
            input_dim = 2 * config.encoder_units

    def call(self, source: tf.Tensor, training: bool = False):
        """Returns (states [batch, src, 2*units], mask [batch, src], final state per layer)."""
        mask = tf.not_equal(source, PAD_ID)
        embedded = self.word_dropout(self.embedding(source), training=training)
        outputs = self.dropout(embedded, training=training)
        finals = []
        for depth, (forward, backward) in enumerate(zip(self.forward_cells, self.backward_cells)):
            inputs = self.dropout(outputs, training=training) if depth else outputs
            fw_out, fw_final = run_recurrence(forward, inputs, mask)
            bw_out, bw_final = run_recurrence(backward, inputs, mask, reverse=True)
            outputs = tf.concat([fw_out, bw_out], axis=-1) + (inputs if depth and self.residual else 0)
            finals.append(tuple(tf.concat([fw, bw], -1) for fw, bw in zip(fw_final, bw_final)))
        return outputs, mask, finals


class Decoder(keras.layers.Layer):
    """Stacked recurrent layers started from the encoder's final states, with attention."""

    def __init__(self, vocab_size: int, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        units = config.decoder_units
        memory_dim = 2 * config.encoder_units
        self.attention_kind = config.attention
        self.bahdanau = config.attention == "bahdanau"
        self.input_feeding = config.input_feeding and not self.bahdanau
        self.residual = config.residual
        self.feed_dim = (memory_dim if self.bahdanau else
                         config.attention_units if self.input_feeding else 0)
        self.embedding = keras.layers.Embedding(vocab_size, config.embedding_dim, name="embedding")
        self.dropout = keras.layers.Dropout(config.dropout)
        self.word_dropout = word_dropout(config.word_dropout)
        kind = config.decoder_cell or config.cell
        self.cells = [make_cell(kind, units,
                                config.embedding_dim + self.feed_dim if layer == 0 else units,
                                f"decoder_{kind}_{layer}") for layer in range(config.decoder_layers)]
        # One bridge per decoder layer and state: h through tanh, a memory cell c linearly.
        self.bridges = [[keras.layers.Dense(units, activation="tanh" if name == "h" else None,
                                            name=f"bridge_{name}_{layer}")
                         for name in cell.state_names] for layer, cell in enumerate(self.cells)]
        self.attention = Attention(config.attention, units, memory_dim, config.attention_units,
                                   name="attention")
        self.combine = keras.layers.Dense(config.attention_units, activation="tanh", name="combine")
        self.tied = config.tie_embeddings
        if self.tied:
            if config.attention_units != config.embedding_dim:
                raise NmtError(f"model.tie_embeddings needs attention_units ({config.attention_units}) "
                               f"equal to embedding_dim ({config.embedding_dim})")
            self.output_bias = self.add_weight(shape=(vocab_size,), name="output_bias",
                                               initializer="zeros")
        else:
            self.output_projection = keras.layers.Dense(vocab_size, name="output_projection")

    def initial_state(self, encoder_finals):
        """(per-layer states, feed): decoder layer l starts from encoder layer l (or the top)."""
        layers = []
        for layer, bridges in enumerate(self.bridges):
            source = encoder_finals[min(layer, len(encoder_finals) - 1)]
            # A GRU encoder has no memory cell: a c state then starts from h.
            layers.append(tuple(bridge(source[min(k, len(source) - 1)])
                                for k, bridge in enumerate(bridges)))
        feed = tf.zeros([tf.shape(encoder_finals[0][0])[0], self.feed_dim], dtype=self.compute_dtype)
        return layers, feed

    def start_from_unigram(self, log_frequencies) -> None:
        """Set the output bias to the target tokens' log-frequencies before training.

        With a zero bias the first updates can only reach the unigram distribution
        through the attentional vector, and Adam drives that tanh layer into
        saturation within a few dozen steps; its gradient then vanishes and the
        encoder and decoder never learn (docs/training.md has the measurements).
        Starting at the unigram solution removes that pull."""
        bias = self.output_bias if self.tied else self.output_projection.bias
        bias.assign(tf.cast(log_frequencies, bias.dtype))

    def logits(self, attentional, training: bool = False):
        attentional = self.dropout(attentional, training=training)
        if self.tied:
            weights = tf.cast(self.embedding.embeddings, attentional.dtype)
            return tf.tensordot(attentional, weights, [[-1], [1]]) + tf.cast(self.output_bias, attentional.dtype)
        return self.output_projection(attentional)

    def _first_layer_rows(self):
        """The first decoder cell's input kernel split into the rows that multiply the
        embedding and the rows that multiply the fed vector (input feeding / Bahdanau
        context): the embedding part of every step can then be one matmul up front."""
        cell = self.cells[0]
        kernel = cell.cast(cell.kernel)
        rows = self.embedding.output_dim
        return kernel[:rows], kernel[rows:]

    def _project_embedded(self, embedded, embedding_rows):
        """Embedding-to-gate pre-activations (with the bias) of the first layer, any leading shape."""
        return tf.tensordot(embedded, embedding_rows, axes=1) + self.cells[0].cast(self.cells[0].bias)

    def _stack(self, first_projection, layer_states, training):
        """One step through the stacked cells from the first layer's input pre-activations;
        returns (top output, new layer states)."""
        outputs, new_states = None, []
        for layer, (cell, state) in enumerate(zip(self.cells, layer_states)):
            if layer:
                below = self.dropout(outputs, training=training)
                outputs, state = cell.step(cell.project(below), state)
                if self.residual:
                    outputs = outputs + below
            else:
                outputs, state = cell.step(first_projection, state)
            new_states.append(state)
        return outputs, new_states

    def _attend(self, queries, keys, memory, memory_mask, beam: int):
        """Context [rows, memory] and weights [rows, src] for queries [rows, dim], where the
        rows are ``beam`` hypotheses per sentence of ``memory``: a beam's hypotheses share
        their sentence's memory, which is therefore never copied per hypothesis."""
        context, weights = self.attention(tf.reshape(queries, [tf.shape(memory)[0], beam, queries.shape[-1]]),
                                          keys, memory, memory_mask)
        return tf.reshape(context, [-1, context.shape[-1]]), tf.reshape(weights, [tf.shape(queries)[0], -1])

    def _step(self, project_first, state, keys, memory, memory_mask, training: bool = False, beam: int = 1):
        """One decoder step; ``project_first(feed)`` gives the first layer's input
        pre-activations [batch, gates].  Returns (attentional, state, weights)."""
        layer_states, feed = state
        if self.bahdanau:
            feed, weights = self._attend(layer_states[-1][0], keys, memory, memory_mask, beam)
        top, layer_states = self._stack(project_first(feed), layer_states, training)
        if self.bahdanau:
            context = feed
        else:
            context, weights = self._attend(top, keys, memory, memory_mask, beam)
        attentional = self.combine(tf.concat([context, top], axis=-1))
        if self.input_feeding:
            feed = attentional
        return attentional, (layer_states, feed), weights

    def call(self, target_in, memory, memory_mask, encoder_finals, training: bool = False):
        """Teacher-forced logits [batch, tgt, vocab] for all target positions."""
        embedded = self.word_dropout(self.embedding(target_in), training=training)
        embedded = self.dropout(embedded, training=training)
        keys = self.attention.keys(memory)
        state = self.initial_state(encoder_finals)
        if self.feed_dim:
            embedding_rows, feed_rows = self._first_layer_rows()
            projected = self._project_embedded(embedded, embedding_rows)  # all steps at once

            def body(carry, projected_t):
                _, state = carry
                attentional, state, _ = self._step(lambda feed: projected_t + tf.matmul(feed, feed_rows),
                                                   state, keys, memory, memory_mask, training)
                return attentional, state
            first = (tf.zeros([tf.shape(target_in)[0], self.combine.units], dtype=self.compute_dtype),
                     state)
            attentional, _ = tf.scan(body, tf.transpose(projected, [1, 0, 2]), initializer=first)
            return self.logits(tf.transpose(attentional, [1, 0, 2]), training)
        mask = tf.not_equal(target_in, PAD_ID)
        outputs = embedded
        for layer, (cell, layer_state) in enumerate(zip(self.cells, state[0])):
            below = self.dropout(outputs, training=training) if layer else outputs
            outputs, _ = run_recurrence(cell, below, mask, initial_state=layer_state)
            if layer and self.residual:
                outputs = outputs + below
        context, _ = self.attention(outputs, keys, memory, memory_mask)
        return self.logits(self.combine(tf.concat([context, outputs], axis=-1)), training)

    def token_table(self):
        """The first layer's embedding-to-gate pre-activations (with the bias) of every target
        token [vocab, gates]: a search that keeps it looks a step's rows up instead of
        multiplying the embeddings again at every step."""
        embedding_rows, _ = self._first_layer_rows()
        return self._project_embedded(tf.cast(self.embedding.embeddings, self.compute_dtype), embedding_rows)

    def token_lookup(self, table) -> TokenLookup:
        """``table`` (``token_table()``) with the kernel rows for the fed vector, sliced once per
        search rather than copied at every step."""
        return TokenLookup(table, self._first_layer_rows()[1])

    def advance(self, tokens, state, keys, memory, memory_mask, beam: int = 1, lookup: TokenLookup | None = None):
        """One decoding step for tokens [sentences * beam] (``beam`` hypotheses per sentence of
        ``memory``, next to each other), with the first layer's embedding part looked up if
        ``lookup`` is given; returns (attentional vector, state, attention weights)."""
        first = self.cells[0]
        if lookup is None:
            embedded = self.embedding(tokens)

            def project_first(feed):  # one token: nothing to hoist, [embedding; fed vector] in one piece
                return first.project(tf.concat([embedded, feed], -1))
        else:
            looked_up = tf.gather(lookup.table, tokens)

            def project_first(feed):
                return looked_up + tf.matmul(feed, lookup.feed_rows) if self.feed_dim else looked_up
        return self._step(project_first, state, keys, memory, memory_mask, beam=beam)

    def step(self, tokens, state, keys, memory, memory_mask, beam: int = 1):
        """``advance``, returning the logits over the vocabulary instead of the attentional vector."""
        attentional, state, weights = self.advance(tokens, state, keys, memory, memory_mask, beam)
        return self.logits(attentional), state, weights


class Seq2Seq(keras.Model):
    """Attention-based encoder-decoder (Luong et al., 2015) with LSTM-family cells."""

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.encoder = Encoder(src_vocab_size, config, name="encoder")
        self.decoder = Decoder(tgt_vocab_size, config, name="decoder")

    def call(self, inputs, training: bool = False):
        source, target_in = inputs
        memory, memory_mask, finals = self.encoder(source, training=training)
        return self.decoder(target_in, memory, memory_mask, finals, training=training)


def build_model(src_vocab_size: int, tgt_vocab_size: int, config: ModelConfig,
                precision: str = "float32") -> Seq2Seq:
    """A model whose variables all exist (so checkpoints can be restored into it).

    With ``precision="bfloat16"`` the layers compute in bfloat16 while every weight
    stays float32 (Keras' mixed_bfloat16 policy), so checkpoints are the same either way.
    """
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
    model = Seq2Seq(src_vocab_size, tgt_vocab_size, config, name="seq2seq")
    dummy = tf.constant([[4, 5, 3]], dtype=tf.int32)
    model((dummy, dummy), training=False)
    return model
