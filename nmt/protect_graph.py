"""``nmt.protect``'s rules as TensorFlow ops, so the exported SavedModel takes spans out and
puts them back as ``nmt translate`` does.

A SavedModel holds graph ops only, and their regular expressions are RE2's, which has no
lookaround.  The span patterns below are ``nmt.protect``'s written for RE2.  A pattern that
must not be followed by a letter there matches that letter here too ("%of"); such a refused
match is marked and the line split again, going on where Python's regex goes on: after the
printf conversion if no digit comes before it, else after what a later alternative matches,
else after one character.  A number is a whole word (optionally ending in ``,;:!?``, or
``.`` at the end of the line) instead of a lookbehind and a lookahead.  The rest - joining
codes, anchoring spans to words, pairing tags, placing spans by the alignment and keeping
neighbours glued - follows ``nmt.protect`` step by step, one sentence at a time.
``tests/test_protect_graph.py`` checks both give the same result on lines of the shipped
corpus, ``make protection`` on every catalog line with spans.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_text as tf_text

from nmt.protect import Protected, Span

# str.isspace()'s characters (Python's \s), as an RE2 class body
SPACE = r"\t-\r\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
WORD = r"\pL\pN_"  # Python's \w
DIGIT = r"\p{Nd}"  # Python's \d
FALLBACK_SHELL = rf"\$\{{?[A-Za-z_][{WORD}]*\}}?|\${DIGIT}+"
# what Python's regex matches where an alternative with a lookahead fails: Qt's %1, $name
FALLBACK = rf"%L?{DIGIT}+|{FALLBACK_SHELL}"
URL = (rf"(?:https?|ftp)://[^{SPACE}<>\"']*[^{SPACE}<>\"'.,;:!?)]"
       rf"|www\.[^{SPACE}<>\"']*[^{SPACE}<>\"'.,;:!?)]")
TAG = (rf"</?[A-Za-z][{WORD}:.-]*(?:[{SPACE}]+[{WORD}:.-]+(?:[{SPACE}]*=[{SPACE}]*"
       rf"(?:\"[^\"]*\"|'[^']*'|[^{SPACE}>]+))?)*[{SPACE}]*/?>")
ENTITY = r"&(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#x[0-9A-Fa-f]+);"


PRINTF = (rf"%(?:{DIGIT}+\$|\([A-Za-z_][{WORD}]*\))?[-+#0']*(?:\*|{DIGIT}+)?(?:\.(?:\*|{DIGIT}+))?"
          r"(?:hh|h|ll|l|L|q|j|z|t|I64|I32)?[diouxXeEfFgGaAcspn]")


def _placeholder(letter: str, word: str, digit: str) -> str:
    """``nmt.protect.PLACEHOLDER``; ``letter``, ``word`` and ``digit`` stand where it has a
    negative lookahead for an ASCII letter, a word character and a digit."""
    return "|".join([
        r"%%",
        r"%[A-Z][A-Z0-9_]+%?",
        rf"{PRINTF}{letter}",
        rf"%[aAbBcCdDeEFGhHIjklmMOprRStTuUVwWxXyYzZ]{letter}",
        rf"%L?{DIGIT}+",
        rf"~[aAsS%]{word}",
        r"\{[" + WORD + r".\[\]]*(?:![rsa])?(?::[^{}]*)?\}",
        rf"\$[A-Za-z_][{WORD}.]*(?:\${digit}|\|)",
        FALLBACK_SHELL,
    ])


def _spans(letter: str = "", word: str = "", digit: str = "") -> str:
    return f"{URL}|{TAG}|{ENTITY}|{_placeholder(letter, word, digit)}"


# what splitting looks for: the spans, each also with the character its lookahead forbids
SEARCHED = _spans("[A-Za-z]?", f"[{WORD}]?", f"{DIGIT}?")
SPAN = _spans()  # a piece that is all span and not followed by what the lookahead forbids
KINDS = ("word", "url", "tag", "entity", "placeholder", "number", "access")
WORD_KIND, URL_KIND, TAG_KIND, ENTITY_KIND, PLACEHOLDER_KIND, NUMBER_KIND, ACCESS_KIND = range(len(KINDS))
NUMBER = rf"{DIGIT}+(?:[.,:]{DIGIT}+)*"
LETTER = r"(?s).*\pL.*"


def _previous(values, first):
    """Each element's predecessor, ``first`` for the first."""
    return tf.concat([[first], values], axis=0)[:tf.size(values)]


