"""Protected spans: taken out before translation, put back by the word alignment."""

from __future__ import annotations

import random

import pytest
from helpers import run_cli, with_spans

from nmt.protect import SPAN, protect, restore, well_formed


def diagonal(text: str) -> list[tuple[int, int]]:
    return [(index, index) for index in range(len(text.split()))]


@pytest.mark.parametrize("line, words", [
    ("Datei %s öffnen", "Datei öffnen"),
    ("%1$d von %2$d Dateien", "von Dateien"),
    ("Hallo {name}, du hast ${COUNT} neue Nachrichten", "Hallo , du hast neue Nachrichten"),
    ("Klicken Sie auf <emph>Datei - Öffnen</emph>.", "Klicken Sie auf Datei - Öffnen ."),
    ('<ahelp hid=".uno:Open">Öffnet eine Datei.</ahelp>', "Öffnet eine Datei."),
    ("Siehe https://www.debian.org/doc/ für Details.", "Siehe für Details."),
    ("Tom &amp; Jerry&#39;s", "Tom Jerry s"),
    ("_Datei &Bearbeiten ~Ansicht Sei~ten", "Datei Bearbeiten Ansicht Seiten"),
    ("gtk_widget AT&T", "gtk_widget AT&T"),
    ("Seite 3 von 1.250", "Seite von"),
    ("Benötigt %PRODUCTNAME ab Version %VERSION, in %APPDATA%", "Benötigt ab Version , in"),
    ("Eine 50%ige Chance, %Hallo", "Eine 50%ige Chance, %Hallo"),
    ("Größe %dx%d, %sEinheit", "Größe x , Einheit"),  # printf glued to letters, no digit before
    ("im 21. Jahrhundert, Seite 3.", "im 21. Jahrhundert, Seite ."),
    ("<b>%1</b> fehlt in %L2, {node.label} und {0}", "fehlt in , und"),
    ("50% aller Dateien in UTF-8 (siehe strftime(3))", "50% aller Dateien in UTF-8 (siehe strftime(3))"),
    ("$1 setzt ~a auf %Z", "setzt auf"),
    ("Datei « $filename$ » von $unit.name| in $A$1", "Datei « » von in"),  # delimited variables: one span
    ("%C18$1%C: %C24$2%O Sekunde(n)", ": Sekunde(n)"),  # glued codes: one span each
    ("Ganz normaler Satz ohne etwas.", "Ganz normaler Satz ohne etwas."),
])
def test_the_model_sees_the_words_without_the_protected_spans(line, words):
    assert protect(line).text == words


def test_a_line_without_spans_is_translated_as_it_is():
    protected = protect("Ein ganz normaler Satz.")
    assert protected.spans == [] and restore(protected, "A quite normal sentence.", []) == "A quite normal sentence."


@pytest.mark.parametrize("line, translation, alignment, expected", [
    # a placeholder follows the word it followed, wherever the translation puts that word
    ("Datei %s öffnen", "Open file", [(1, 0), (0, 1)], "Open file %s"),
    ("%d Dateien gelöscht", "Deleted files", [(1, 0), (0, 1)], "Deleted %d files"),
    # tags enclose what their words became, glued as in the source
    ("Klicken Sie auf <b>Datei</b>.", "Click on File .", [(0, 0), (2, 1), (3, 2), (4, 3)], "Click on <b>File</b>."),
    ('<ahelp hid=".">Öffnet eine Datei.</ahelp>', "Opens a file.", [(0, 0), (1, 1), (2, 2)],
     '<ahelp hid=".">Opens a file.</ahelp>'),
    ("(<b>Datei</b>)", "( File )", [(0, 0), (1, 1), (2, 2)], "(<b>File</b>)"),
    # an access key marks the translation of its word
    ("_Datei speichern", "Save file", [(1, 0), (0, 1)], "Save _file"),
    ("Seite 3 von 10", "Page of", [(0, 0), (1, 1)], "Page 3 of 10"),
    ("Siehe https://debian.org für Details", "See for details", [(0, 0), (1, 1), (2, 2)],
     "See https://debian.org for details"),
    ("Datei%s", "File", [(0, 0)], "File%s"),
    ("_Eigentümer werden …", "...", [(0, 0), (1, 0), (2, 0)], "..."),  # no letter to mark
    ("_Eigentümer …", "( Owner ...", [(0, 0), (1, 2)], "( _Owner ..."),
    # glued to punctuation the translation does not repeat: not glued to what stands for it
    ("zu %1, %2, %3.", "to change it", [(0, 0), (3, 1), (1, 2)], "to %3 change %1 %2 it"),
])
def test_spans_go_back_next_to_the_aligned_words(line, translation, alignment, expected):
    assert restore(protect(line), translation, alignment) == expected


LINES = [
    "Klicken Sie auf <b>Datei</b> und dann auf <emph>Öffnen %s</emph>.",
    '<ahelp hid=".uno:Save">Speichert das <item type="menuitem">aktuelle Dokument</item> unter %1$s.</ahelp>',
    "<b>a <i>b c</i> d</b> %d e {name} _f ~g https://x.org/h &amp; 12",
    "%s",
    "<br/> Zeile <br/> zwei",
]


@pytest.mark.parametrize("line", LINES)
@pytest.mark.parametrize("seed", range(20))
def test_every_span_comes_back_once_and_tags_stay_balanced_whatever_the_alignment(line, seed):
    rng = random.Random(seed)
    protected = protect(line)
    source_words = protected.text.split()
    target_words = [f"w{index}" for index in range(rng.randint(0, len(source_words) + 3))]
    alignment = [(rng.randrange(len(source_words)), target)
                 for target in range(len(target_words))] if source_words else []
    output = restore(protected, " ".join(target_words), alignment)
    spans = sorted(match.group(0) for match in SPAN.finditer(output))
    assert spans == sorted(match.group(0) for match in SPAN.finditer(line))
    assert well_formed(output), output
    markers = 1 if "_f" in line and target_words else 0  # one for _f, one for ~g: on a target word
    assert (output.count("_"), output.count("~")) == (markers, markers), output


@pytest.mark.slow
def test_spans_survive_nmt_translate_and_a_line_without_them_is_translated_as_before(trained_run, copy_lines):
    lines = [*with_spans(copy_lines), copy_lines[3]]
    result = run_cli("translate", "--run", str(trained_run), stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == lines
    unprotected = run_cli("translate", "--run", str(trained_run), "decode.protect=false", stdin=lines[0] + "\n")
    assert unprotected.returncode == 0 and "%s" not in unprotected.stdout.split()  # the model alone breaks it


@pytest.mark.parametrize("protected", [True, False])
def test_the_model_learns_from_lines_that_lose_their_spans_as_translated_lines_do(tmp_path, protected):
    from helpers import save_config, tiny_config, write_corpus

    from nmt.config import load_config
    from nmt.train import training_pairs

    pairs = [("Datei %s öffnen", "Open file %s"), ("<b>Seite</b> 3 von 5", "<b>Page</b> 3 of 5"),
             ("_Speichern unter", "Save _As"), ("Ein Haus.", "A house.")]
    config = tiny_config(tmp_path, decode={"protect": protected})
    config["data"]["train"] = write_corpus(tmp_path / "spans", "train", pairs)
    learned = list(training_pairs(load_config(save_config(tmp_path, config))))
    expected = [("Datei öffnen", "Open file"), ("Seite von", "Page of"), ("Speichern unter", "Save As"),
                ("Ein Haus.", "A house.")]
    assert learned == (expected if protected else pairs)
