"""Paragraph pairs from the LibreOffice help (Debian ``libreoffice-help-<lang>``).

Every help page exists once per language under ``usr/share/libreoffice/help/<lang>/``
with the same relative path, and its headings and paragraphs carry the same
``id`` attribute in every language, so text aligns by (file, id).  Each help file
is one document for the held-out split.
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

from data_prep.split import Pair

HELP_DIR = "usr/share/libreoffice/help"
LICENSE = "MPL-2.0 (The Document Foundation, LibreOffice help)"
_TEXT_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "td", "li"}


def package(lang: str) -> str:
    return "libreoffice-help-en-us" if lang == "en" else f"libreoffice-help-{lang}"


def help_language_dir(root: Path, lang: str) -> Path:
    return root / HELP_DIR / ("en-US" if lang == "en" else lang)


class _Paragraphs(HTMLParser):
    """Collects the text of every element whose ``id`` names a help paragraph."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts: dict[str, str] = {}
        self._open: list[tuple[str, str | None, list[str]]] = []  # (tag, id, text parts)

    def handle_starttag(self, tag, attrs):
        if tag in _TEXT_TAGS:
            ident = dict(attrs).get("id")
            self._open.append((tag, ident if ident and ("par_" in ident or "hd_" in ident) else None, []))

    def handle_endtag(self, tag):
        if tag in _TEXT_TAGS and self._open and self._open[-1][0] == tag:
            _, ident, parts = self._open.pop()
            text = " ".join("".join(parts).split())
            if ident and text:
                self.texts.setdefault(ident, text)
            if self._open:  # nested paragraph text also belongs to its container
                self._open[-1][2].append(" " + text + " ")

    def handle_data(self, data):
        if self._open:
            self._open[-1][2].append(data)


def paragraphs(path: Path) -> dict[str, str]:
    parser = _Paragraphs()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    return parser.texts


def read_pairs(src_root: Path, src_lang: str, tgt_root: Path, tgt_lang: str) -> Iterator[Pair]:
    src_dir, tgt_dir = help_language_dir(src_root, src_lang), help_language_dir(tgt_root, tgt_lang)
    for src_file in sorted(src_dir.rglob("*.html")):
        relative = src_file.relative_to(src_dir)
        tgt_file = tgt_dir / relative
        if not tgt_file.exists():
            continue
        src_texts, tgt_texts = paragraphs(src_file), paragraphs(tgt_file)
        for ident, src in src_texts.items():
            if ident in tgt_texts:
                yield Pair(src, tgt_texts[ident], "libreoffice-help", f"help:{relative}")
