"""A tiny model learns to reverse sequences; greedy and beam search decode it correctly."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

import nmt.search
from nmt.config import ModelConfig, SearchSettings
from nmt.data import pad
from nmt.model import build_model
from nmt.search import Translator, beam_search, greedy_search, top_k
from nmt.step import masked_cross_entropy
from nmt.vocab import BOS_ID, EOS_ID

SYMBOLS = range(4, 14)


def reverse_batch(rng, size):
    rows = [list(rng.choice(SYMBOLS, rng.integers(3, 8))) for _ in range(size)]
    sources = pad([r + [EOS_ID] for r in rows])
    targets = [r[::-1] + [EOS_ID] for r in rows]
    return sources, pad([t[:-1] for t in targets], prefix=[BOS_ID]), pad(targets), rows


REVERSER = ModelConfig(embedding_dim=32, encoder_layers=1, encoder_units=32, decoder_layers=1,
                       decoder_units=64, attention_units=64, dropout=0.0)


def train_to_reverse(model, steps: int = 300) -> list[float]:
    """Train ``model`` on random reversal batches with Adam; the loss of every step."""
    optimizer = keras.optimizers.Adam(0.01)

    @tf.function
    def step(source, target_in, target_out):
        with tf.GradientTape() as tape:
            loss_sum, tokens = masked_cross_entropy(model((source, target_in), training=True), target_out)
            loss = loss_sum / tokens
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    rng = np.random.default_rng(0)
    return [float(step(*reverse_batch(rng, 64)[:3])) for _ in range(steps)]


@pytest.fixture(scope="module")
def reverser():
    keras.utils.set_random_seed(0)
    model = build_model(14, 14, REVERSER)
    losses = train_to_reverse(model, steps=200)  # loss 2.64 -> 0.0007 (seed 0)
    assert losses[-1] < 0.1 * losses[0], "the tiny model failed to learn to reverse"
    return model


def strip(row):
    row = list(row)
    return row[:row.index(EOS_ID)] if EOS_ID in row else row


def test_learns_to_reverse_with_greedy_and_beam(reverser):
    translator = Translator(reverser, SearchSettings(1.0, 2, 1.0))
    sources, _, _, rows = reverse_batch(np.random.default_rng(1), 100)
    for beam in (1, 4):
        output = translator(sources, beam)
        correct = sum(strip(out) == row[::-1] for out, row in zip(output, rows))
        assert correct >= 90, f"beam {beam}: only {correct}/100 reversed"


def test_beam_size_one_equals_greedy(reverser):
    sources, *_ = reverse_batch(np.random.default_rng(2), 50)
    settings = SearchSettings(1.0, 2, 1.0)
    greedy = tf.function(lambda s: greedy_search(reverser, s, settings).tokens)(tf.constant(sources)).numpy()
    beam_one = tf.function(lambda s: beam_search(reverser, s, 1, settings).tokens)(tf.constant(sources)).numpy()
    width = min(greedy.shape[1], beam_one.shape[1])
    assert np.array_equal(greedy[:, :width], beam_one[:, :width])
    assert not np.any(greedy[:, width:]) and not np.any(beam_one[:, width:])


def test_scores_are_log_probabilities_of_the_returned_tokens(reverser):
    sources, *_ = reverse_batch(np.random.default_rng(3), 20)
    source = tf.constant(sources)
    greedy = tf.function(lambda s: greedy_search(reverser, s, SearchSettings(1.0, 2)))(source)
    # beam 1 without length penalty scores the same single hypothesis
    beam_one = tf.function(lambda s: beam_search(reverser, s, 1, SearchSettings(1.0, 2, 0.0)))(source)
    np.testing.assert_allclose(greedy.scores.numpy(), beam_one.scores.numpy(), atol=1e-5)
    logits = reverser((source, tf.pad(greedy.tokens[:, :-1], [[0, 0], [1, 0]], constant_values=BOS_ID)))
    log_probs = tf.nn.log_softmax(logits).numpy()
    tokens = greedy.tokens.numpy()
    expected = [sum(log_probs[row, t, token] for t, token in enumerate(tokens[row]) if token)
                for row in range(len(tokens))]
    np.testing.assert_allclose(greedy.scores.numpy(), expected, rtol=1e-4, atol=1e-5)


def test_padding_in_a_batch_does_not_change_a_translation(reverser):
    translator = Translator(reverser, SearchSettings(1.0, 2, 1.0))
    short = [5, 6, 7, EOS_ID]
    long = [4, 5, 6, 7, 8, 9, 10, EOS_ID]
    for beam in (1, 3):
        alone = strip(translator(pad([short]), beam)[0])
        batched = strip(translator(pad([long, short, long]), beam)[1])
        assert alone == batched == [7, 6, 5]


@pytest.mark.parametrize("beam", [1, 3])
def test_a_mixed_batch_is_searched_as_each_sentence_alone(reverser, beam):
    """Sentences leave the decoder's batch as they finish (a greedy batch runs as a beam of one,
    a lone sentence through the greedy loop); what is left must still be theirs: tokens,
    scores (the whole beam), prefixes and attention."""
    sources, *_ = reverse_batch(np.random.default_rng(11 if beam > 1 else 12), 12)
    prefixes = pad([[row[-2]] if k % 3 == 0 else [] for k, row in enumerate(sources[:, :-1].tolist())])
    translator = Translator(reverser, SearchSettings(1.0, 2, 1.0))
    search = translator.nbest if beam > 1 else translator.scored
    tokens, scores = search(sources, beam)
    forced = translator(sources, beam, prefixes)
    seen, attention = translator.with_attention(sources, beam)
    for k, source in enumerate(sources):
        alone = source[None, :(source != 0).sum()]
        alone_tokens, alone_scores = search(alone, beam)
        width = alone_tokens.shape[-1]
        np.testing.assert_array_equal(tokens[k, ..., :width], alone_tokens[0], err_msg=f"sentence {k}")
        assert not tokens[k, ..., width:].any(), f"sentence {k}: only PAD after its own end"
        np.testing.assert_allclose(scores[k], alone_scores[0], atol=1e-5, err_msg=f"sentence {k}")
        assert strip(forced[k]) == strip(translator(alone, beam, prefixes[k:k + 1])[0]), f"sentence {k}"
        alone_seen, alone_attention = translator.with_attention(alone, beam)
        width = alone_seen.shape[1]
        np.testing.assert_array_equal(seen[k, :width], alone_seen[0])
        np.testing.assert_allclose(attention[k, :width, :alone.shape[1]], alone_attention[0], atol=1e-5)


def test_candidates_are_the_best_log_probabilities_and_finished_hypotheses_take_pad_at_no_cost(reverser):
    """Two sentences of three hypotheses; rows 1 and 5 have finished, and the second sentence
    may not end yet (its minimum length is 9), so its running rows must not choose EOS,
    which every row ranks first (the vectors point along EOS's output weights)."""
    towards_eos = reverser.decoder.output_projection.kernel.numpy()[:, EOS_ID]
    noise = np.random.default_rng(21).normal(size=(6, REVERSER.attention_units))
    attentional = tf.constant(0.1 * noise + 3 * towards_eos / np.linalg.norm(towards_eos), tf.float32)
    finished = np.array([False, True, False, False, False, True])
    candidates, tokens = nmt.search._candidates(reverser, attentional, tf.constant(finished), 3, tf.constant(4),
                                                tf.constant([1, 9]), None, tf.zeros([6, 0], tf.int32), 0)
    log_probs = tf.nn.log_softmax(reverser.decoder.logits(attentional)).numpy()
    assert (log_probs.argmax(axis=1) == EOS_ID).all()
    for row in range(6):
        if finished[row]:
            np.testing.assert_array_equal(tokens[row], [0, 0, 0])
            np.testing.assert_array_equal(candidates[row], [0.0, -1e9, -1e9])
            continue
        ranked = np.where(np.arange(14) == EOS_ID, -np.inf, log_probs[row]) if row >= 3 else log_probs[row]
        expected = np.argsort(-ranked, kind="stable")[:3]
        np.testing.assert_array_equal(tokens[row], expected, err_msg=f"row {row}")
        np.testing.assert_allclose(candidates[row], log_probs[row, expected], atol=1e-5, err_msg=f"row {row}")


@pytest.mark.slow
@pytest.mark.parametrize("variant", [{"cell": "lstm", "input_feeding": True, "attention": "luong_concat"},
                                     {"cell": "gru", "attention": "bahdanau"}, {"cell": "peephole"}])
def test_a_kept_token_table_searches_as_the_embedding_product(variant):
    """Batches look the first layer's embedding part up in a table kept by the translator; a
    translator for changing weights multiplies at every step.  Both find the same hypotheses."""
    keras.utils.set_random_seed(3)
    model = build_model(14, 14, dataclasses.replace(REVERSER, **variant))
    decoder = model.decoder
    kernel, bias = decoder.cells[0].kernel.numpy(), decoder.cells[0].bias.numpy()
    np.testing.assert_allclose(decoder.token_table().numpy(),
                               decoder.embedding.embeddings.numpy() @ kernel[:REVERSER.embedding_dim] + bias,
                               atol=1e-5)
    sources, *_ = reverse_batch(np.random.default_rng(5), 9)
    settings = SearchSettings(1.0, 2, 1.0)
    kept, multiplied = Translator(model, settings), Translator(model, settings, changing_weights=True)
    for search in ("scored", "nbest"):
        for beam in (1, 3) if search == "scored" else (3,):
            found, expected = getattr(kept, search)(sources, beam), getattr(multiplied, search)(sources, beam)
            np.testing.assert_array_equal(found[0], expected[0], err_msg=f"{search}, beam {beam}")
            np.testing.assert_allclose(found[1], expected[1], atol=1e-5, err_msg=f"{search}, beam {beam}")
    assert kept._table is not None and multiplied._table is None


def test_a_translator_for_changing_weights_follows_them():
    keras.utils.set_random_seed(4)
    model = build_model(14, 14, REVERSER)
    sources, *_ = reverse_batch(np.random.default_rng(6), 8)
    translator = Translator(model, SearchSettings(1.0, 2, 1.0), changing_weights=True)
    before, _ = translator.nbest(sources, 3)
    embeddings = model.decoder.embedding.embeddings
    embeddings.assign(np.random.default_rng(7).normal(size=embeddings.shape) * 3)
    after, after_scores = translator.nbest(sources, 3)
    fresh, fresh_scores = Translator(model, SearchSettings(1.0, 2, 1.0)).nbest(sources, 3)
    assert not np.array_equal(after, before), "the new embeddings should change the search"
    np.testing.assert_array_equal(after, fresh)
    np.testing.assert_allclose(after_scores, fresh_scores, atol=1e-5)


@pytest.mark.parametrize("shape, k", [((7, 321), 5), ((3, 4, 1000), 5), ((6, 8000), 1), ((2, 3, 640), 3)])
def test_top_k_in_blocks_equals_tensorflows_top_k(shape, k):
    """Values and indices, with many ties (small integers) and a width that is not a multiple
    of the block; ties must go to the lower index."""
    values = tf.constant(np.random.default_rng(sum(shape)).integers(0, 40, shape), tf.float32)
    found, where = top_k(values, k)
    expected, expected_where = tf.math.top_k(values, k)
    np.testing.assert_array_equal(found.numpy(), expected.numpy())
    np.testing.assert_array_equal(where.numpy(), expected_where.numpy())


def test_beam_search_over_a_large_vocabulary_ranks_as_plain_top_k(monkeypatch):
    """1,000 target tokens take the blockwise top-k; swapping in TensorFlow's TopK changes nothing."""
    keras.utils.set_random_seed(3)
    model = build_model(14, 1000, REVERSER)
    sources, *_ = reverse_batch(np.random.default_rng(5), 6)
    blocked = beam_search(model, sources, 5, SearchSettings(1.0, 2, 1.0), nbest=True)
    monkeypatch.setattr(nmt.search, "top_k", lambda values, k: tf.math.top_k(values, k))
    plain = beam_search(model, sources, 5, SearchSettings(1.0, 2, 1.0), nbest=True)
    np.testing.assert_array_equal(blocked.tokens.numpy(), plain.tokens.numpy())
    np.testing.assert_allclose(blocked.scores.numpy(), plain.scores.numpy(), atol=1e-6)


def test_a_beam_wider_than_the_vocabulary_still_searches(reverser):
    """Each hypothesis offers at most the whole vocabulary (14 tokens) to a beam of 20."""
    sources, *_, rows = reverse_batch(np.random.default_rng(5), 4)
    found = Translator(reverser, SearchSettings(1.0, 2, 1.0))(sources, 20)
    assert [strip(row) for row in found] == [row[::-1] for row in rows]


def test_output_length_is_capped(reverser):
    translator = Translator(reverser, SearchSettings(0.5, 0, 1.0))
    sources, *_ = reverse_batch(np.random.default_rng(3), 8)
    for beam in (1, 3):
        output = translator(sources, beam)
        limits = np.ceil((sources != 0).sum(1) * 0.5)
        lengths = (output != 0).sum(1)
        assert np.all(lengths <= limits)


def test_attention_of_the_returned_hypothesis(reverser):
    translator = Translator(reverser, SearchSettings(1.0, 2, 1.0))
    source = pad([[4, 5, 6, 7, 8, 9, EOS_ID], [10, 11, 12, EOS_ID]])
    for beam in (1, 4):
        tokens, attention = translator.with_attention(source, beam)
        assert np.array_equal(tokens, translator(source, beam))
        assert attention.shape == (*tokens.shape, source.shape[1])
        real = tokens != 0
        np.testing.assert_allclose(attention[real].sum(-1), 1.0, atol=1e-5)
        assert np.all(attention[1][:, 4:] < 1e-6), "padding must get no attention"
        # Reversing: output k should look mostly at source position length-2-k.
        peaks = attention[0, :6].argmax(-1)
        assert (peaks == np.arange(5, -1, -1)).sum() >= 4, peaks


def test_search_never_ends_before_the_first_token():
    """A barely trained model whose most likely first token is EOS still emits one token:
    EOS is barred from the first step only, and the score stays the model's log-probability."""
    keras.utils.set_random_seed(0)
    model = build_model(14, 14, REVERSER)
    bias = np.zeros(14, np.float32)
    bias[EOS_ID] = 8.0  # EOS far above every other token at every step
    model.decoder.output_projection.bias.assign(bias)
    source = reverse_batch(np.random.default_rng(3), 4)[0]
    for search in (lambda: greedy_search(model, source, SearchSettings(2.0, 5)),
                   lambda: beam_search(model, source, 3, SearchSettings(2.0, 5, 1.0))):
        hypotheses = search()
        tokens = hypotheses.tokens.numpy()
        assert (tokens[:, 0] != EOS_ID).all() and (tokens[:, 1] == EOS_ID).all()
        assert (hypotheses.scores.numpy() < -6.0).all()  # the barred EOS made the first token unlikely


@pytest.mark.parametrize("beam", [1, 4])
def test_forced_decoding_scores_the_search_output_as_the_search_did(reverser, beam):
    from nmt.scoring import score_batch

    sources, *_ = reverse_batch(np.random.default_rng(5), 24)
    found = tf.function(lambda s: beam_search(reverser, s, beam, SearchSettings(1.0, 2, 0.0)) if beam > 1
                        else greedy_search(reverser, s, SearchSettings(1.0, 2)))(tf.constant(sources))
    totals, counts = score_batch(reverser, sources, found.tokens.numpy())
    np.testing.assert_allclose(totals, found.scores.numpy(), atol=1e-5)
    assert list(counts) == [len(strip(row)) + (EOS_ID in row) for row in found.tokens.numpy()]


def test_forced_decoding_of_one_pair_does_not_depend_on_its_batch(reverser):
    from nmt.scoring import score_batch

    sources, _, targets, _ = reverse_batch(np.random.default_rng(6), 12)
    together, _ = score_batch(reverser, sources, targets)
    width = lambda row: int(np.count_nonzero(row))  # noqa: E731
    alone = [score_batch(reverser, sources[i:i + 1, :width(sources[i])], targets[i:i + 1, :width(targets[i])])[0][0]
             for i in range(len(sources))]
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert (together < 0).all()


def test_nbest_is_the_whole_beam_best_first_scored_as_forced_decoding(reverser):
    from nmt.scoring import score_batch

    sources, *_ = reverse_batch(np.random.default_rng(7), 16)
    translator = Translator(reverser, SearchSettings(1.0, 2, 0.0))  # no length penalty: scores are log-probabilities
    tokens, scores = translator.nbest(sources, 4)
    assert tokens.shape[:2] == scores.shape == (16, 4)
    assert (np.diff(scores, axis=1) <= 0).all(), "ranks are sorted by score"
    best_tokens, best_scores = translator.scored(sources, 4)
    np.testing.assert_array_equal(tokens[:, 0, :best_tokens.shape[1]], best_tokens)
    np.testing.assert_allclose(scores[:, 0], best_scores, atol=1e-6)
    for rank in range(4):
        totals, _ = score_batch(reverser, sources, tokens[:, rank])
        np.testing.assert_allclose(totals, scores[:, rank], atol=1e-4)
    assert all(len({tuple(strip(t)) for t in row}) == 4 for row in tokens), "the hypotheses differ"


@pytest.mark.parametrize("alpha", [0.6, 1.0, 2.0])
def test_beam_scores_are_log_probabilities_over_the_gnmt_length_penalty(reverser, alpha):
    """score = log P(y | x) / ((5 + |y|) / 6) ** alpha, |y| counting EOS, for every hypothesis."""
    from nmt.scoring import score_batch

    sources, *_ = reverse_batch(np.random.default_rng(12), 8)
    tokens, scores = Translator(reverser, SearchSettings(1.0, 2, alpha)).nbest(sources, 3)
    for rank in range(3):
        totals, _ = score_batch(reverser, sources, tokens[:, rank])
        lengths = (tokens[:, rank] != 0).sum(axis=1)
        np.testing.assert_allclose(scores[:, rank], totals / ((5 + lengths) / 6) ** alpha, atol=1e-4)


@pytest.mark.parametrize("beam", [1, 3])
def test_a_prefix_is_kept_and_its_own_start_changes_nothing(reverser, beam):
    translator = Translator(reverser, SearchSettings(1.0, 2, 1.0))
    sources, *_ = reverse_batch(np.random.default_rng(8), 30)
    free = translator(sources, beam)
    starts = [strip(row)[:k] for row, k in zip(free, np.random.default_rng(9).integers(1, 4, 30))]
    # the arrays may differ in width: the other hypotheses of a forced beam can run longer
    assert [strip(row) for row in translator(sources, beam, pad(starts))] == [strip(row) for row in free]
    odd = [[13, 4], [5], [12, 12, 12]] * 10  # prefixes the model would not choose
    forced = translator(sources, beam, pad(odd))
    assert all(list(row[:len(start)]) == start for row, start in zip(forced, odd))
    assert all(EOS_ID in row for row in forced), "the search goes on after the prefix and ends"


def test_sampling_is_seeded_top_1_is_greedy_and_scores_are_log_probabilities(reverser):
    from nmt.scoring import score_batch
    from nmt.search import Sampling

    sources, *_ = reverse_batch(np.random.default_rng(10), 30)
    greedy = Translator(reverser, SearchSettings(1.0, 2, 1.0))(sources)

    def draw(**settings):
        return Translator(reverser, SearchSettings(1.0, 2, 1.0), Sampling(**settings)).scored(sources)

    first, again, other = draw(temperature=3.0, seed=1), draw(temperature=3.0, seed=1), draw(temperature=3.0, seed=2)
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[0][:, :min(first[0].shape[1], other[0].shape[1])],
                              other[0][:, :min(first[0].shape[1], other[0].shape[1])])
    assert not np.array_equal(first[0][:, :greedy.shape[1]], greedy[:, :first[0].shape[1]])
    np.testing.assert_array_equal(draw(top_k=1, seed=5)[0], greedy)
    totals, _ = score_batch(reverser, sources, first[0])
    np.testing.assert_allclose(totals, first[1], atol=1e-4)


