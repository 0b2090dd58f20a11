"""Translation without TensorFlow, so that ``nmt translate`` answers within a second of starting.

Importing TensorFlow alone takes about 4 s on a two-core CPU, and building the
model and tracing its search add 2 s more: a user of the REPL, or of
``echo ... | make translate``, waited 6-9 s for every first sentence.  The model
is small enough to run one sentence at a time in NumPy, so ``nmt translate``
keeps the weights of the checkpoint it translates with as a NumPy archive
(``<run>/quick/<weights>.npz``, written by the first TensorFlow start and at the
end of training) and, when it can, translates with this module instead:

- the same encoder, decoder step, greedy and beam search as ``nmt.model`` and
  ``nmt.search`` (float32, one sentence at a time: no padding to mask);
  ``tests/test_quick.py`` checks the outputs are the TensorFlow search's for
  every cell, attention and decoder option;
- text is split by the sentencepiece Python library instead of TensorFlow Text's
  op; both take the most likely segmentation, and they choose differently only
  between equally likely ones (0 of the 1,051 Ding test sentences, 47 of
  190k lines of debian-de-en, all with digits and dots).

Everything else - ensembles, sampling, scores, n-best lists, prefixes, alignments,
``no_repeat_ngram`` - goes through TensorFlow as before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
from pathlib import Path

import numpy as np

from nmt.config import ATTENTION_NAMES, CELL_NAMES, Config, ModelConfig, SearchSettings, search_settings
from nmt.files import write_atomic
from nmt.run import Run
from nmt.vocab import BOS_ID, EOS_ID, PAD_ID, SubwordVocab

# ---------------------------------------------------------------- weights on disk

def archive_path(run: Run, weights: str) -> Path:
    return run.directory / "quick" / f"{weights}.npz"


def model_arrays(model) -> dict[str, np.ndarray]:
    """Every weight of a ``nmt.model.Seq2Seq``, named by its role (see ``QuickModel``), and each
    cell's layout as ``nmt.cells`` defines it: its gates in the order of its weight blocks
    (``<cell>.gates``, e.g. "ifgo") and how many state tensors it carries (``<cell>.states``)."""
    encoder, decoder = model.encoder, model.decoder
    arrays = {"encoder.embedding": encoder.embedding.embeddings, "decoder.embedding": decoder.embedding.embeddings,
              "combine.kernel": decoder.combine.kernel, "combine.bias": decoder.combine.bias}
    cells = {f"encoder.fw{layer}": cell for layer, cell in enumerate(encoder.forward_cells)}
    cells.update({f"encoder.bw{layer}": cell for layer, cell in enumerate(encoder.backward_cells)})
    cells.update({f"decoder.cell{layer}": cell for layer, cell in enumerate(decoder.cells)})
    for prefix, cell in cells.items():
        arrays.update({f"{prefix}.{weight.name}": weight for weight in cell.weights})
    for layer, bridges in enumerate(decoder.bridges):
        for k, bridge in enumerate(bridges):
            arrays.update({f"bridge{layer}.{k}.kernel": bridge.kernel, f"bridge{layer}.{k}.bias": bridge.bias})
    attention = decoder.attention
    for name in ("memory_projection", "query_projection", "score_vector"):
        if hasattr(attention, name):
            arrays[f"attention.{name}"] = getattr(attention, name).kernel
    if decoder.tied:
        arrays["output.bias"] = decoder.output_bias
    else:
        output = decoder.output_projection
        arrays.update({"output.kernel": output.kernel, "output.bias": output.bias})
    layouts = {f"{prefix}.gates": np.array("".join(cell.gates)) for prefix, cell in cells.items()}
    layouts.update({f"{prefix}.states": np.array(len(cell.state_names)) for prefix, cell in cells.items()})
    return {**{name: np.asarray(value, np.float32) for name, value in arrays.items()}, **layouts}


def _checkpoint_name(run: Run, checkpoint: str) -> str:
    """``checkpoint`` relative to the run (which may be opened by another path next time), with
    the size and modification time of each of its files: rewritten or damaged files make the
    archive stale, and TensorFlow, which checks them, reads the checkpoint again."""
    files = sorted(Path(checkpoint).parent.glob(f"{Path(checkpoint).name}.*"))
    return json.dumps([os.path.relpath(checkpoint, run.directory),
                       *([f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files)])


def save_archive(run: Run, weights: str, checkpoint: str, model) -> None:
    """Write the weights of ``model`` (restored from ``checkpoint``) for quick starts."""
    buffer = io.BytesIO()
    np.savez(buffer, checkpoint=np.array(_checkpoint_name(run, checkpoint)), **model_arrays(model))
    write_atomic(archive_path(run, weights), buffer.getvalue())


def _archived_checkpoint(run: Run, weights: str) -> str | None:
    try:
        with np.load(archive_path(run, weights)) as archive:
            return str(archive["checkpoint"])
    except (OSError, ValueError, KeyError):
        return None  # missing or unreadable (e.g. cut short): TensorFlow rewrites it


def load_archive(run: Run, weights: str, checkpoint: str) -> dict[str, np.ndarray] | None:
    """The archived weights of ``checkpoint``, or None when there are none or they are of another one."""
    path = archive_path(run, weights)
    if _archived_checkpoint(run, weights) != _checkpoint_name(run, checkpoint):
        return None
    with np.load(path) as archive:
        return {name: archive[name] for name in archive.files if name != "checkpoint"}


# The options this module computes as TensorFlow does (tests/test_quick.py checks every cell,
# attention and decoder option against the TensorFlow search): each model and decode key with
# the values allowed (None: any).  A key missing here - an option added later - sends the run
# to TensorFlow until this module implements it and the test covers it.
QUICK_MODEL_OPTIONS: dict[str, tuple | None] = {
    "cell": CELL_NAMES, "encoder_cell": (None, *CELL_NAMES), "decoder_cell": (None, *CELL_NAMES),
    "embedding_dim": None, "encoder_layers": None, "encoder_units": None, "decoder_layers": None,
    "decoder_units": None, "attention": ATTENTION_NAMES, "attention_units": None, "input_feeding": None,
    "residual": None, "tie_embeddings": None,
    "dropout": None, "word_dropout": None,  # training only
}
QUICK_DECODE_OPTIONS: dict[str, tuple | None] = {
    "beam_size": None, "length_penalty": None, "max_length_ratio": None, "max_length_offset": None,
    "min_length_ratio": None, "no_repeat_ngram": (0,), "batch_size": None, "max_input_length": None,
    # need the word alignment: nmt translate hands lines with protected spans, and every line
    # when a glossary is set, to TensorFlow
    "protect": None, "glossary": None,
}


def _allowed(section, options: dict[str, tuple | None]) -> bool:
    return all(field.name in options and (options[field.name] is None or getattr(section, field.name)
                                          in options[field.name])
               for field in dataclasses.fields(section))


def supported(config: Config) -> bool:
    """Whether this module translates as TensorFlow would for the run's settings: every model and
    decode option is on its allow-list."""
    return _allowed(config.model, QUICK_MODEL_OPTIONS) and _allowed(config.decode, QUICK_DECODE_OPTIONS)


def keep_for_quick_start(run: Run, weights: str, checkpoint: str, model) -> None:
    """Archive ``model``'s weights (restored from ``checkpoint``) unless they already are;
    a run directory that cannot be written to just gets no quick start."""
    if not supported(run.config) or _archived_checkpoint(run, weights) == _checkpoint_name(run, checkpoint):
        return
    with contextlib.suppress(OSError):
        save_archive(run, weights, checkpoint, model)


# ---------------------------------------------------------------- the model in NumPy

def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x: np.ndarray) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class QuickCell:
    """One recurrent cell; the equations of ``nmt.cells``, with the gate layout and state count
    the archive took from the TensorFlow cell."""

    def __init__(self, kind: str, arrays: dict[str, np.ndarray], prefix: str):
        self.kind = kind
        self.gates, self.states = str(arrays[f"{prefix}.gates"]), int(arrays[f"{prefix}.states"])
        self.kernel, self.recurrent, self.bias = (arrays[f"{prefix}.{name}"]
                                                  for name in ("kernel", "recurrent_kernel", "bias"))
        if kind == "peephole":
            self.peepholes = [arrays[f"{prefix}.peephole_{gate}"] for gate in ("input", "forget", "output")]

    def project(self, inputs: np.ndarray) -> np.ndarray:
        return inputs @ self.kernel + self.bias

    def step(self, projected: np.ndarray, state: tuple) -> tuple:
        """New state (h first) from the input pre-activations [rows, gates * units]."""
        if self.kind == "gru":
            (h,) = state
            before_n = self.gates[:self.gates.index("n")]  # z and r: their pre-activations add up at once
            split = self.recurrent.shape[0] * len(before_n)
            gates = dict(zip(before_n, np.split(projected[:, :split] + h @ self.recurrent[:, :split], len(before_n),
                                                 axis=-1), strict=True))
            z, r = sigmoid(gates["z"]), sigmoid(gates["r"])
            n = np.tanh(projected[:, split:] + (r * h) @ self.recurrent[:, split:])
            return (z * h + (1.0 - z) * n,)
        h, c = state
        gates = dict(zip(self.gates, np.split(projected + h @ self.recurrent, len(self.gates), axis=-1), strict=True))
        if self.kind == "cifg":
            f, g, o = sigmoid(gates["f"]), np.tanh(gates["g"]), sigmoid(gates["o"])
            c = f * c + (1.0 - f) * g
            return o * np.tanh(c), c
        z_i, z_f, z_g, z_o = (gates[gate] for gate in "ifgo")
        if self.kind == "peephole":
            p_i, p_f, p_o = self.peepholes
            i, f = sigmoid(z_i + p_i * c), sigmoid(z_f + p_f * c)
            c = f * c + i * np.tanh(z_g)
            return sigmoid(z_o + p_o * c) * np.tanh(c), c
        c = sigmoid(z_f) * c + sigmoid(z_i) * np.tanh(z_g)
        return sigmoid(z_o) * np.tanh(c), c


class QuickModel:
    """``nmt.model.Seq2Seq`` at inference, for one sentence: ``start`` encodes it, ``step``
    advances ``rows`` hypotheses of it by one token."""

    def __init__(self, config: ModelConfig, arrays: dict[str, np.ndarray]):
        self.arrays = arrays
        encoder_kind = config.encoder_cell or config.cell
        decoder_kind = config.decoder_cell or config.cell
        self.encoder = [tuple(QuickCell(encoder_kind, arrays, f"encoder.{side}{layer}") for side in ("fw", "bw"))
                        for layer in range(config.encoder_layers)]
        self.cells = [QuickCell(decoder_kind, arrays, f"decoder.cell{layer}")
                      for layer in range(config.decoder_layers)]
        self.states_per_layer = self.cells[0].states
        self.residual = config.residual
        self.attention = config.attention
        self.bahdanau = config.attention == "bahdanau"
        self.input_feeding = config.input_feeding and not self.bahdanau
        # what the model feeds back into the first decoder layer beside the embedding
        self.feed_dim = arrays["decoder.cell0.kernel"].shape[0] - arrays["decoder.embedding"].shape[1]
        self.output_kernel = (arrays["decoder.embedding"].T if config.tie_embeddings else arrays["output.kernel"])

    def _run(self, cell: QuickCell, inputs: np.ndarray) -> tuple[np.ndarray, tuple]:
        projected = cell.project(inputs)
        state = tuple(np.zeros((1, cell.recurrent.shape[0]), np.float32) for _ in range(cell.states))
        outputs = []
        for row in projected:
            state = cell.step(row[None, :], state)
            outputs.append(state[0][0])
        return np.stack(outputs), state

    def start(self, source: list[int]):
        """(memory [src, 2 * units], keys, decoder state) of one sentence's ids."""
        outputs = self.arrays["encoder.embedding"][source]
        finals = []
        for depth, (forward, backward) in enumerate(self.encoder):
            inputs = outputs
            fw_out, fw_final = self._run(forward, inputs)
            bw_out, bw_final = self._run(backward, inputs[::-1])
            outputs = np.concatenate([fw_out, bw_out[::-1]], axis=-1) + (inputs if depth and self.residual else 0)
            finals.append(tuple(np.concatenate([fw, bw], -1) for fw, bw in zip(fw_final, bw_final)))
        keys = outputs if self.attention == "luong_dot" else outputs @ self.arrays["attention.memory_projection"]
        layers = []
        for layer in range(len(self.cells)):
            source_state = finals[min(layer, len(finals) - 1)]
            states = []
            for k in range(self.states_per_layer):
                value = source_state[min(k, len(source_state) - 1)] @ self.arrays[f"bridge{layer}.{k}.kernel"]
                value = value + self.arrays[f"bridge{layer}.{k}.bias"]
                states.append(np.tanh(value) if k == 0 else value)
            layers.append(tuple(states))
        return outputs, keys, (layers, np.zeros((1, self.feed_dim), np.float32))

    def _attend(self, queries: np.ndarray, keys: np.ndarray, memory: np.ndarray) -> np.ndarray:
        if self.attention in ("luong_concat", "bahdanau"):
            hidden = np.tanh((queries @ self.arrays["attention.query_projection"])[:, None, :] + keys[None, :, :])
            scores = (hidden @ self.arrays["attention.score_vector"])[..., 0]
        else:
            scores = queries @ keys.T
        return softmax(scores) @ memory

    def step(self, tokens: np.ndarray, state, keys: np.ndarray, memory: np.ndarray):
        """(logits [rows, vocab], new state) for the last tokens [rows] of ``rows`` hypotheses."""
        layers, feed = state
        if self.bahdanau:
            feed = self._attend(layers[-1][0], keys, memory)
        first = self.cells[0]
        below = first.project(np.concatenate([self.arrays["decoder.embedding"][tokens], feed], axis=-1))
        outputs, new_layers = None, []
        for layer, (cell, layer_state) in enumerate(zip(self.cells, layers)):
            if layer:
                layer_state = cell.step(cell.project(outputs), layer_state)
                outputs = layer_state[0] + outputs if self.residual else layer_state[0]
            else:
                layer_state = cell.step(below, layer_state)
                outputs = layer_state[0]
            new_layers.append(layer_state)
        context = feed if self.bahdanau else self._attend(outputs, keys, memory)
        attentional = np.tanh(np.concatenate([context, outputs], axis=-1) @ self.arrays["combine.kernel"]
                              + self.arrays["combine.bias"])
        if self.input_feeding:
            feed = attentional
        return attentional @ self.output_kernel + self.arrays["output.bias"], (new_layers, feed)


