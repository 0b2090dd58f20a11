"""Small files in the real formats of every corpus source, for recipes tested offline."""

from __future__ import annotations

import bz2
import io
import itertools
import struct
import tarfile
import zipfile
from pathlib import Path

from data_prep import gettext_catalogs, help_docs, libreoffice_help

_DE_NOUNS = ["Hund", "Katze", "Vogel", "Pferd", "Maus", "Kuh", "Ziege", "Ente", "Fuchs", "Bär", "Wolf", "Hase"]
_EN_NOUNS = ["dog", "cat", "bird", "horse", "mouse", "cow", "goat", "duck", "fox", "bear", "wolf", "hare"]
_DE_VERBS = ["sieht", "sucht", "findet", "ruft", "hört", "jagt"]
_EN_VERBS = ["sees", "seeks", "finds", "calls", "hears", "chases"]


_DE_PLACES = ["im Garten", "am Fluss", "auf dem Feld", "hinter dem Haus", "vor der Mühle", "unter dem Baum",
              "bei der Brücke", "neben dem Stall"]
_EN_PLACES = ["in the garden", "by the river", "on the field", "behind the house", "outside the mill",
              "under the tree", "at the bridge", "next to the barn"]


def sentence_pairs(count: int, offset: int = 0) -> list[tuple[str, str]]:
    """Distinct German-English sentence pairs (distinct even with digits and case ignored),
    up to 6,912 of them."""
    combos = itertools.islice(itertools.product(range(len(_DE_PLACES)), range(len(_DE_NOUNS)),
                                                range(len(_DE_VERBS)), range(len(_DE_NOUNS))),
                              offset, offset + count)
    return [(f"Der {_DE_NOUNS[a]} {_DE_VERBS[v]} heute den {_DE_NOUNS[b]} {_DE_PLACES[p]}.",
             f"The {_EN_NOUNS[a]} {_EN_VERBS[v]} the {_EN_NOUNS[b]} {_EN_PLACES[p]} today.")
            for p, a, v, b in combos]


def write_mo(path: Path, messages: dict[str, str]) -> None:
    """A GNU gettext .mo catalog (little-endian, no hash table) with the usual UTF-8 header."""
    messages = {"": "Content-Type: text/plain; charset=UTF-8\n", **messages}
    keys = sorted(messages)
    ids = b"".join(k.encode() + b"\0" for k in keys)
    strs = b"".join(messages[k].encode() + b"\0" for k in keys)
    count, header = len(keys), 7 * 4
    ids_start = header + 16 * count
    strs_start = ids_start + len(ids)
    table_ids, table_strs, offset_id, offset_str = [], [], ids_start, strs_start
    for key in keys:
        table_ids += [len(key.encode()), offset_id]
        table_strs += [len(messages[key].encode()), offset_str]
        offset_id += len(key.encode()) + 1
        offset_str += len(messages[key].encode()) + 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<7I", 0x950412DE, 0, count, header, header + 8 * count, 0, 0)
                     + struct.pack(f"<{2 * count}I", *table_ids)
                     + struct.pack(f"<{2 * count}I", *table_strs) + ids + strs)


def _package(cache: Path, name: str) -> Path:
    root = cache / "debian" / name
    root.mkdir(parents=True, exist_ok=True)
    (root / ".unpacked").write_text(f"{name}_1.0_all.deb\n")
    return root


def fake_debian_cache(cache: Path, pairs: list[tuple[str, str]], lang: str = "de") -> None:
    """Every package debian-<lang>-en reads, 'already unpacked', sharing ``pairs`` among them
    (the first side of each pair stands for <lang>; Ding exists for German only)."""
    sources = 5 if lang == "de" else 4
    chunks = [pairs[i::sources] for i in range(sources)]
    _fake_manuals(cache, chunks.pop(), lang)
    if lang != "de":
        chunks.insert(0, [])
    else:
        ding = _package(cache, "trans-de-en") / "usr/share/trans/de-en"
        ding.parent.mkdir(parents=True)
        ding.write_text("# Version :: fixture\n" + "".join(f"{de} :: {en}\n" for de, en in chunks[0]),
                        encoding="utf-8")
    for side_lang, side in ((lang, 0), ("en", 1)):
        help_dir = libreoffice_help.help_language_dir(_package(cache, libreoffice_help.package(side_lang)),
                                                      side_lang)
        for number in range(0, len(chunks[1]), 5):
            page = help_dir / "text" / f"page{number}.html"
            page.parent.mkdir(parents=True, exist_ok=True)
            body = "".join(f'<p id="par_id{i}" class="paragraph">{pair[side]}</p>\n'
                           for i, pair in enumerate(chunks[1][number:number + 5]))
            page.write_text(f"<html><body><h1 id=\"hd_id0\">Hilfe</h1>{body}</body></html>",
                            encoding="utf-8")
    campaigns = gettext_catalogs.WESNOTH_CAMPAIGNS
    for index, campaign in enumerate(campaigns):
        root = _package(cache, gettext_catalogs.wesnoth_package(campaign))
        write_mo(root / f"usr/share/games/wesnoth/1.16/locale/{lang}/LC_MESSAGES/wesnoth-{campaign}.mo",
                 {en: de for de, en in chunks[2][index::len(campaigns)]})
    packages = [p.format(lang=lang) for p in gettext_catalogs.UI_PACKAGES]
    for index, package in enumerate(packages):
        root = _package(cache, package)
        write_mo(root / f"usr/share/locale/{lang}/LC_MESSAGES/{package}.mo",
                 {"_" + en: "&" + de for de, en in chunks[3][index::len(packages)]})