def repeated_ngrams_reference(history: np.ndarray, n: int, vocab: int) -> np.ndarray:
    """NumPy: True on every token that would repeat an n-gram the row already holds."""
    blocked = np.zeros((len(history), vocab), bool)
    for row, tokens in enumerate(history.tolist()):
        last = tokens[len(tokens) - n + 1:] if n > 1 else []
        for start in range(len(tokens) - n + 1):
            if tokens[start:start + n - 1] == last:
                blocked[row, tokens[start + n - 1]] = True
    return blocked


@pytest.mark.parametrize("n", [1, 2, 3])
def test_repeated_ngrams_blocks_what_the_reference_blocks(n):
    from nmt.search import _repeated_ngrams

    rng = np.random.default_rng(n)
    for length in range(0, 9):
        history = rng.integers(4, 8, size=(6, length))
        got = _repeated_ngrams(tf.constant(history, tf.int32), n, 9).numpy()
        np.testing.assert_array_equal(got < 0, repeated_ngrams_reference(history, n, 9), err_msg=str(history))


def bigrams(row) -> list[tuple[int, int]]:
    return list(zip(row, row[1:]))


@pytest.mark.parametrize("beam", [1, 3])
def test_no_repeat_ngram_and_min_length_safeguards(reverser, beam):
    sources = pad([[5, 6, 5, 6, 7, EOS_ID], [8, 9, 10, 11, EOS_ID]])
    plain = [strip(r) for r in Translator(reverser, SearchSettings(3.0, 2, 1.0))(sources, beam=beam)]
    assert plain[0] == [7, 6, 5, 6, 5]  # the reversal repeats the bigram (6, 5)
    blocked = [strip(r) for r in Translator(reverser, SearchSettings(3.0, 2, 1.0, no_repeat_ngram=2))(
        sources, beam=beam)]
    assert len(set(bigrams(blocked[0]))) == len(bigrams(blocked[0])) and blocked[0] != plain[0]
    if beam == 1:  # greedy follows the model until the repeat is blocked
        assert blocked[0][:4] == [7, 6, 5, 6] and blocked[0][4:5] != [5]
    assert blocked[1] == plain[1] == [11, 10, 9, 8]  # nothing to block: unchanged
    longer = Translator(reverser, SearchSettings(3.0, 2, 1.0, min_length_ratio=2.0))(sources, beam=beam)
    for row, source in zip(longer, sources):
        length = int(np.sum(source != 0))
        assert len(strip(row)) >= 2 * length and strip(row)[:length - 1] != []


