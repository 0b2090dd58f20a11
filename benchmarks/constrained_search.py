"""Lexically constrained beam search with dynamic beam allocation (Post and Vilar, 2018): the
alternative to ``nmt.glossary``'s alignment rewrite that ``make glossary`` measures.

Every hypothesis tracks which required target terms (constraints, as target token ids) it
has produced and how far it is into the one it is producing.  At each step its candidates
are its ``beam`` best tokens, the next token of the constraint it is in, and the first token
of every constraint it has not met; EOS is allowed only once all are met, and the token
after a constraint must start a word, so a term is not the start of a longer word.  The beam's slots
are shared out, round robin, among banks of candidates that have met the same number of
constraint tokens, so hypotheses that have placed a term compete with each other rather than
with unconstrained ones of a higher score.  One sentence is searched at a time, in Python
around one compiled decoder step; the speed cost it shows is this design's, not the method's
floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from nmt.config import search_settings
from nmt.search import _length_limits, _start
from nmt.vocab import BOS_ID, EOS_ID, PAD_ID


@dataclass(frozen=True)
class State:
    tokens: tuple[int, ...]
    score: float
    met: frozenset[int]           # constraints produced whole
    inside: tuple[int, int] | None  # (constraint, tokens of it produced so far)
    closing: bool = False         # a constraint ended with the last token: the next one starts a word

    def progress(self, constraints: list[list[int]]) -> int:
        done = sum(len(constraints[c]) for c in self.met)
        return done + (self.inside[1] if self.inside else 0)


def advanced(state: State, token: int, log_p: float, constraints: list[list[int]]) -> State:
    """``state`` extended by ``token``: a constraint continued, finished, started or dropped."""
    met, inside = state.met, state.inside
    if inside and constraints[inside[0]][inside[1]] == token:
        inside = (inside[0], inside[1] + 1)
    else:
        inside = next(((c, 1) for c, ids in enumerate(constraints) if c not in met and ids[0] == token), None)
    closing = bool(inside) and inside[1] == len(constraints[inside[0]])
    if closing:
        met, inside = met | {inside[0]}, None
    return State(state.tokens + (token,), state.score + log_p, met, inside, closing)


def allocated(candidates: list[State], beam: int, constraints: list[list[int]]) -> list[State]:
    """Up to ``beam`` candidates: the best of each bank (same progress) in turn, most progress first."""
    banks: dict[int, list[State]] = {}
    for state in sorted(candidates, key=lambda s: -s.score):
        banks.setdefault(state.progress(constraints), []).append(state)
    queues = [banks[p] for p in sorted(banks, reverse=True)]
    chosen: list[State] = []
    while len(chosen) < beam and any(queues):
        for queue in queues:
            if queue and len(chosen) < beam:
                chosen.append(queue.pop(0))
    return chosen


def _finished(state: State) -> bool:
    return bool(state.tokens) and state.tokens[-1] == EOS_ID


class ConstrainedSearch:
    """Constrained beam search of one source sentence at a time with a run's model."""

    def __init__(self, model, settings, beam: int, word_pieces: np.ndarray):
        self.model, self.settings, self.beam = model, settings, beam
        self.word_pieces = word_pieces  # [vocab] whether a token goes on the word before it
        spec = tf.TensorSpec([None, None], tf.int32)
        self._encode = tf.function(lambda source: _start(model, source), input_signature=[spec], autograph=False)
        self._step = tf.function(self._log_probs, autograph=False, reduce_retracing=True)

    def _log_probs(self, tokens, states, keys, memory, mask):
        logits, states, _ = self.model.decoder.step(tokens, states, keys, memory, mask, beam=self.beam)
        return tf.nn.log_softmax(tf.cast(logits, tf.float32)), states

    def __call__(self, source: list[int], constraints: list[list[int]]) -> list[int]:
        """The best target ids for ``source`` (ids ending in EOS) that hold every constraint."""
        memory, mask, keys, states = self._encode(tf.constant([source], tf.int32))
        states = tf.nest.map_structure(lambda s: tf.repeat(s, self.beam, axis=0), states)
        limit = int(_length_limits(tf.constant([source]), self.settings.max_length_ratio,
                                   self.settings.max_length_offset)[0]) + sum(map(len, constraints))
        beam = [State((), 0.0, frozenset(), None)]
        for _ in range(limit):
            tokens = [state.tokens[-1] if state.tokens else BOS_ID for state in beam]
            log_p, states = self._step(tf.constant(tokens + [PAD_ID] * (self.beam - len(beam)), tf.int32),
                                       states, keys, memory, mask)
            log_p = log_p.numpy()[:len(beam)]
            log_p[:, [PAD_ID, BOS_ID]] = -np.inf
            parents = self._candidates(beam, log_p, constraints)
            beam = allocated(list(parents), self.beam, constraints)
            if all(_finished(state) for state in beam):
                break
            order = [parents[state] for state in beam] + [0] * (self.beam - len(beam))
            states = tf.nest.map_structure(lambda s, rows=order: tf.gather(s, rows), states)
        return list(max(beam, key=self._ranking).tokens)

    def _candidates(self, beam: list[State], log_p: np.ndarray,
                    constraints: list[list[int]]) -> dict[State, int]:
        """Every candidate extension of the beam's hypotheses, with the row it extends."""
        found: dict[State, int] = {}
        for row, state in enumerate(beam):
            if _finished(state):  # kept as it is, competing for its slot
                found[state] = row
                continue
            if state.closing:  # a term is a whole word: "hall" must not become "halls"
                log_p[row, self.word_pieces] = -np.inf
            unmet = len(state.met) < len(constraints)
            tokens = set(np.argpartition(-log_p[row], self.beam)[:self.beam].tolist())
            if state.inside:
                tokens.add(constraints[state.inside[0]][state.inside[1]])
            tokens |= {ids[0] for c, ids in enumerate(constraints) if c not in state.met}
            if unmet:
                tokens.discard(EOS_ID)
            for token in tokens:
                if np.isfinite(log_p[row, token]):
                    found[advanced(state, token, float(log_p[row, token]), constraints)] = row
        return found

    def _ranking(self, state: State) -> tuple[bool, int, float]:
        length = len(state.tokens)
        return _finished(state), len(state.met), state.score / (((5 + length) / 6) ** self.settings.length_penalty)


def constrained_lines(run, model, lines: list[str], targets: list[list[str]], beam: int) -> list[str]:
    """Translations of ``lines``, each holding its line's required target terms."""
    pieces = [run.tgt_vocab.piece(index) for index in range(run.tgt_vocab.size)]
    word_pieces = np.array([piece[:1].isalnum() for piece in pieces])  # not "▁word", not punctuation
    search = ConstrainedSearch(model, search_settings(run.config.decode), beam, word_pieces)
    sources = run.src_vocab.encode(lines)
    outputs = []
    for source, terms in zip(sources, targets):
        constraints = [ids[:-1] for ids in run.tgt_vocab.encode(terms)] if terms else []
        outputs.append(search(source, [ids for ids in constraints if ids]))
    return [" ".join(text.splitlines()) for text in run.tgt_vocab.decode(outputs)]