_MANUAL_FILES = {  # where each manual keeps one language's page n, and the page's markup
    "gimp-help": (lambda lang, n: f"usr/share/gimp/2.0/help/{lang}/page{n}.html",
                  "<html><body><h1>{title}</h1>{body}</body></html>", "<p>{text}</p>"),
    "gnome-help": (lambda lang, n: f"usr/share/help/{'C' if lang == 'en' else lang}/gnome-help/page{n}.page",
                   '<page xmlns="http://projectmallard.org/1.0/"><info><desc>{title}</desc></info>{body}</page>',
                   "<section><p>{text}</p></section>"),
    "debian-reference": (lambda lang, n: f"usr/share/debian-reference/ch{n:02d}.{lang}.html",
                         "<html><body><h2>{title}</h2><pre>$ code</pre>{body}</body></html>",
                         "<li><p>{text}</p></li>"),
}
_ENGLISH_ONLY = "<h3>A note that only the English page has.</h3>"


def _fake_manuals(cache: Path, pairs: list[tuple[str, str]], lang: str) -> None:
    """GIMP help, GNOME help and the Debian Reference: pages of four paragraphs in both languages
    (the English side of every page has a heading more, which the aligner must skip)."""
    for manual, (chunk, (path, page, block)) in zip(help_docs.MANUALS,
                                                   zip([pairs[i::3] for i in range(3)], _MANUAL_FILES.values())):
        for number in range(0, len(chunk), 4):
            paragraphs = chunk[number:number + 4]
            for side_lang, side in ((lang, 0), ("en", 1)):
                blocks = [block.format(text=pair[side]) for pair in paragraphs]
                if side_lang == "en":
                    blocks.insert(2, _ENGLISH_ONLY)
                root = _package(cache, manual.package(side_lang))
                file = root / path(side_lang, number)
                file.parent.mkdir(parents=True, exist_ok=True)
                title = "Hilfe" if side == 0 else "Help"
                file.write_text(page.format(title=title, body="".join(blocks)), encoding="utf-8")


def manythings_zip(path: Path, pairs: list[tuple[str, str]]) -> None:
    lines = "".join(f"{en}\t{de}\tCC-BY 2.0 (France) Attribution: tatoeba.org #{i} (a) & #{i + 1} (b)\n"
                    for i, (de, en) in enumerate(pairs))
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("deu.txt", lines)
        bundle.writestr("_about.txt", "fixture")


def tatoeba_files(directory: Path, pairs: list[tuple[str, str]]) -> None:
    """deu_sentences.tsv.bz2, eng_sentences.tsv.bz2 and links.tar.bz2 as Tatoeba exports them."""
    de_lines = "".join(f"{2 * i + 1}\tdeu\t{de}\n" for i, (de, _) in enumerate(pairs))
    en_lines = "".join(f"{2 * i + 2}\teng\t{en}\n" for i, (_, en) in enumerate(pairs))
    (directory / "deu_sentences.tsv.bz2").write_bytes(bz2.compress(de_lines.encode()))
    (directory / "eng_sentences.tsv.bz2").write_bytes(bz2.compress(en_lines.encode()))
    links = "".join(f"{2 * i + 1}\t{2 * i + 2}\n{2 * i + 2}\t{2 * i + 1}\n" for i in range(len(pairs)))
    with tarfile.open(directory / "links.tar.bz2", "w:bz2") as bundle:
        data = links.encode()
        info = tarfile.TarInfo("links.csv")
        info.size = len(data)
        bundle.addfile(info, io.BytesIO(data))