def _next(values, last):
    """Each element's successor, ``last`` for the last."""
    return tf.concat([values, [last]], axis=0)[1:]


def _merge(starts, texts, firsts: tuple, lasts: tuple = ()) -> tuple:
    """Runs of items merged, each run starting where ``starts`` holds: their ``texts`` joined,
    each column of ``firsts`` the run's first value, each of ``lasts`` its last."""
    segment = tf.cumsum(tf.cast(starts, tf.int32)) - 1
    count = tf.reduce_max(tf.concat([segment, [-1]], axis=0)) + 1
    first = tf.math.unsorted_segment_min(tf.range(tf.size(starts)), segment, count)
    last = tf.math.unsorted_segment_max(tf.range(tf.size(starts)), segment, count)
    return (tf.strings.unsorted_segment_join(texts, segment, count),
            *(tf.gather(column, first) for column in firsts), *(tf.gather(column, last) for column in lasts))


def _split(line):
    """The words and spans of ``line`` (pieces, begin and end byte offsets).  A \\x01 is a
    boundary that is not a space."""
    pieces, begins, ends = tf_text.regex_split_with_offsets(line[tf.newaxis], f"{SEARCHED}|[{SPACE}]+|\x01",
                                                            SEARCHED)
    return pieces[0], begins[0], ends[0]


def _mark_fallbacks(line):
    """``line`` with a \\x01 where Python's regex goes on after an alternative's lookahead
    failed: after a printf conversion glued to letters where no digit comes before it ("%s"
    of "%sEinheit"), else after what a later alternative matches there ("%3" of "%3$d"), else
    after the first character ("~" of "~%s"), so the next split goes on from there."""
    pieces, begins, _ = _split(line)
    refused = tf.strings.regex_full_match(pieces, SEARCHED) & ~tf.strings.regex_full_match(pieces, SPAN)
    before = tf.strings.substr(tf.fill(tf.shape(pieces), line), tf.zeros_like(begins), begins)
    glued_printf = (tf.strings.regex_full_match(pieces, f"{PRINTF}[A-Za-z]")
                    & ~tf.strings.regex_full_match(before, f"(?s).*{DIGIT}\x01*"))
    fallback = tf.strings.regex_full_match(pieces, f"(?s)(?:{FALLBACK}).*")
    fallback_lengths = tf.strings.length(tf.strings.regex_replace(pieces, f"(?s)^({FALLBACK}).*$", r"\1"))
    lengths = tf.where(glued_printf, tf.strings.length(pieces) - 1, tf.where(fallback, fallback_lengths, 1))
    cuts = tf.boolean_mask(begins + tf.cast(lengths, begins.dtype), refused)
    starts = tf.concat([[0], cuts], axis=0)
    sizes = tf.concat([cuts, [tf.cast(tf.strings.length(line), cuts.dtype)]], axis=0) - starts
    return tf.strings.reduce_join(tf.strings.substr(line, starts, sizes), separator="\x01")


def _items(line):
    """(texts, kinds, space before) of the words and spans of ``line``, as ``nmt.protect._items``
    finds them (codes not yet joined)."""
    for _ in range(2):  # a match found after a refused one can be refused in turn
        line = _mark_fallbacks(line)
    pieces, begins, ends = _split(line)
    previous_end = _previous(ends, tf.constant(0, ends.dtype))
    between = tf.strings.substr(tf.fill(tf.shape(pieces), line), previous_end, begins - previous_end)
    space_before = (begins == 0) | ~tf.strings.regex_full_match(between, "\x01*")
    at_end = ends == tf.cast(tf.strings.length(line), ends.dtype)
    is_span = tf.strings.regex_full_match(pieces, SPAN)
    kinds = tf.where(~is_span, WORD_KIND,
                     tf.where(tf.strings.regex_full_match(pieces, URL), URL_KIND,
                              tf.where(tf.strings.regex_full_match(pieces, TAG), TAG_KIND,
                                       tf.where(tf.strings.regex_full_match(pieces, ENTITY), ENTITY_KIND,
                                                PLACEHOLDER_KIND))))
    # the fragments of one word (around a match its lookahead refused) are that word
    starts = is_span | space_before | _previous(is_span, True)
    texts, kinds, space_before, at_end = _merge(starts, pieces, (kinds, space_before), (at_end,))
    return _numbers(texts, kinds, space_before, at_end)


