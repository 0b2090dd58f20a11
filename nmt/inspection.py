"""Looking inside: the encoder's gate activations per source token, and the decoder's attention.

For one sentence this draws, in one PNG, the mean activation of every encoder
gate at every source piece (forget/input/output for the LSTM variants,
update/reset for the GRU), per layer and direction, and the attention matrix of
the translation actually returned (with beam search: of the best hypothesis).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import tensorflow as tf

from nmt.data import pad
from nmt.files import save_figure
from nmt.run import Run
from nmt.vocab import EOS_ID, PAD_ID


def encoder_gates(model, source: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """{"layer L forward|backward": {gate: [time, units]}} for one unpadded sentence [1, time]."""
    encoder = model.encoder
    outputs = encoder.embedding(tf.constant(source))
    found = {}
    for depth, (forward, backward) in enumerate(zip(encoder.forward_cells, encoder.backward_cells)):
        fw_out, fw_gates = _trace(forward, outputs)
        bw_out, bw_gates = _trace(backward, outputs[:, ::-1])
        found[f"layer {depth + 1} forward"] = fw_gates
        found[f"layer {depth + 1} backward"] = {name: value[::-1] for name, value in bw_gates.items()}
        merged = tf.concat([fw_out, bw_out[:, ::-1]], -1)
        outputs = merged + outputs if depth and encoder.residual else merged
    return found


def _trace(cell, inputs):
    """Run a cell step by step, returning its outputs and its gates per step."""
    state = cell.zero_state(tf.shape(inputs)[0])
    projected = cell.project(inputs)
    outputs, gates = [], {}
    for t in range(inputs.shape[1]):
        state, step_gates = cell.step_with_gates(projected[:, t], state)
        outputs.append(state[0])
        for name, value in step_gates.items():
            gates.setdefault(name, []).append(value[0].numpy())
    return tf.stack(outputs, 1), {name: np.stack(values) for name, values in gates.items()}


def inspect_sentence(run: Run, model, translator, text: str, beam: int, path: Path) -> str:
    """Translate ``text``, draw gates and attention into ``path``; returns the translation."""
    ids = run.src_vocab.encode([text])[0]
    tokens, attention = translator.with_attention(pad([ids]), beam)
    output = [int(t) for t in tokens[0] if t != PAD_ID]
    translation = run.tgt_vocab.decode([output])[0]
    source_labels = run.src_vocab.pieces(text) + ["</s>"]
    target_labels = [run.tgt_vocab.piece(t) if t != EOS_ID else "</s>" for t in output]
    draw(source_labels, target_labels, encoder_gates(model, np.array([ids])),
         attention[0, :len(output), :len(ids)], path, f"{text}  ->  {translation}")
    return translation


def draw(source_labels, target_labels, gates, attention, path: Path, title: str) -> None:
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 - only after the backend is chosen

    rows = len(gates)
    attention_height = 0.45 * len(target_labels) + 1
    figure = plt.figure(figsize=(max(8, 0.5 * len(source_labels) + 3), 2.2 * rows + attention_height + 1))
    grid = figure.add_gridspec(rows + 1, 1, height_ratios=[2.2] * rows + [attention_height])
    positions = np.arange(len(source_labels))
    for row, (name, layer_gates) in enumerate(gates.items()):
        axes = figure.add_subplot(grid[row])
        for gate, values in layer_gates.items():
            axes.plot(positions, values.mean(-1), marker="o", label=f"{gate} gate")
        axes.set_ylim(0, 1)
        axes.set_xticks(positions, [])
        axes.set_ylabel("mean activation")
        axes.set_title(f"encoder {name}", fontsize=9, loc="left")
        axes.legend(fontsize=7, loc="upper right", ncol=3)
        axes.grid(alpha=0.3)
    axes = figure.add_subplot(grid[rows])
    axes.imshow(attention, cmap="Greys", vmin=0, vmax=1, aspect="auto")
    axes.set_xticks(positions, source_labels, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(np.arange(len(target_labels)), target_labels, fontsize=8)
    axes.set_xlabel("source pieces")
    axes.set_ylabel("output pieces")
    axes.set_title("attention of the returned translation", fontsize=9, loc="left")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    save_figure(figure, path, dpi=100)
