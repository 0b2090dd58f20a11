"""Recipes that download: ManyThings (Anki) and Tatoeba sentence pairs, WMT/IWSLT test sets.

These need internet access (the machines this project is tested on have none;
the tests feed the same code small local files in the real formats through
``file://`` URLs).  Sentence pairs from Tatoeba have no documents, so all
translations of one sentence form a document: a sentence and its paraphrased
translations are held out together.
"""

from __future__ import annotations

import bz2
import io
import os
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

from data_prep.clean import comparison_key
from data_prep.split import Pair
from nmt.errors import NmtError

# ISO 639-1 codes of the recipe names -> the ISO 639-3 codes these sites use.
ISO3 = {"en": "eng", "de": "deu", "fr": "fra", "es": "spa", "it": "ita", "nl": "nld",
        "pt": "por", "ru": "rus", "tr": "tur", "pl": "pol", "ja": "jpn", "zh": "cmn",
        "ar": "ara", "fi": "fin", "sv": "swe", "cs": "ces", "uk": "ukr", "he": "heb"}
MANYTHINGS_URL = "https://www.manythings.org/anki/{code}-eng.zip"
TATOEBA_SENTENCES_URL = "https://downloads.tatoeba.org/exports/per_language/{code}/{code}_sentences.tsv.bz2"
TATOEBA_LINKS_URL = "https://downloads.tatoeba.org/exports/links.tar.bz2"
TATOEBA_LICENSE = "CC-BY 2.0 FR (Tatoeba contributors; attribution per sentence at tatoeba.org)"


def iso3(lang: str) -> str:
    if lang not in ISO3:
        raise NmtError(f"language {lang!r}: no Tatoeba code known (known: {', '.join(sorted(ISO3))})")
    return ISO3[lang]


def download(url: str, cache: Path) -> Path:
    """The file at ``url``, downloaded once into ``cache`` (atomically, with progress)."""
    target = cache / "downloads" / url.rstrip("/").rsplit("/", 1)[-1]
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    # Some sites (manythings.org) refuse Python's default user agent.
    request = urllib.request.Request(url, headers={"User-Agent": "Mozilla/5.0 (nmt corpus recipe)"})
    print(f"  downloading {url}", file=sys.stderr)
    try:
        with urllib.request.urlopen(request, timeout=60) as response, partial.open("wb") as out:
            total, done = int(response.headers.get("Content-Length") or 0), 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                done += len(chunk)
                if total:
                    print(f"\r  {done >> 20} of {total >> 20} MiB", end="", file=sys.stderr)
            if total:
                print(file=sys.stderr)
    except (urllib.error.URLError, OSError) as error:
        partial.unlink(missing_ok=True)
        reason = getattr(error, "reason", error)
        raise NmtError(f"{url}: download failed ({reason}); this recipe needs internet access") from None
    os.replace(partial, target)
    return target


def manythings_pairs(archive: Path, lang: str) -> Iterator[Pair]:
    """(English, lang) pairs of a ManyThings zip: ``<code>.txt``, lines English<TAB>other<TAB>credit."""
    code = iso3(lang)
    try:
        with zipfile.ZipFile(archive) as bundle:
            text = bundle.read(f"{code}.txt").decode("utf-8")
    except (zipfile.BadZipFile, KeyError) as error:
        raise NmtError(f"{archive}: not a ManyThings archive with {code}.txt ({error})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        columns = line.split("\t")
        if len(columns) < 2:
            raise NmtError(f"{archive}:{code}.txt:{number}: expected English<TAB>translation")
        yield Pair(columns[0], columns[1], "manythings", "manythings:" + comparison_key(columns[0]))


def tatoeba_sentences(archive: Path) -> dict[int, str]:
    """id -> text of a per-language export (``id<TAB>lang<TAB>text`` lines, bzip2)."""
    sentences = {}
    with bz2.open(archive, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            columns = line.rstrip("\n").split("\t")
            if len(columns) != 3 or not columns[0].isdigit():
                raise NmtError(f"{archive}:{number}: expected id<TAB>lang<TAB>text")
            sentences[int(columns[0])] = columns[2]
    return sentences


def tatoeba_pairs(links_archive: Path, first: dict[int, str], second: dict[int, str]) -> Iterator[Pair]:
    """Pairs linked in ``links.csv`` (``id<TAB>id`` lines inside links.tar.bz2)."""
    with tarfile.open(links_archive, "r:bz2") as bundle:
        member = next((m for m in bundle if m.name.endswith("links.csv")), None)
        if member is None:
            raise NmtError(f"{links_archive}: no links.csv inside")
        for line in io.TextIOWrapper(bundle.extractfile(member), encoding="utf-8"):
            a, _, b = line.rstrip("\n").partition("\t")
            if a.isdigit() and b.isdigit() and int(a) in first and int(b) in second:
                yield Pair(first[int(a)], second[int(b)], "tatoeba", f"tatoeba:{a}")


def sacrebleu_test_set(test_set: str, langs: tuple[str, str]) -> Iterator[Pair]:
    """Source and first reference of a sacrebleu test set, downloaded by sacrebleu itself."""
    from sacrebleu.dataset import DATASETS

    if test_set not in DATASETS:
        raise NmtError(f"sacrebleu has no test set {test_set!r} (e.g. wmt14, wmt19, iwslt17)")
    dataset, langpair = DATASETS[test_set], "-".join(langs)
    if langpair not in dataset.langpairs:
        pairs = ", ".join(k for k in dataset.langpairs if "-" in k)
        raise NmtError(f"sacrebleu test set {test_set} has no {langpair} (it has: {pairs})")
    try:
        sources, references = list(dataset.source(langpair)), list(dataset.references(langpair))
    except (SystemExit, Exception) as error:  # sacrebleu exits or raises on failed downloads
        raise NmtError(f"sacrebleu could not fetch {test_set} {langpair} ({error}); "
                       f"this recipe needs internet access") from None
    for number, (src, refs) in enumerate(zip(sources, references)):
        yield Pair(src, refs[0], "sacrebleu", f"{test_set}:{number}")