def _numbers(texts, kinds, space_before, at_end):
    """A word that is a number, alone between spaces or followed by one punctuation mark (a
    full stop only at the line's end), becomes a number span and that mark a word."""
    alone = (kinds == WORD_KIND) & space_before & _next(space_before, True)
    whole = alone & tf.strings.regex_full_match(texts, NUMBER)
    marked = alone & (tf.strings.regex_full_match(texts, f"{NUMBER}[,;:!?]")
                      | at_end & tf.strings.regex_full_match(texts, rf"{NUMBER}\."))
    split = tf.where(marked, tf.strings.regex_replace(texts, f"^({NUMBER})(.)$", "\\1\x01\\2"), texts)
    parts = tf.strings.split(split, "\x01")
    row = parts.value_rowids()
    first = tf.range(tf.size(row, tf.int64)) == tf.gather(parts.row_splits, row)
    kinds = tf.where(first, tf.gather(tf.where(whole | marked, NUMBER_KIND, kinds), row), WORD_KIND)
    return parts.flat_values, kinds, first & tf.gather(space_before, row)


def _joined_codes(texts, kinds, space_before):
    """``nmt.protect._joined_codes``: placeholders glued together, or with letterless words
    between them, are one placeholder."""
    placeholder = kinds == PLACEHOLDER_KIND
    letterless = (kinds == WORD_KIND) & ~tf.strings.regex_full_match(texts, LETTER)
    follows = _next(placeholder & ~space_before, False)
    joins = ~space_before & (placeholder | letterless & follows) & (tf.range(tf.size(texts)) > 0)
    previous_placeholder = _previous(placeholder, False)

    def step(previous_joined, current):
        joins_here, after_placeholder = current
        return joins_here & (after_placeholder | previous_joined)

    joined = tf.scan(step, (joins, previous_placeholder), initializer=tf.constant(False))
    return _merge(~joined, texts, (kinds, space_before))


def _access_keys(texts, kinds, space_before):
    """``nmt.protect.ACCESS_KEY`` on each word that follows a space: (marker, text without it)."""
    candidate = (kinds == WORD_KIND) & space_before
    leading = candidate & tf.strings.regex_full_match(texts, r"(?s)[_&~]\pL.*")
    inner = candidate & ~leading & tf.strings.regex_full_match(texts, r"(?s).*\pL~\pL.*")
    markers = tf.where(leading, tf.strings.substr(texts, 0, 1), tf.where(inner, "~", ""))
    texts = tf.where(leading, tf.strings.substr(texts, 1, -1),
                     tf.where(inner, tf.strings.regex_replace(texts, r"(\pL)~(\pL)", r"\1\2", replace_global=False),
                              texts))
    return markers, texts


