"""The encoder-decoder: embeddings, bidirectional LSTM encoder, Luong attention decoder.

Training runs the decoder over the whole target at once (teacher forcing) and
attends for all steps in one batched matmul; decoding calls ``decode_step`` one
token at a time with the same weights.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from nmt.attention import LuongAttention
from nmt.config import ModelConfig
from nmt.recurrent import LSTMCell, run_recurrence
from nmt.vocab import PAD_ID


class Encoder(keras.layers.Layer):
    """Stacked bidirectional LSTM; each layer reads the concatenated states of the last."""

    def __init__(self, vocab_size: int, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.embedding = keras.layers.Embedding(vocab_size, config.embedding_dim, name="embedding")
        self.dropout = keras.layers.Dropout(config.dropout)
        self.forward_cells, self.backward_cells = [], []
        input_dim = config.embedding_dim
        for layer in range(config.encoder_layers):
            self.forward_cells.append(LSTMCell(config.encoder_units, input_dim, name=f"encoder_fw_{layer}"))
            self.backward_cells.append(LSTMCell(config.encoder_units, input_dim, name=f"encoder_bw_{layer}"))
            input_dim = 2 * config.encoder_units

    def call(self, source: tf.Tensor, training: bool = False):
        """Returns (states [batch, src, 2*units], mask [batch, src], final (h, c) per layer)."""
        mask = tf.not_equal(source, PAD_ID)
        outputs = self.dropout(self.embedding(source), training=training)
        finals = []
        for depth, (forward, backward) in enumerate(zip(self.forward_cells, self.backward_cells)):
            if depth:
                outputs = self.dropout(outputs, training=training)
            fw_out, (fw_h, fw_c) = run_recurrence(forward, outputs, mask)
            bw_out, (bw_h, bw_c) = run_recurrence(backward, outputs, mask, reverse=True)
            outputs = tf.concat([fw_out, bw_out], axis=-1)
            finals.append((tf.concat([fw_h, bw_h], -1), tf.concat([fw_c, bw_c], -1)))
        return outputs, mask, finals


class Decoder(keras.layers.Layer):
    """Stacked LSTM started from the encoder's final states, with Luong attention on top."""

    def __init__(self, vocab_size: int, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        units = config.decoder_units
        self.embedding = keras.layers.Embedding(vocab_size, config.embedding_dim, name="embedding")
        self.dropout = keras.layers.Dropout(config.dropout)
        self.cells = [LSTMCell(units, config.embedding_dim if layer == 0 else units, name=f"decoder_lstm_{layer}")
                      for layer in range(config.decoder_layers)]
        self.bridge_h = [keras.layers.Dense(units, activation="tanh", name=f"bridge_h_{layer}")
                         for layer in range(config.decoder_layers)]
        self.bridge_c = [keras.layers.Dense(units, name=f"bridge_c_{layer}")
                         for layer in range(config.decoder_layers)]
        self.attention = LuongAttention(units, name="attention")
        self.combine = keras.layers.Dense(config.attention_units, activation="tanh", name="combine")
        self.output_projection = keras.layers.Dense(vocab_size, name="output_projection")

    def initial_state(self, encoder_finals):
        """Decoder layer l starts from encoder layer l (or the top one if fewer)."""
        states = []
        for layer, (to_h, to_c) in enumerate(zip(self.bridge_h, self.bridge_c)):
            h, c = encoder_finals[min(layer, len(encoder_finals) - 1)]
            states.append((to_h(h), to_c(c)))
        return states

    def _attend_and_project(self, top, keys, memory, memory_mask, training):
        context, weights = self.attention(top, keys, memory, memory_mask)
        attentional = self.combine(tf.concat([context, top], axis=-1))
        logits = self.output_projection(self.dropout(attentional, training=training))
        return logits, weights

    def call(self, target_in, memory, memory_mask, encoder_finals, training: bool = False):
        """Teacher-forced logits [batch, tgt, vocab] for all target positions."""
        mask = tf.not_equal(target_in, PAD_ID)
        outputs = self.dropout(self.embedding(target_in), training=training)
        for layer, (cell, state) in enumerate(zip(self.cells, self.initial_state(encoder_finals))):
            if layer:
                outputs = self.dropout(outputs, training=training)
            outputs, _ = run_recurrence(cell, outputs, mask, initial_state=state)
        keys = self.attention.keys(memory)
        logits, _ = self._attend_and_project(outputs, keys, memory, memory_mask, training)
        return logits

    def step(self, tokens, states, keys, memory, memory_mask):
        """One decoding step for tokens [batch]; returns (logits, states, attention)."""
        outputs = self.embedding(tokens)
        new_states = []
        for cell, state in zip(self.cells, states):
            outputs, state = cell.step(cell.project(outputs), state)
            new_states.append(state)
        logits, weights = self._attend_and_project(outputs[:, None, :], keys, memory,
                                                   memory_mask, training=False)
        return logits[:, 0, :], new_states, weights[:, 0, :]


class Seq2Seq(keras.Model):
    """Attention-based encoder-decoder (Luong et al., 2015) with LSTM cells."""

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.encoder = Encoder(src_vocab_size, config, name="encoder")
        self.decoder = Decoder(tgt_vocab_size, config, name="decoder")

    def call(self, inputs, training: bool = False):
        source, target_in = inputs
        memory, memory_mask, finals = self.encoder(source, training=training)
        return self.decoder(target_in, memory, memory_mask, finals, training=training)


def build_model(src_vocab_size: int, tgt_vocab_size: int, config: ModelConfig) -> Seq2Seq:
    """A model whose variables all exist (so checkpoints can be restored into it)."""
    model = Seq2Seq(src_vocab_size, tgt_vocab_size, config, name="seq2seq")
    dummy = tf.constant([[4, 5, 3]], dtype=tf.int32)
    model((dummy, dummy), training=False)
    return model
