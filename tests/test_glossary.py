"""Glossaries: terms found in a sentence take their required form in its translation."""

from __future__ import annotations

import pytest
from helpers import run_cli

from nmt.errors import NmtError
from nmt.glossary import Glossary, Match, Term, apply, read_glossary


def glossary(*pairs: tuple[str, str]) -> Glossary:
    return Glossary([Term(tuple(source.lower().split()), target) for source, target in pairs])


def test_terms_match_whole_words_ignoring_case_and_punctuation_longest_first():
    terms = glossary(("Datei", "document"), ("neue Datei", "new document"), ("Datei öffnen", "open"))
    assert terms.matches(["Die", "NEUE", "Datei,", "dann", "Datei", "öffnen."]) == [
        Match(1, 3, "new document"), Match(4, 6, "open")]
    assert terms.matches(["Dateien", "und", "Dateiname"]) == []


@pytest.mark.parametrize("source, translation, alignment, expected", [
    # the aligned word is replaced, its punctuation kept
    ("Die Datei öffnen", "Open the file.", [(2, 0), (0, 1), (1, 2)], "Open the document."),
    # two aligned words become the term
    ("Die Datei öffnen", "Open the data file", [(2, 0), (0, 1), (1, 2), (1, 3)], "Open the document"),
    # nothing aligned: after the translation of the word before
    ("Die Datei öffnen", "Open the", [(2, 0), (0, 1)], "Open the document"),
    # already there (any case): left as it is
    ("Die Datei öffnen", "Open the Document", [(2, 0), (0, 1), (1, 2)], "Open the Document"),
    # a sentence's first word keeps its capital
    ("Datei öffnen", "File open", [(0, 0), (1, 1)], "Document open"),
])
def test_the_aligned_words_take_the_required_form(source, translation, alignment, expected):
    terms = glossary(("Datei", "document"))
    text, pairs = apply(terms.matches(source.split()), translation, alignment)
    assert text == expected
    assert all(0 <= target < len(text.split()) for _, target in pairs)


def test_a_glossary_file_is_read_and_bad_lines_are_one_line_naming_file_and_line(tmp_path):
    path = tmp_path / "terms.tsv"
    path.write_text("# project terms\nDatei\tdocument\n\nneue Datei\tnew document\n", encoding="utf-8")
    assert read_glossary(path).terms == {("datei",): "document", ("neue", "datei"): "new document"}
    path.write_text("Datei\tdocument\nOrdner folder\n", encoding="utf-8")
    with pytest.raises(NmtError) as error:
        read_glossary(path)
    assert str(error.value) == f"{path}:2: expected 'source term<TAB>target term', got 1 column: 'Ordner folder'"
    path.write_text("Datei\tdocument\nФайл\tfile\n", encoding="utf-8")
    with pytest.raises(NmtError) as error:
        read_glossary(path, {"LATIN"}, {"LATIN"})
    assert str(error.value) == (f"{path}:2: the source term 'Файл' is written in CYRILLIC, a script the run's "
                                "source vocabulary does not hold")
    path.write_bytes(b"Datei\tdocument\nB\xe4r\tbear\n")
    with pytest.raises(NmtError) as error:
        read_glossary(path)
    assert str(error.value) == f"{path}:2: not UTF-8 (byte 0xe4)"


@pytest.mark.slow
def test_nmt_translate_puts_each_term_in_its_required_form(trained_run, copy_lines, tmp_path):
    words = copy_lines[0].split()
    terms = tmp_path / "terms.tsv"
    terms.write_text(f"{words[-1]}\tGlossar\n", encoding="utf-8")  # a word the copier copies, another target
    lines = [copy_lines[0], copy_lines[1]]
    result = run_cli("translate", "--run", str(trained_run), "--glossary", str(terms), stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    expected = [" ".join([*words[:-1], "Glossar"]),
                copy_lines[1] if words[-1].lower() not in copy_lines[1].lower().split() else None]
    assert result.stdout.splitlines()[0] == expected[0]
    if expected[1] is not None:
        assert result.stdout.splitlines()[1] == expected[1]
    terms.write_text("eins\n", encoding="utf-8")
    refused = run_cli("translate", "--run", str(trained_run), "--glossary", str(terms), stdin="x\n")
    assert refused.returncode == 2
    assert refused.stderr.strip() == f"error: {terms}:1: expected 'source term<TAB>target term', got 1 column: 'eins'"
