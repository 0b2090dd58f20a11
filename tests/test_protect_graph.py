"""The exported model's protection (``nmt.protect_graph``, TensorFlow ops) gives what
``nmt.protect`` and ``nmt.alignment`` give, on real lines of the shipped corpus and on the
cases where RE2, which has no lookaround, has to go another way."""

from __future__ import annotations

import lzma
import random
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from test_protect import LINES

from nmt import protect_graph
from nmt.alignment import hard_alignment
from nmt.protect import has_spans, protect, restore

SHIPPED = Path(__file__).resolve().parent.parent / "data" / "debian-de-en"

# where nmt.protect's patterns use a lookahead or lookbehind, or Python's Unicode classes
LOOKAROUND = [
    "%3$se %4$s wurden von %1$sen %2$s ertappt.",   # printf glued to letters
    "5%3$se, ?hrs/mns:5%02dStd 5%02dMin",           # ... after a digit, refused: Qt's %3, then $se
    "Größe %dx%d, %sEinheit, 50%ige Chance",
    "~%s (%s) and ~%~%Rechter Kanal.~%~%",          # a refused ~%: go on after the ~
    "%C24*$t$1 ($2%C24) has left ($4), $A$1 $name$5",
    "Eine 50%ige Chance, %Hallo, %of them 50% done",
    "Seite 3 von 1.250, um 12:30, im 21. Jahrhundert, Seite 3.",
    "Seite ٣ von ١٠\u00a0%s\u2003{x}\u3000_Öffnen",  # Unicode digits and spaces
    "Fehler.~%Wählen Sie 2 (oder mehr) Spuren aus.",
    "%-5.2f%% of %lld, %hhx and %I64d at %H:%M:%S",
    "Datei « $filename$ » von $unit.name| in www.debian.org/x. und https://a.b/c?d=1",
    "Pa~ges, _File, &Open, snake_case, AT&T, &amp; &#39; &#x27;",
    "", "   ", "%s", "<br/>", "_…",
]


def shipped_lines_with_spans(count: int) -> list[str]:
    """Up to ``count`` lines with spans from each side of the shipped corpus's test sets and
    training text (the corpus recipe keeps placeholders, entities, URLs and numbers)."""
    lines = []
    for name in ("test-ui", "test-help", "test-everyday", "test-dialogue", "train"):
        for language in ("de", "en"):
            text = lzma.decompress((SHIPPED / f"{name}.{language}.xz").read_bytes()).decode("utf-8")
            lines += [line for line in text.splitlines() if has_spans(line)][:count]
    return lines


LINES_CHECKED = LOOKAROUND + LINES + shipped_lines_with_spans(120)


@pytest.fixture(scope="module")
def graph_protect():
    return tf.function(protect_graph.protect, input_signature=[tf.TensorSpec([], tf.string)])


@pytest.fixture(scope="module")
def graph_restore():
    @tf.function(input_signature=[tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.string),
                                  tf.TensorSpec([None], tf.int32)])
    def restored(line, translation, sources):
        return protect_graph.restore(protect_graph.protect(line), translation, sources)
    return restored


def graph_protected(graph_protect, line: str):
    return protect_graph.as_protected({name: value.numpy() for name, value in graph_protect(tf.constant(line)).items()})


def test_the_shipped_corpus_gives_enough_lines_with_spans_to_compare():
    assert len(LINES_CHECKED) > 500


def test_spans_are_found_and_anchored_as_nmt_protect_does(graph_protect):
    differ = [line for line in LINES_CHECKED if graph_protected(graph_protect, line) != protect(line)]
    assert differ == []


def test_a_refused_placeholder_is_what_pythons_backtracking_makes_of_it(graph_protect):
    found = graph_protected(graph_protect, "%3$se 5%3$se von ~%s")
    assert found.text == "e 5 von ~" and [span.text for span in found.spans] == ["%3$s", "%3$se", "%s"]


def rough_translation(words: list[str], rng: random.Random) -> tuple[str, list[int]]:
    """The source words, some swapped, dropped, doubled or changed, and the source word each
    came from (now and then another one, as a wrong alignment would have it); or, one time in
    three, new words aligned anywhere, which reorders elements until their tags would cross."""
    if words and rng.random() < 1 / 3:
        count = rng.randint(0, len(words) + 3)
        return " ".join(f"w{index}" for index in range(count)), [rng.randrange(len(words)) for _ in range(count)]
    order = list(range(len(words)))
    if len(order) > 1 and rng.random() < 0.5:
        i = rng.randrange(len(order) - 1)
        order[i], order[i + 1] = order[i + 1], order[i]
    if order and rng.random() < 0.3:
        del order[rng.randrange(len(order))]
    if order and rng.random() < 0.3:
        order.insert(rng.randrange(len(order)), rng.choice(order))
    translation = " ".join(words[i].upper() if rng.random() < 0.3 else words[i] for i in order)
    sources = [rng.randrange(len(words)) if rng.random() < 0.1 else i for i in order]
    return translation, sources


@pytest.mark.parametrize("seed", [1, 2])
def test_spans_go_back_as_nmt_protect_puts_them(graph_restore, seed):
    rng, differ = random.Random(seed), []
    for line in LINES_CHECKED:
        translation, sources = rough_translation(protect(line).text.split(), rng)
        expected = restore(protect(line), translation, [(s, t) for t, s in enumerate(sources)])
        got = graph_restore(tf.constant(line), tf.constant(translation), tf.constant(sources, tf.int32))
        if got.numpy().decode() != expected:
            differ.append((line, translation, sources))
    assert differ == []


def test_the_word_alignment_is_nmt_alignments(seed=0):
    rng = np.random.default_rng(seed)
    pieces = ["\u2581a", "b", "\u2581", "\u2581cd", "e", "<0x0A>", "\u2581f"]
    for _ in range(200):
        source = [pieces[i] for i in rng.integers(0, len(pieces), rng.integers(0, 7))]
        target = [pieces[i] for i in rng.integers(0, len(pieces), rng.integers(0, 7))]
        attention = rng.random((len(target) + 2, len(source) + 3)).astype(np.float32)  # EOS and padding too
        expected = [s for s, _ in hard_alignment(attention, source, target)]
        got = protect_graph.word_alignment(tf.constant(source, tf.string), tf.constant(target, tf.string),
                                           tf.constant(attention))
        assert got.numpy().tolist() == expected, (source, target)