def protect(line) -> dict:
    """``nmt.protect.protect`` of one line: the protected text, the spans (text, kind, word,
    before, end, closer; -1 for no end or closer) and the glued neighbours as two key lists
    (a word's key is 2 * its index, a span's 2 * its index + 1)."""
    texts, kinds, space_before = _joined_codes(*_items(line))
    markers, texts = _access_keys(texts, kinds, space_before)
    count = tf.size(texts)
    index = tf.range(count)
    is_word = kinds == WORD_KIND
    words_before = tf.cumsum(tf.cast(is_word, tf.int32), exclusive=True)
    word_count = tf.reduce_sum(tf.cast(is_word, tf.int32))
    space_after = _next(space_before, True)
    opening = (kinds == TAG_KIND) & _opening_names(texts)[1]
    glued_left = ~space_before & (index > 0)
    before = is_word | opening | ~(glued_left | space_after) | (words_before == 0)
    word = tf.where(before, words_before, words_before - 1)
    past_end = before & (word == word_count) & (word_count > 0)  # a span after the last word goes after it
    word, before = tf.where(past_end, word_count - 1, word), before & ~past_end
    is_span = ~is_word | (markers != "")
    span_index = tf.cumsum(tf.cast(is_span, tf.int32), exclusive=True)
    keys = tf.where(is_word, 2 * words_before, 2 * span_index + 1)
    spans = tf.where(is_span)[:, 0]
    span_texts = tf.gather(tf.where(is_word, markers, texts), spans)
    span_kinds = tf.gather(tf.where(is_word, ACCESS_KIND, kinds), spans)
    span_words, span_before = tf.gather(word, spans), tf.gather(before, spans)
    ends, closers = _pair_tags(span_texts, span_kinds, span_words, span_before)
    glued = tf.where(glued_left)[:, 0]
    return {"text": tf.strings.reduce_join(tf.boolean_mask(texts, is_word), separator=" "),
            "span_texts": span_texts, "span_kinds": span_kinds, "span_words": span_words,
            "span_before": span_before, "span_ends": ends, "span_closers": closers,
            "glued_left": tf.gather(keys, glued - 1), "glued_right": tf.gather(keys, glued)}


def _opening_names(texts):
    """The lower-cased element name of each opening tag, and which texts are opening tags."""
    opening = tf.strings.regex_full_match(texts, r"(?s)<[A-Za-z].*") & ~tf.strings.regex_full_match(texts, r"(?s).*/>")
    return _lower_name(texts, "<"), opening


def _lower_name(texts, start: str):
    return tf.strings.lower(tf.strings.regex_replace(texts, rf"(?s)^{start}([A-Za-z][{WORD}:.-]*).*$", r"\1"),
                            encoding="utf-8")


def _pair_tags(texts, kinds, words, before):
    """``nmt.protect._pair_tags``: each closing tag closes the latest open element of its name;
    the opening tag learns the last word enclosed and the closing tag's index."""
    count = tf.size(texts)
    names, opening = _opening_names(texts)
    opening &= kinds == TAG_KIND
    closing = (kinds == TAG_KIND) & tf.strings.regex_full_match(texts, r"(?s)</[A-Za-z].*")
    closing_names = _lower_name(texts, "</")
    index = tf.range(count)

    def body(position, open_, ends, closers):
        candidates = open_ & (names == closing_names[position]) & (index < position) & closing[position]
        found = tf.reduce_any(candidates)
        opener = tf.reduce_max(tf.where(candidates, index, -1))
        last = tf.where(before[position], words[position] - 1, words[position])
        encloses = found & before[tf.maximum(opener, 0)] & (last >= words[tf.maximum(opener, 0)])
        at = tf.one_hot(tf.maximum(opener, 0), count, on_value=True, off_value=False) & found
        return (position + 1, open_ & ~at, tf.where(at & encloses, last, ends),
                tf.where(at & encloses, position, closers))

    none = tf.fill([count], -1)
    _, _, ends, closers = tf.while_loop(lambda position, *_: position < count, body,
                                        (tf.constant(0), opening, none, none))
    return ends, closers


def _words(text):
    """Python's ``str.split()``."""
    return tf_text.regex_split(text[tf.newaxis], f"[{SPACE}]+")[0]


def _targets(sources, source_count):
    """``nmt.protect._targets`` as a [source word, target word] matrix: the target words of each
    source word; a word with none borrows those of its nearest aligned neighbour (the earlier on a tie)."""
    source = tf.range(source_count)
    links = sources[tf.newaxis, :] == source[:, tf.newaxis]
    aligned = tf.reduce_any(links, axis=1)
    distance = tf.abs(source[:, tf.newaxis] - source[tf.newaxis, :])
    cost = 2 * distance + tf.cast(source[tf.newaxis, :] > source[:, tf.newaxis], tf.int32)
    costs = tf.pad(tf.where(aligned[tf.newaxis, :], cost, tf.int32.max), [[0, 0], [0, 1]],
                   constant_values=tf.int32.max)  # the extra column, an empty row, when none is aligned
    nearest = tf.argmin(costs, axis=1, output_type=tf.int32)
    padded = tf.pad(links, [[0, 1], [0, 0]], constant_values=False)
    return tf.where(aligned[:, tf.newaxis], links, tf.gather(padded, nearest))