# ---------------------------------------------------------------- search, as nmt.search does it

def _ranked(values: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` largest values of each row [rows, n], largest first, ties by
    lower index (as ``tf.math.top_k``); a partial sort, as n is the vocabulary."""
    ranked = []
    for row in values:
        kth = np.partition(row, row.size - count)[row.size - count] if count < row.size else row.min()
        candidates = np.flatnonzero(row >= kth)  # the top `count`, and any ties with the last of them
        ranked.append(candidates[np.lexsort((candidates, -row[candidates]))[:count]])
    return np.array(ranked)


class QuickTranslator:
    """Greedy and beam search over ``QuickModel``, one sentence at a time; the interface of
    ``nmt.search.Translator`` for plain translation (``__call__`` and ``scored``)."""

    def __init__(self, model: QuickModel, settings: SearchSettings):
        if settings.no_repeat_ngram:
            raise ValueError("no_repeat_ngram needs the TensorFlow search")
        self.model = model
        self.settings = settings

    def __call__(self, source: np.ndarray, beam: int = 1, prefix=None) -> np.ndarray:
        return self.scored(source, beam, prefix)[0]

    def scored(self, source: np.ndarray, beam: int = 1, prefix=None) -> tuple[np.ndarray, np.ndarray]:
        """(tokens [batch, time], scores [batch]) for PAD-padded source ids [batch, time]."""
        if prefix is not None:
            raise ValueError("prefixes need the TensorFlow search")
        found = [self._search([int(i) for i in row if i != PAD_ID], beam) for row in np.asarray(source)]
        width = max(len(tokens) for tokens, _ in found)
        tokens = np.full((len(found), width), PAD_ID, np.int32)
        for row, (ids, _) in enumerate(found):
            tokens[row, :len(ids)] = ids
        return tokens, np.array([score for _, score in found], np.float32)

    def _search(self, source: list[int], beam: int) -> tuple[list[int], float]:
        length, settings = np.float32(len(source)), self.settings
        limit = int(np.ceil(length * np.float32(settings.max_length_ratio))) + settings.max_length_offset
        min_length = max(int(np.ceil(length * np.float32(settings.min_length_ratio))), 1)
        memory, keys, state = self.model.start(source)
        if beam == 1:
            return self._greedy(memory, keys, state, limit, min_length)
        return self._beam(memory, keys, state, limit, min_length, beam)

    def _greedy(self, memory, keys, state, limit: int, min_length: int) -> tuple[list[int], float]:
        token, output, score = BOS_ID, [], 0.0
        for t in range(limit):
            logits, state = self.model.step(np.array([token]), state, keys, memory)
            logits = logits[0]
            allowed = logits.copy()
            if t < min_length:
                allowed[EOS_ID] -= 1e9
            token = int(np.argmax(allowed))
            score += float(logits[token] - np.log(np.exp(logits - logits.max()).sum()) - logits.max())
            output.append(token)
            if token == EOS_ID:
                break
        return output, score

    def _beam(self, memory, keys, state, limit: int, min_length: int, beam: int) -> tuple[list[int], float]:
        layers, feed = state
        state = ([tuple(np.repeat(s, beam, axis=0) for s in layer) for layer in layers], np.repeat(feed, beam, axis=0))
        scores = np.array([0.0] + [-1e9] * (beam - 1), np.float32)
        tokens = np.full(beam, BOS_ID)
        finished = np.zeros(beam, bool)
        history = np.zeros((beam, 0), np.int64)
        for t in range(limit):
            logits, state = self.model.step(tokens, state, keys, memory)
            log_probs = log_softmax(logits)
            if t < min_length:
                log_probs[:, EOS_ID] -= 1e9
            per_hypothesis = min(beam, log_probs.shape[-1])
            candidate_tokens = _ranked(log_probs, per_hypothesis)
            candidates = np.take_along_axis(log_probs, candidate_tokens, axis=-1)
            candidates[finished] = [0.0] + [-1e9] * (per_hypothesis - 1)
            candidate_tokens[finished] = PAD_ID
            total = (scores[:, None] + candidates).reshape(-1)
            chosen = _ranked(total[None, :], beam)[0]
            beam_index = chosen // per_hypothesis
            tokens = candidate_tokens.reshape(-1)[chosen]
            scores = total[chosen]
            history = np.concatenate([history[beam_index], tokens[:, None]], axis=1)
            finished = finished[beam_index] | (tokens == EOS_ID) | (t + 1 >= limit)
            layers, feed = state
            state = ([tuple(s[beam_index] for s in layer) for layer in layers], feed[beam_index])
            if finished.all():
                break
        lengths = (history != PAD_ID).sum(axis=1).astype(np.float32)
        normalized = scores / ((5.0 + lengths) / 6.0) ** np.float32(self.settings.length_penalty)
        best = int(np.argmax(normalized))
        return [int(i) for i in history[best] if i != PAD_ID], float(normalized[best])


# ---------------------------------------------------------------- when and how nmt translate uses it

class PlainVocab(SubwordVocab):
    """``SubwordVocab`` split and joined by the sentencepiece Python library (no TensorFlow)."""

    def encode(self, lines: list[str]) -> list[list[int]]:
        return [row + [EOS_ID] for row in self.processor.encode(list(lines))]

    def decode(self, ids: list[list[int]]) -> list[str]:
        return self.processor.decode([[int(i) for i in row if i not in (PAD_ID, BOS_ID, EOS_ID)] for row in ids])


def quick_start(run: Run, weights: str, checkpoint: str) -> tuple[Run, QuickTranslator] | None:
    """(the run with TensorFlow-free tokenizers, a NumPy translator) when the archived
    weights of ``checkpoint`` exist and the run computes in float32; else None."""
    config: Config = run.config
    arrays = load_archive(run, weights, checkpoint) if supported(config) else None
    if arrays is None:
        return None
    try:  # one step on a one-token sentence touches every weight: a damaged archive fails here
        model = QuickModel(config.model, arrays)
        memory, keys, state = model.start([EOS_ID])
        model.step(np.array([BOS_ID]), state, keys, memory)
    except (KeyError, ValueError, IndexError):
        archive_path(run, weights).unlink(missing_ok=True)  # TensorFlow writes it anew
        return None
    plain = dataclasses.replace(run, src_vocab=PlainVocab(run.src_vocab.path), tgt_vocab=PlainVocab(run.tgt_vocab.path))
    return plain, QuickTranslator(model, search_settings(config.decode))
