"""Corpus recipes: fetch real parallel text, clean it, split it without leaks, write it.

A recipe is a list of sources (each yields raw pairs from what it fetched) plus
split sizes.  :func:`build` runs one into ``data/<name>/``::

    train.<a> train.<b> dev.<a> dev.<b> test.<a> test.<b>   aligned, one sentence per line
    stats.json   pairs per split and source, mean lengths, rejected pairs by reason
    NOTICE.md    where the text came from and under which license

Files are written atomically and ``stats.json`` last, so a directory with a
``stats.json`` for the same recipe and inputs is complete and is not rebuilt.
Downloads and unpacked packages stay in the cache, so a rebuild after an
interruption (or after deleting the output) skips everything already fetched.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from data_prep import bible, debian, ding, gettext_catalogs, internet, libreoffice_help, user_files
from data_prep.clean import Cleaner, Limits
from data_prep.split import Pair, Splits, split_by_document
from nmt.config import DataConfig
from nmt.errors import NmtError
from nmt.files import write_atomic

SEED = 20261125  # the split depends on the recipe alone, never on an experiment's seed


class Fetcher:
    """Fetches packages and files into the cache and remembers what it used."""

    def __init__(self, cache: Path):
        self.cache = cache
        self.provenance: list[str] = []

    def deb(self, package: str) -> Path:
        root = debian.unpacked(package, self.cache / "debian")
        self.provenance.append(f"Debian package {(root / '.unpacked').read_text().strip()}")
        return root

    def url(self, url: str) -> Path:
        path = internet.download(url, self.cache)
        self.provenance.append(url)
        return path


@dataclass
class Source:
    name: str
    license: str
    read: Callable[[Fetcher], Iterator[Pair]]
    markup: bool = False       # strip HTML/XML tags and entities
    access_keys: bool = False  # strip UI mnemonics (&File, _Open, ~Pages)


@dataclass
class Recipe:
    name: str
    langs: tuple[str, str]  # the language of the first and second side of every pair
    sources: list[Source]
    dev_size: int = 1000
    test_size: int = 2000
    limits: Limits = field(default_factory=Limits)
    test_only: bool = False  # a test set: everything goes to test
    inputs: list[str] = field(default_factory=list)  # user files whose change means a rebuild


def _debian_sources(lang: str) -> list[Source]:
    """The Debian sources of <lang>-English text: Ding (German only), help, Wesnoth, UI."""
    sources = []
    if lang == "de":
        sources.append(Source("ding", ding.LICENSE, lambda f: ding.read_pairs(f.deb(ding.PACKAGE))))
    sources.append(Source(
        "libreoffice-help", libreoffice_help.LICENSE,
        lambda f: libreoffice_help.read_pairs(f.deb(libreoffice_help.package(lang)), lang,
                                              f.deb(libreoffice_help.package("en")), "en")))

    def wesnoth(fetcher: Fetcher) -> Iterator[Pair]:
        for campaign in gettext_catalogs.WESNOTH_CAMPAIGNS:
            root = fetcher.deb(gettext_catalogs.wesnoth_package(campaign))
            yield from gettext_catalogs.read_pairs(root, lang, False, "wesnoth", "wesnoth")

    def ui(fetcher: Fetcher) -> Iterator[Pair]:
        for package in gettext_catalogs.UI_PACKAGES:
            root = fetcher.deb(package.format(lang=lang))
            yield from gettext_catalogs.read_pairs(root, lang, False, "ui-catalogs", package.format(lang=lang))

    sources.append(Source("wesnoth", gettext_catalogs.WESNOTH_LICENSE, wesnoth, markup=True))
    sources.append(Source("ui-catalogs", gettext_catalogs.UI_LICENSE, ui, markup=True, access_keys=True))
    return sources


def _tatoeba(langs: tuple[str, str]) -> Source:
    def read(fetcher: Fetcher) -> Iterator[Pair]:
        first, second = (internet.tatoeba_sentences(fetcher.url(
            internet.TATOEBA_SENTENCES_URL.format(code=internet.iso3(lang)))) for lang in langs)
        yield from internet.tatoeba_pairs(fetcher.url(internet.TATOEBA_LINKS_URL), first, second)
    return Source("tatoeba", internet.TATOEBA_LICENSE, read)


_PATTERNS: list[tuple[str, Callable[..., Recipe]]] = [
    (r"ding-de-en", lambda m, c: Recipe(
        m.group(0), ("de", "en"), _debian_sources("de")[:1], dev_size=500, test_size=1000,
        limits=Limits(min_words=4))),
    (r"debian-(de|fr|es)-en", lambda m, c: Recipe(m.group(0), (m.group(1), "en"),
                                                  _debian_sources(m.group(1)))),
    (r"bible-en-es", lambda m, c: Recipe(m.group(0), ("en", "es"), [Source(
        "bible", bible.LICENSE,
        lambda f: bible.read_pairs({lang: f.deb(bible.MODULES[lang][0]) for lang in ("en", "es")},
                                   ("en", "es")))], limits=Limits(min_words=3, max_words=80))),
    (r"user", lambda m, c: Recipe(
        "user", (c.src_lang, c.tgt_lang),
        [Source("user", "the user's own", lambda f: user_files.read_pairs(c.sources))],
        inputs=list(c.sources))),
    (r"manythings-([a-z]{2})-en", lambda m, c: Recipe(m.group(0), ("en", m.group(1)), [Source(
        "manythings", internet.TATOEBA_LICENSE + "; compiled by manythings.org",
        lambda f: internet.manythings_pairs(
            f.url(internet.MANYTHINGS_URL.format(code=internet.iso3(m.group(1)))), m.group(1)))],
        limits=Limits(min_words=1))),
    (r"tatoeba-([a-z]{2})-([a-z]{2})", lambda m, c: Recipe(
        m.group(0), (m.group(1), m.group(2)), [_tatoeba((m.group(1), m.group(2)))],
        limits=Limits(min_words=1))),
    (r"sacrebleu-([\w.]+)-([a-z]{2})-([a-z]{2})", lambda m, c: Recipe(
        m.group(0), (m.group(2), m.group(3)), [Source(
            "sacrebleu", f"see the terms of the {m.group(1)} test set",
            lambda f: internet.sacrebleu_test_set(m.group(1), (m.group(2), m.group(3))))],
        test_only=True, limits=Limits(min_words=1, max_words=1000, max_ratio=1000.0))),
]
RECIPE_NAMES = ("ding-de-en", "debian-de-en", "debian-fr-en", "debian-es-en", "bible-en-es", "user",
                "manythings-<xx>-en", "tatoeba-<xx>-<yy>", "sacrebleu-<test set>-<xx>-<yy>")


def find_recipe(name: str, data_config) -> Recipe:
    """The recipe called ``name``; ``data_config`` supplies user files and languages."""
    for pattern, make in _PATTERNS:
        match = re.fullmatch(pattern, name)
        if match:
            return make(match, data_config)
    raise NmtError(f"data.corpus: no recipe called {name!r} (recipes: {', '.join(RECIPE_NAMES)})")


def _input_fingerprint(recipe: Recipe) -> list:
    return [[path, Path(path).stat().st_size, Path(path).stat().st_mtime_ns]
            for path in recipe.inputs if Path(path).exists()]


def is_built(recipe: Recipe, out: Path) -> bool:
    try:
        stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    files = [out / f"{split}.{lang}" for split in _split_names(recipe) for lang in recipe.langs]
    return (stats.get("recipe") == recipe.name and stats.get("inputs") == _input_fingerprint(recipe)
            and all(path.exists() for path in files))


def _split_names(recipe: Recipe) -> tuple[str, ...]:
    return ("test",) if recipe.test_only else ("train", "dev", "test")


def _clean_source(source: Source, recipe: Recipe, fetcher: Fetcher) -> tuple[list[Pair], dict]:
    started = time.monotonic()
    cleaner = Cleaner(*recipe.langs, limits=recipe.limits)
    kept, read = [], 0
    for pair in source.read(fetcher):
        read += 1
        cleaned = cleaner.clean(pair.src, pair.tgt, markup=source.markup, access_keys=source.access_keys)
        if cleaned:
            kept.append(Pair(cleaned[0], cleaned[1], pair.source, pair.document))
    print(f"  {source.name}: {read:,} pairs read, {len(kept):,} kept after cleaning "
          f"({time.monotonic() - started:.1f} s)", file=sys.stderr)
    return kept, {"read": read, "kept": len(kept), "rejected": dict(cleaner.rejected.most_common()),
                  "license": source.license}


def _split(recipe: Recipe, pairs: list[Pair]) -> Splits:
    if recipe.test_only:
        return Splits([], [], pairs, Counter())
    needed = recipe.dev_size + recipe.test_size
    if len(pairs) < 2 * needed:
        raise NmtError(f"corpus {recipe.name}: only {len(pairs)} clean pairs, too few to hold out "
                       f"{recipe.dev_size} dev and {recipe.test_size} test pairs and still train")
    return split_by_document(pairs, recipe.dev_size, recipe.test_size, SEED)


def _stats(recipe: Recipe, splits: Splits, sources: dict, provenance: list[str], seconds: float) -> dict:
    result = {"recipe": recipe.name, "languages": list(recipe.langs), "inputs": _input_fingerprint(recipe)}
    for name, pairs in splits.items():
        if not pairs:
            continue
        result[name] = {
            "pairs": len(pairs),
            "documents": len({p.document for p in pairs}),
            "by_source": dict(Counter(p.source for p in pairs).most_common()),
            **{f"mean_words_{lang}": round(statistics.fmean(len(getattr(p, side).split()) for p in pairs), 2)
               for lang, side in zip(recipe.langs, ("src", "tgt"))}}
    result["sources"] = sources
    result["removed_by_split"] = dict(splits.removed.most_common())
    result["provenance"] = provenance
    result["build_seconds"] = round(seconds, 1)
    return result


def _notice(recipe: Recipe, stats: dict) -> str:
    lines = [f"# Corpus `{recipe.name}`", "",
             f"Built by `nmt prepare` (recipe `{recipe.name}`, see `data_prep/recipes.py`) from:", ""]
    lines += [f"- {item}" for item in dict.fromkeys(stats["provenance"])] or ["- the files listed in data.sources"]
    lines += ["", "Licenses of the text (each source keeps its own; the toolkit's code is Apache-2.0):", ""]
    lines += [f"- {name}: {info['license']}" for name, info in stats["sources"].items()]
    lines += ["", "Cleaning: Unicode NFKC, whitespace, markup and access keys stripped; pairs with "
              "placeholders, out-of-range lengths or length ratios, untranslated or wrong-language "
              "sides rejected. Dev and test hold out whole documents; no normalized dev/test side "
              "occurs in train. Counts are in `stats.json`.", ""]
    return "\n".join(lines)


def build(recipe: Recipe, out: Path, cache: Path) -> dict:
    """Build the corpus into ``out`` unless it is already there; returns its stats."""
    if is_built(recipe, out):
        stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
        print(f"corpus {recipe.name} is ready in {out} ({stats.get('train', stats['test'])['pairs']:,} "
              f"{'training' if 'train' in stats else 'test'} pairs)", file=sys.stderr)
        return stats
    started = time.monotonic()
    print(f"building corpus {recipe.name} into {out}", file=sys.stderr)
    fetcher = Fetcher(cache)
    pairs, sources = [], {}
    for source in recipe.sources:
        kept, sources[source.name] = _clean_source(source, recipe, fetcher)
        pairs += kept
    splits = _split(recipe, pairs)
    (out / "stats.json").unlink(missing_ok=True)  # marks the directory incomplete until the end
    for name, split_pairs in splits.items():
        if name in _split_names(recipe):
            for lang, side in zip(recipe.langs, ("src", "tgt")):
                write_atomic(out / f"{name}.{lang}", "".join(getattr(p, side) + "\n" for p in split_pairs))
    stats = _stats(recipe, splits, sources, fetcher.provenance, time.monotonic() - started)
    write_atomic(out / "NOTICE.md", _notice(recipe, stats))
    write_atomic(out / "stats.json", json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    counts = ", ".join(f"{name} {len(p):,}" for name, p in splits.items() if p)
    print(f"corpus {recipe.name}: {counts} pairs in {stats['build_seconds']} s", file=sys.stderr)
    return stats


def prepare(data: DataConfig, corpus: str | None = None) -> None:
    """Build the corpus a config's ``data`` section trains on (or ``corpus`` into
    data/<corpus>/) unless it is built.  Files that exist without a ``stats.json``
    were made by hand and are used as they are."""
    if corpus and corpus != data.corpus:
        build(find_recipe(corpus, data), Path("data") / corpus, Path(data.cache))
        return
    out = Path(data.train).parent
    needed = [Path(f"{prefix}.{lang}") for prefix in [data.train, data.dev, *data.test]
              for lang in (data.src_lang, data.tgt_lang)]
    if all(path.exists() for path in needed) and not (out / "stats.json").exists():
        return
    try:
        recipe = find_recipe(data.corpus, data)
    except NmtError:
        missing = next(path for path in needed if not path.exists())
        raise NmtError(f"{missing}: corpus file not found, and data.corpus={data.corpus!r} has no "
                       f"recipe (recipes: {', '.join(RECIPE_NAMES)})") from None
    build(recipe, out, Path(data.cache))
