"""Verse pairs from two SWORD Bible modules, aligned by reference (book, chapter, verse).

English: World English Bible (``sword-text-web``); Spanish: Reina-Valera 1909
(``sword-text-sparv``); both public domain.  Read with ``pysword``.  Each book is
one document for the held-out split.  Footnotes and Strong's-number markup are
removed; verses the two versifications number differently end up misaligned and
are caught by the length-ratio filter.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path

from data_prep.split import Pair
from nmt.errors import NmtError

MODULES = {"en": ("sword-text-web", "engWEB2015eb"), "es": ("sword-text-sparv", "spaRV1909eb")}
LICENSE = "public domain (World English Bible; Reina-Valera 1909)"
_NOTE = re.compile(r"<note\b.*?</note>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def verse_text(raw: str) -> str:
    """Plain verse text: footnotes dropped, tags replaced by nothing, spaces collapsed."""
    return " ".join(_TAG.sub("", _NOTE.sub(" ", raw)).split())


def _bible(root: Path, module: str):
    from pysword.modules import SwordModules

    library = SwordModules(str(root / "usr/share/sword"))
    try:
        found = library.parse_modules()
    except Exception as error:  # pysword raises bare Exceptions for broken module folders
        raise NmtError(f"{root}: cannot read SWORD modules ({error})") from None
    if module not in found:
        raise NmtError(f"{root}: SWORD module {module} not found (found: {', '.join(found) or 'none'})")
    bible = library.get_bible_from_module(module)
    # pysword inflates a whole book for every verse it returns; remembering the
    # last few inflated blocks makes reading a Bible take a second instead of a minute.
    bible._decompressed_text = functools.lru_cache(maxsize=4)(bible._decompressed_text)
    return bible


def read_pairs(roots: dict[str, Path], langs: tuple[str, str]) -> Iterator[Pair]:
    """Verse pairs in recipe language order, e.g. ("en", "es")."""
    first, second = (_bible(roots[lang], MODULES[lang][1]) for lang in langs)
    second_books = {book.osis_name for books in second.get_structure().get_books().values()
                    for book in books}
    for books in first.get_structure().get_books().values():
        for book in books:
            if book.osis_name not in second_books:
                continue  # deuterocanonical books exist in the WEB only
            for chapter, verses in enumerate(book.chapter_lengths, start=1):
                numbers = list(range(1, verses + 1))
                try:
                    first_texts = first.get_iter([book.osis_name], [chapter], numbers, clean=False)
                    second_texts = second.get_iter([book.osis_name], [chapter], numbers, clean=False)
                    for a, b in zip(first_texts, second_texts):
                        yield Pair(verse_text(a), verse_text(b), "bible", f"bible:{book.osis_name}")
                except (IndexError, ValueError):
                    continue  # a chapter this versification of the second module lacks