def _gaps(protected: dict, targets, word_count):
    """The target gap each span goes to (before the target word of that index), as
    ``nmt.protect.restore`` places them before tags are kept in source order."""
    words, ends = protected["span_words"], protected["span_ends"]
    source = tf.range(tf.shape(targets)[0])
    last = tf.where(ends >= 0, ends, words)
    covers = (source[tf.newaxis, :] >= words[:, tf.newaxis]) & (source[tf.newaxis, :] <= last[:, tf.newaxis])
    enclosed = tf.linalg.matmul(tf.cast(covers, tf.float32), tf.cast(targets, tf.float32)) > 0
    target = tf.range(tf.shape(targets)[1])
    linked = tf.reduce_any(enclosed, axis=1)
    first = tf.where(linked, tf.reduce_min(tf.where(enclosed, target, tf.int32.max), axis=1), -1)
    after_last = tf.where(linked, tf.reduce_max(tf.where(enclosed, target, -1), axis=1) + 1, word_count)
    gaps = tf.where(ends >= 0, tf.where(linked, first, word_count),
                    tf.where(protected["span_before"], tf.maximum(first, 0), after_last))
    closers = protected["span_closers"]
    element = tf.where(closers >= 0)
    closing = tf.scatter_nd(tf.gather(closers, element), tf.gather_nd(after_last, element) + 1, tf.shape(gaps))
    return tf.where(closing > 0, closing - 1, gaps)


def _mark_access_keys(words, protected: dict, gaps):
    """``nmt.protect._mark_access_key`` for each access key in turn: its marker goes before the
    first letter of the target word at its gap, else of the nearest word after, else before it."""
    count = tf.size(words)
    index = tf.range(count)
    keys = tf.where(protected["span_kinds"] == ACCESS_KIND)[:, 0]

    def body(position, words):
        span = keys[position]
        gap = tf.gather(gaps, span)
        order = tf.where(index >= gap, index - gap, count + tf.minimum(gap, count) - 1 - index)
        candidates = tf.strings.regex_full_match(words, LETTER)
        ranks = tf.concat([tf.where(candidates, order, tf.int32.max - 1), [tf.int32.max - 1]], axis=0)
        chosen = tf.where(tf.reduce_any(candidates), tf.argmin(ranks, output_type=tf.int32), count)
        marker = tf.strings.join([r"\1", protected["span_texts"][span]])
        marked = tf.strings.regex_replace(words, r"(?s)^(\PL*)", marker, replace_global=False)
        return position + 1, tf.where(index == chosen, marked, words)

    return tf.while_loop(lambda position, _: position < tf.size(keys), body, (tf.constant(0), words))[1]


