"""gettext catalogs (``.po``): the empty translations filled by the model, the rest kept as it was.

polib reads the catalog; the output is the input text with only the filled entries' ``msgstr``
lines replaced and a ``fuzzy`` flag added, so the header, comments, translated, fuzzy and
obsolete entries stay byte for byte.  A translation that changes a placeholder (``%s``,
``%1$d``, ``%(name)s``, ``{name}``, ``$HOME``) is not written: the entry stays empty, since a
broken format string crashes the program that shows it (``msgfmt --check-format`` refuses it).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polib

from nmt.errors import NmtError

PLACEHOLDER = re.compile(
    r"%%"                                                          # a literal percent sign
    r"|%(?:\d+\$|\([A-Za-z_]\w*\))?[-+ #0']*(?:\*|\d+)?(?:\.(?:\*|\d+))?"
    r"(?:hh|h|ll|l|L|q|j|z|t|I64|I32)?[diouxXeEfFgGaAcspnm]"    # printf and Python's %-format
    r"|\{[A-Za-z_0-9]*(?:![rsa])?(?::[^{}]*)?\}"                   # str.format, ICU-style names
    r"|\$\{?[A-Za-z_]\w*\}?")                                      # shell variables


def placeholders(text: str) -> Counter:
    """How often each placeholder occurs in ``text``."""
    return Counter(PLACEHOLDER.findall(text))


@dataclass
class CatalogCounts:
    filled: int = 0  # entries translated, marked fuzzy
    placeholders_changed: int = 0  # left empty: the translation changed a placeholder
    kept: int = 0  # translated, fuzzy or obsolete entries, as they were (the header is always kept)


def read_catalog(path: Path) -> tuple[polib.POFile, list[str]]:
    """The parsed catalog and its lines (line ends kept)."""
    try:
        text = path.read_text(encoding="utf-8")
        catalog = polib.pofile(text)
    except UnicodeDecodeError as error:
        raise NmtError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:  # polib reports a syntax error as an OSError naming the line
        raise NmtError(f"{path}: not a valid PO file ({error})") from None
    return catalog, text.splitlines(keepends=True)


def needs_translation(entry: polib.POEntry) -> bool:
    if entry.obsolete or entry.msgid == "" or "fuzzy" in entry.flags:
        return False
    if entry.msgid_plural:
        return not any(entry.msgstr_plural.values())
    return entry.msgstr == ""


def fill_catalog(catalog: polib.POFile, lines: list[str],
                 translate: Callable[[list[str]], list[str]]) -> tuple[str, CatalogCounts]:
    """The catalog (as ``read_catalog`` returns it) with every untranslated entry filled by
    ``translate`` (lines in, translations out) and marked fuzzy; returns the new text and what
    was done."""
    plurals = _plural_count(catalog)
    todo = [entry for entry in catalog if needs_translation(entry)]
    sources = sorted({text for entry in todo for text in (entry.msgid, entry.msgid_plural) if text})
    translated = dict(zip(sources, _translate_messages(sources, translate), strict=True))
    counts = CatalogCounts(kept=len(catalog) - len(todo))  # polib lists obsolete entries, not the header
    starts = sorted(entry.linenum - 1 for entry in catalog)  # where each entry's lines begin
    ends = dict(zip(starts, [*starts[1:], len(lines)], strict=True))
    replaced: dict[int, tuple[int, list[str]]] = {}
    for entry in todo:
        originals = [entry.msgid] + ([entry.msgid_plural] * (plurals - 1) if entry.msgid_plural else [])
        forms = [translated[original] for original in originals]
        if any(placeholders(form) != placeholders(original) for form, original in zip(forms, originals, strict=True)):
            counts.placeholders_changed += 1
            continue
        start = entry.linenum - 1
        replaced[start] = (ends[start], _filled_block(lines[start:ends[start]], forms, bool(entry.msgid_plural)))
        counts.filled += 1
    output, position = [], 0
    for start in sorted(replaced):
        end, block = replaced[start]
        output += lines[position:start] + block
        position = end
    return "".join(output + lines[position:]), counts


def _translate_messages(messages: list[str], translate: Callable[[list[str]], list[str]]) -> list[str]:
    """Each message translated line by line (a message may hold several), its line breaks kept."""
    parts = [message.split("\n") for message in messages]
    flat = iter(translate([part.strip() for message in parts for part in message]))
    return ["\n".join(_same_spaces(part, next(flat)) for part in message) for message in parts]


def _same_spaces(source: str, translation: str) -> str:
    """The translation with the source's leading and trailing white space (``"Name: "``)."""
    if not source.strip():
        return source
    stripped = source.strip()
    start = source.index(stripped)
    return source[:start] + translation + source[start + len(stripped):]


def _plural_count(catalog: polib.POFile) -> int:
    found = re.search(r"nplurals\s*=\s*(\d+)", catalog.metadata.get("Plural-Forms", ""))
    return int(found.group(1)) if found else 2


def _filled_block(block: list[str], forms: list[str], plural: bool) -> list[str]:
    """An entry's lines with its msgstr lines replaced by ``forms`` and the fuzzy flag added."""
    first = next(i for i, line in enumerate(block) if line.startswith("msgstr"))
    last = first + 1
    while last < len(block) and block[last].startswith(("msgstr", '"')):
        last += 1
    newline = "\r\n" if block[first].endswith("\r\n") else "\n"
    if plural:
        strings = [_po_string(f"msgstr[{index}]", form, newline) for index, form in enumerate(forms)]
    else:
        strings = [_po_string("msgstr", forms[0], newline)]
    return _with_fuzzy_flag(block[:first], newline) + [line for lines in strings for line in lines] + block[last:]


def _with_fuzzy_flag(head: list[str], newline: str) -> list[str]:
    """The comment lines before an entry's msgstr, with ``fuzzy`` among its flags."""
    for index, line in enumerate(head):
        if line.startswith("#,"):
            return [*head[:index], f"{line.rstrip()}, fuzzy{newline}", *head[index + 1:]]
    at = next(i for i, line in enumerate(head) if line.startswith(("#|", "msgctxt", "msgid")))
    return [*head[:at], f"#, fuzzy{newline}", *head[at:]]


def _po_string(keyword: str, text: str, newline: str) -> list[str]:
    """``keyword "text"``, split after each inner line break as gettext writes it."""
    if "\n" not in text[:-1]:
        return [f'{keyword} "{polib.escape(text)}"{newline}']
    parts = re.findall(r"[^\n]*\n|[^\n]+$", text)
    return [f'{keyword} ""{newline}', *(f'"{polib.escape(part)}"{newline}' for part in parts)]
