"""The measurements behind docs/usage.md's protection and glossary tables count what they say."""

from __future__ import annotations

import sys

from helpers import REPO, load_script

sys.path.insert(0, str(REPO / "benchmarks"))  # glossary_eval imports protect_eval's timing
protect_eval = load_script("benchmarks/protect_eval.py")
glossary_eval = load_script("benchmarks/glossary_eval.py")


def test_a_line_keeps_its_spans_only_if_every_one_comes_back_as_often():
    sources = ["Datei %s <b>öffnen</b>", "_Speichern %d", "Seite 3 &amp; mehr"]
    outputs = ["File %s <b>open</b>", "Save %d %d", "Page &amp; more"]
    counted = protect_eval.kept(sources, outputs)
    assert counted["lines_with_every_span"] == 1  # the access key and the number were lost
    assert counted["kept_by_kind"] == {"placeholder": {"kept": 2, "spans": 2}, "tag": {"kept": 2, "spans": 2},
                                       "entity": {"kept": 1, "spans": 1}, "number": {"kept": 0, "spans": 1},
                                       "access": {"kept": 0, "spans": 1}}
    assert (counted["well_formed"], counted["well_formed_sources"]) == (3, 3)
    assert not protect_eval.well_formed("<b><i>x</b></i>") and protect_eval.well_formed("<b>x<br/></b>")
    assert not protect_eval.well_formed("<b>x") and not protect_eval.well_formed("x</b>")


def test_the_glossary_is_what_the_references_use_and_only_sentences_it_is_right_for_count():
    entries = {"haus": {"house", "home"}, "katze": {"cat"}}
    sources = ["Das Haus ist groß.", "Ein Haus und eine Katze.", "Die Katze schläft.", "Nichts hier."]
    references = ["The house is big.", "A home and a dog.", "The cat sleeps.", "Nothing here."]
    glossary, kept = glossary_eval.glossary_and_sentences(entries, sources, references, 10)
    assert glossary == {"haus": "home", "katze": "cat"}  # "home" and "house" once each: the first a-z
    assert kept == [2]  # sentence 0's reference says "house", sentence 1's has no "cat"
    assert glossary_eval.term_rate(["Das Haus ist groß."], ["The House is big."], {"haus": "house"}) == (1, 1)
    assert glossary_eval.term_rate(["Das Haus ist groß."], ["The houses are big."], {"haus": "house"}) == (0, 1)


def test_timing_rounds_take_turns_and_keep_each_systems_output():
    calls = []
    systems = {"a": lambda: calls.append("a") or ["x"], "b": lambda: calls.append("b") or ["y"]}
    found = protect_eval.alternated(systems, 1, 3)
    assert calls == ["a", "b", "a", "b", "a", "b"]
    assert [found[name][0] for name in ("a", "b")] == [["x"], ["y"]] and all(found[n][1] > 0 for n in found)


catalog_eval = load_script("benchmarks/catalog_eval.py")


def test_the_catalog_check_accepts_filled_translations_and_flags_only():
    before = ['#: main.c:1\n', 'msgid ""\n', '"Open a file"\n', 'msgstr ""\n', '\n',
              '#, c-format\n', 'msgid "%s files"\n', 'msgstr ""\n']
    after = ['#: main.c:1\n', '#, fuzzy\n', 'msgid ""\n', '"Open a file"\n', 'msgstr ""\n', '"Eine Datei öffnen"\n',
             '\n', '#, c-format, fuzzy\n', 'msgid "%s files"\n', 'msgstr "%s Dateien"\n']
    assert catalog_eval.changes_outside_translations(before, after) == []
    moved = [*after[:3], '"Open the file"\n', *after[4:]]  # a msgid continuation line changed
    assert catalog_eval.changes_outside_translations(before, moved) == ['-3: "Open a file"', '+4: "Open the file"']
    commented = [*after[:6], '# translated by a machine\n', *after[6:]]
    assert catalog_eval.changes_outside_translations(before, commented) == ["+7: # translated by a machine"]


def test_the_catalog_is_emptied_and_only_entries_the_run_filled_are_scored():
    import polib

    text = ('msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
            'msgid "Open"\nmsgstr "Öffnen"\n\nmsgid "%d file"\nmsgid_plural "%d files"\n'
            'msgstr[0] "%d Datei"\nmsgstr[1] "%d Dateien"\n\nmsgid "Close"\nmsgstr "Schließen"\n')
    empty, references = catalog_eval.emptied(polib.pofile(text))
    assert references == {"Open": "Öffnen", "%d file": "%d Datei", "Close": "Schließen"}
    assert not any(entry.translated() for entry in empty)
    filled = polib.pofile(str(empty).replace('msgid "Open"\nmsgstr ""', '#, fuzzy\nmsgid "Open"\nmsgstr "Auf"')
                          .replace('msgid "Close"\nmsgstr ""', 'msgid "Close"\nmsgstr "Zu"'))
    assert catalog_eval.filled_entries(empty, filled) == {"Open": ("Auf", True), "Close": ("Zu", False)}


constrained = load_script("benchmarks/constrained_search.py")


def test_a_constraint_is_met_token_by_token_and_dropped_when_left():
    constraints = [[7, 8], [9]]
    state = constrained.State((), 0.0, frozenset(), None)
    inside = constrained.advanced(state, 7, -1.0, constraints)
    assert (inside.inside, inside.progress(constraints)) == ((0, 1), 1)
    done = constrained.advanced(inside, 8, -1.0, constraints)
    assert (done.met, done.inside, done.progress(constraints), done.score) == ({0}, None, 2, -2.0)
    assert done.closing and not inside.closing  # the token after a constraint must start a word
    left = constrained.advanced(inside, 9, -0.5, constraints)  # a second constraint started instead
    assert (left.met, left.inside, left.progress(constraints)) == ({1}, None, 1)
    assert constrained.advanced(done, 7, 0.0, constraints).inside is None  # a met constraint is not counted again


def test_the_beam_is_shared_among_banks_of_equal_progress_most_progress_first():
    constraints = [[7, 8]]
    plain = [constrained.State((i,), -i / 10, frozenset(), None) for i in range(20, 25)]
    started = constrained.State((7,), -5.0, frozenset(), (0, 1))
    finished = constrained.State((7, 8), -9.0, frozenset({0}), None)
    chosen = constrained.allocated([*plain, started, finished], 4, constraints)
    assert chosen == [finished, started, plain[0], plain[1]]  # low scores kept: each bank gets a turn


def test_constrained_search_puts_a_required_word_the_copier_would_never_write(trained_run, copy_lines):
    from nmt.run import open_run
    from nmt.weights import load_model

    run = open_run(trained_run)
    model = load_model(run)
    lines = copy_lines[:4]
    foreign = [line.split()[0] for line in reversed(lines)]  # each line's required word comes from another line
    outputs = constrained.constrained_lines(run, model, lines, [[word] for word in foreign], beam=4)
    for line, word, output in zip(lines, foreign, outputs):
        assert word in output.split() and word not in line.split(), (line, word, output)
    assert constrained.constrained_lines(run, model, lines, [[] for _ in lines], beam=4) == lines