@pytest.mark.slow
def test_an_ensemble_searches_the_mean_of_its_models_log_probabilities(reverser):
    """Greedy search of two models: each step takes the argmax of the mean log-probabilities,
    and the score is the teacher-forced sum of their renormalized mean."""
    from nmt.ensemble import Ensemble

    keras.utils.set_random_seed(1)
    other = build_model(14, 14, REVERSER)
    train_to_reverse(other, steps=40)  # a weaker model that disagrees at times
    source = reverse_batch(np.random.default_rng(11), 16)[0]
    for beam in (1, 3):
        tokens, scores = Translator(Ensemble([reverser, other]), SearchSettings(2.0, 5, 0.0)).scored(source, beam=beam)
        target_in = np.concatenate([np.full((len(tokens), 1), BOS_ID), tokens[:, :-1]], axis=1)
        mean = sum(tf.nn.log_softmax(m((source, target_in))) for m in (reverser, other)) / 2
        log_probs = tf.gather(tf.nn.log_softmax(mean), tokens, batch_dims=2).numpy()
        np.testing.assert_allclose(scores, (log_probs * (tokens != 0)).sum(1), atol=1e-4)
    settings = SearchSettings(2.0, 5, 1.0)
    alone, alone_scores = Translator(reverser, settings).scored(source, beam=3)
    together, together_scores = Translator(Ensemble([reverser, other]), settings).scored(source, beam=3)
    weak, weak_scores = Translator(other, settings).scored(source, beam=3)
    alone, together, weak = ([strip(r) for r in rows] for rows in (alone, together, weak))
    assert weak != alone and together != weak  # the ensemble is neither model's search alone
    disagree = [row for row in range(len(source)) if alone[row] != weak[row]]
    assert disagree  # where the two models disagree, the ensemble's score is neither model's
    for row in disagree:
        assert min(abs(together_scores[row] - alone_scores[row]), abs(together_scores[row] - weak_scores[row])) > 1e-3
