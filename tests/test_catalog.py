"""gettext catalogs: empty entries filled and marked fuzzy, everything else byte for byte,
format strings never broken."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import polib
import pytest
from helpers import run_cli, with_spans

from nmt.catalog import fill_catalog, placeholders, read_catalog
from nmt.errors import NmtError

CATALOG = """\
# German translation of foo.
# Copyright (C) 2026 the foo authors
msgid ""
msgstr ""
"Project-Id-Version: foo 1.0\\n"
"Content-Type: text/plain; charset=UTF-8\\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\\n"

#. TRANSLATORS: a menu entry
#: src/main.c:10
#, c-format
msgid "Open %s"
msgstr ""

#: src/main.c:12
msgctxt "menu"
msgid "File"
msgstr ""

#: src/main.c:14
#, c-format
msgid "One file"
msgid_plural "%d files"
msgstr[0] ""
msgstr[1] ""

msgid "Done"
msgstr "Fertig"

#, fuzzy
msgid "Old"
msgstr "Alt"

msgid ""
"First line\\n"
"Name: "
msgstr ""

#~ msgid "Gone"
#~ msgstr ""
"""

# what a "translator" that upper-cases every word but placeholders gives
FILLED = CATALOG.replace('''#, c-format
msgid "Open %s"
msgstr ""''', '''#, c-format, fuzzy
msgid "Open %s"
msgstr "OPEN %s"''').replace('''msgctxt "menu"
msgid "File"
msgstr ""''', '''#, fuzzy
msgctxt "menu"
msgid "File"
msgstr "FILE"''').replace('''#, c-format
msgid "One file"
msgid_plural "%d files"
msgstr[0] ""
msgstr[1] ""''', '''#, c-format, fuzzy
msgid "One file"
msgid_plural "%d files"
msgstr[0] "ONE FILE"
msgstr[1] "%d FILES"''').replace('''msgid ""
"First line\\n"
"Name: "
msgstr ""''', '''#, fuzzy
msgid ""
"First line\\n"
"Name: "
msgstr ""
"FIRST LINE\\n"
"NAME: "''')


def upper_case(lines: list[str]) -> list[str]:
    return [" ".join(word if word.startswith("%") else word.upper() for word in line.split(" ")) for line in lines]


def write(tmp_path: Path, text: str, name: str = "de.po") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_empty_entries_are_filled_and_fuzzy_and_every_other_byte_is_kept(tmp_path):
    seen = []
    text, counts = fill_catalog(*read_catalog(write(tmp_path, CATALOG)),
                                lambda lines: seen.extend(lines) or upper_case(lines))
    assert text == FILLED
    assert (counts.filled, counts.placeholders_changed, counts.kept) == (4, 0, 3)  # Done, Old, Gone
    # each message once, a message of two lines as two lines, without its trailing space
    assert sorted(seen) == ["%d files", "File", "First line", "Name:", "One file", "Open %s"]


def test_a_translation_that_changes_a_placeholder_leaves_its_entry_empty(tmp_path):
    def loses_placeholders(lines):
        return [line.replace("%s", "").replace("%d", "%s") for line in upper_case(lines)]

    text, counts = fill_catalog(*read_catalog(write(tmp_path, CATALOG)), loses_placeholders)
    entries = {entry.msgid: entry for entry in polib.pofile(text)}
    assert entries["Open %s"].msgstr == "" and "fuzzy" not in entries["Open %s"].flags
    assert entries["One file"].msgstr_plural == {0: "", 1: ""}
    assert entries["File"].msgstr == "FILE" and "fuzzy" in entries["File"].flags
    assert (counts.filled, counts.placeholders_changed) == (2, 2)


@pytest.mark.parametrize("text, expected", [
    ("%s and %1$d of %(name)s", ["%s", "%1$d", "%(name)s"]),
    ("{0} of {name} in $HOME or ${XDG_DATA_HOME}", ["{0}", "{name}", "$HOME", "${XDG_DATA_HOME}"]),
    ("100%% done, %.2f%%", ["%%", "%.2f", "%%"]),
    ("nothing here", []),
])
def test_placeholders_of_every_kind_are_found(text, expected):
    assert placeholders(text) == placeholders(" ".join(expected)) and sum(placeholders(text).values()) == len(expected)


def test_the_filled_catalog_passes_msgfmt_check_format(tmp_path):
    if shutil.which("msgfmt") is None:
        pytest.fail("msgfmt is missing: apt-get install gettext")
    text, _ = fill_catalog(*read_catalog(write(tmp_path, CATALOG)), upper_case)
    output = write(tmp_path, text, "filled.po")
    result = subprocess.run(["msgfmt", "--check-format", "-o", "/dev/null", str(output)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr


def test_a_catalog_that_is_not_utf8_is_one_line_naming_the_byte(tmp_path):
    path = tmp_path / "latin1.po"
    path.write_bytes('msgid "Gr\u00fc\u00dfe"\nmsgstr ""\n'.encode("latin-1"))
    with pytest.raises(NmtError) as error:
        read_catalog(path)
    assert str(error.value) == f"{path}: not UTF-8 text (invalid start byte at byte 9)"


def test_a_broken_catalog_is_one_line_naming_the_file_and_line(tmp_path):
    path = write(tmp_path, 'msgid "a"\nmsgstr "b"\nnot a keyword\n')
    with pytest.raises(NmtError) as error:
        read_catalog(path)
    assert str(error.value) == f"{path}: not a valid PO file (Syntax error in po file (line 3))"


@pytest.mark.slow
def test_nmt_translate_po_fills_a_catalog_with_the_models_translations(trained_run, copy_lines, tmp_path):
    lines = [*copy_lines[:2], *with_spans(copy_lines)]  # placeholders, a tag, an access key: protected
    entries = "".join(f'#: src/app.c:{number}\nmsgid "{line}"\nmsgstr ""\n\n'
                      for number, line in enumerate(lines, start=1))
    source = write(tmp_path, 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n' + entries)
    output = tmp_path / "filled.po"
    result = run_cli("translate", "--run", str(trained_run), "--po", str(source), "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (f"{source}: 5 entries translated and marked fuzzy, 0 left "
                                                      "empty (their translation changed a placeholder), 0 kept "
                                                      "as they were")
    filled = polib.pofile(str(output))
    assert [(entry.msgstr, entry.flags) for entry in filled] == [(line, ["fuzzy"]) for line in lines]
    for bad, message in ((tmp_path / "missing.po", "catalog not found"),
                         (write(tmp_path, 'msgid "a"\nmsgstr "b"\nnot a keyword\n', "broken.po"),
                          "not a valid PO file (Syntax error in po file (line 3))")):
        refused = run_cli("translate", "--run", str(trained_run), "--po", str(bad))
        assert refused.returncode == 2 and refused.stderr.strip() == f"error: {bad}: {message}"
    wrong = run_cli("translate", "--run", str(trained_run), "--po", str(source), "--nbest", "2")
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == "error: --po: expected on its own (with --output), not with --input or another " \
                                   "output format"