def restore(protected: dict, translation, sources):
    """``nmt.protect.restore``: ``translation`` (of ``protected["text"]``) with every span put
    back; ``sources[j]`` is the source word target word ``j`` is aligned to."""
    words, source_words = _words(translation), _words(protected["text"])
    gaps = _gaps(protected, _targets(sources, tf.size(source_words)), tf.size(words))
    words = _mark_access_keys(words, protected, gaps)
    tag = protected["span_kinds"] == TAG_KIND  # tags never move before an earlier tag of the source
    gaps = tf.where(tag, tf.scan(tf.maximum, tf.where(tag, gaps, -1), initializer=tf.constant(-1)), gaps)
    word_sources = tf.concat([sources, tf.fill([tf.size(words)], -1)], axis=0)[:tf.size(words)]  # -1: none
    known = (word_sources >= 0) & (word_sources < tf.size(source_words))
    source_of_word = tf.gather(tf.concat([source_words, [""]], axis=0),
                               tf.where(known, word_sources, tf.size(source_words)))
    # a span keeps its glue to a target word unless that word stands for source punctuation it does not repeat
    copied = ~known | tf.strings.regex_full_match(source_of_word, rf"(?s).*[{WORD}].*") | (words == source_of_word)
    spans = tf.cast(tf.where(protected["span_kinds"] != ACCESS_KIND)[:, 0], tf.int32)
    span_count = tf.size(protected["span_kinds"])
    # a span goes before the target word at its gap, after the spans of that gap placed before it
    order = tf.concat([(2 * tf.range(tf.size(words)) + 1) * (span_count + 1),
                       2 * tf.gather(gaps, spans) * (span_count + 1) + spans], axis=0)
    ranked = tf.argsort(order, stable=True)
    texts = tf.gather(tf.concat([words, tf.gather(protected["span_texts"], spans)], axis=0), ranked)
    word_keys = tf.where(word_sources >= 0, 2 * word_sources, -2)
    keys = tf.gather(tf.concat([word_keys, 2 * spans + 1], axis=0), ranked)
    keeps = tf.gather(tf.concat([copied, tf.ones_like(spans, tf.bool)], axis=0), ranked)
    glued_pairs = _pair_codes(protected["glued_left"], protected["glued_right"])
    glued = (tf.reduce_any(_pair_codes(keys[:-1], keys[1:])[:, tf.newaxis] == glued_pairs[tf.newaxis, :], axis=1)
             & keeps[:-1] & keeps[1:])
    separators = tf.concat([[""], tf.where(glued, "", " ")], axis=0)[:tf.size(texts)]
    joined = tf.strings.reduce_join(tf.strings.join([separators, texts]))
    return tf.where(span_count > 0, joined, translation)


def _pair_codes(left, right):
    """One integer per (left key, right key) pair; keys are at least -2."""
    return (tf.cast(left, tf.int64) + 2) * (1 << 32) + tf.cast(right, tf.int64) + 2


def _word_index(pieces):
    """``nmt.alignment.word_index``: the word of each piece, -1 for a word with no characters."""
    starts = tf.strings.regex_full_match(pieces, "\u2581.*") | (tf.range(tf.size(pieces)) == 0)
    group = tf.cumsum(tf.cast(starts, tf.int32)) - 1
    groups = tf.reduce_max(tf.concat([group, [-1]], axis=0)) + 1
    texts = tf.strings.unsorted_segment_join(tf.strings.regex_replace(pieces, "\u2581", ""), group, groups)
    nonempty = tf.strings.length(texts) > 0
    number = tf.where(nonempty, tf.cumsum(tf.cast(nonempty, tf.int32)) - 1, -1)
    return tf.gather(number, group)


def word_alignment(source_pieces, target_pieces, attention):
    """``nmt.alignment.hard_alignment``: the source word each target word is aligned to, from
    attention [target pieces, source pieces] summed over the pieces of both words."""
    source_words, target_words = _word_index(source_pieces), _word_index(target_pieces)
    source_count = tf.reduce_max(tf.concat([source_words, [-1]], axis=0)) + 1
    target_count = tf.reduce_max(tf.concat([target_words, [-1]], axis=0)) + 1
    attention = attention[:tf.size(target_pieces), :tf.size(source_pieces)]
    by_source = tf.math.unsorted_segment_sum(tf.transpose(attention), source_words, source_count)
    weights = tf.math.unsorted_segment_sum(tf.transpose(by_source), target_words, target_count)
    return tf.cond(source_count > 0, lambda: tf.argmax(weights, axis=1, output_type=tf.int32),
                   lambda: tf.zeros([0], tf.int32))


def as_protected(found: dict) -> Protected:
    """``protect``'s result (as NumPy values) as the ``nmt.protect.Protected`` it stands for."""
    spans = [Span(text.decode("utf-8"), KINDS[kind], int(word), bool(before),
                  int(end) if end >= 0 else None, int(closer) if closer >= 0 else None)
             for text, kind, word, before, end, closer in zip(*(found[name] for name in (
                 "span_texts", "span_kinds", "span_words", "span_before", "span_ends", "span_closers")))]
    keys = {0: "word", 1: "span"}
    glued = {((keys[left % 2], left // 2), (keys[right % 2], right // 2))
             for left, right in zip(found["glued_left"].tolist(), found["glued_right"].tolist())}
    return Protected(found["text"].decode("utf-8"), spans, glued)
