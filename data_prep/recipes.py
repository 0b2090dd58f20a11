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

from data_prep import bible, debian, ding, gettext_catalogs, help_docs, internet, libreoffice_help, shipped, user_files
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
    kind: str = "text"         # kind of text; each kind gets its own held-out sets (Recipe.held_out)
    markup: bool = False       # strip HTML/XML tags and entities
    access_keys: bool = False  # strip UI mnemonics (&File, _Open, ~Pages)
    limits: Limits | None = None  # its own length limits instead of the recipe's


@dataclass
class Recipe:
    """A corpus.  One with a ``pool`` is a part of its language pair's full corpus: the pool
    is cleaned and split once, and this corpus keeps the pairs of its own sources from each
    split.  So a pair held out in one corpus of a language pair is held out in all of them."""
    name: str
    langs: tuple[str, str]  # the language of the first and second side of every pair
    sources: list[Source]
    # kind of text -> (dev pairs, test pairs); a part of a pool takes its kinds' sizes from the pool
    held_out: dict[str, tuple[int, int]] = field(default_factory=lambda: {"text": (1000, 2000)})
    limits: Limits = field(default_factory=Limits)
    test_only: bool = False  # a test set: everything goes to test
    inputs: list[str] = field(default_factory=list)  # user files whose change means a rebuild
    pool: Recipe | None = None  # the language pair's full corpus (a recipe whose sources include ours)


def _debian_sources(lang: str) -> list[Source]:
    """The Debian sources of <lang>-English text: Ding (German only), four help manuals,
    Wesnoth's dialogue and application UI catalogs; pairs are (<lang>, English)."""
    sources = []
    if lang == "de":
        sources.append(Source("ding", ding.LICENSE, lambda f: ding.read_pairs(f.deb(ding.PACKAGE)), "everyday"))
    sources.append(Source(
        "libreoffice-help", libreoffice_help.LICENSE,
        lambda f: libreoffice_help.read_pairs(f.deb(libreoffice_help.package(lang)), lang,
                                              f.deb(libreoffice_help.package("en")), "en"), "help"))
    sources += [Source(manual.name, manual.license, lambda f, m=manual: m.read_pairs(f.deb, lang), "help",
                       markup=True) for manual in help_docs.MANUALS]

    def wesnoth(fetcher: Fetcher) -> Iterator[Pair]:
        for campaign in gettext_catalogs.WESNOTH_CAMPAIGNS:
            root = fetcher.deb(gettext_catalogs.wesnoth_package(campaign))
            yield from gettext_catalogs.read_pairs(root, lang, False, "wesnoth", "wesnoth")

    def ui(fetcher: Fetcher) -> Iterator[Pair]:
        for package in gettext_catalogs.UI_PACKAGES:
            root = fetcher.deb(package.format(lang=lang))
            yield from gettext_catalogs.read_pairs(root, lang, False, "ui-catalogs", package.format(lang=lang))

    sources.append(Source("wesnoth", gettext_catalogs.WESNOTH_LICENSE, wesnoth, "dialogue", markup=True))
    sources.append(Source("ui-catalogs", gettext_catalogs.UI_LICENSE, ui, "ui", markup=True, access_keys=True))
    if lang == "de":  # last, so that where it repeats another source's pair, that source keeps it
        sources.append(Source("ding-phrases", ding.LICENSE, lambda f: ding.read_lexicon(f.deb(ding.PACKAGE)),
                              "lexicon", limits=Limits(min_words=2, max_words=ding.LEXICON_WORDS)))
    return sources


def _bible_source() -> Source:
    """Bible verses as (Spanish, English) pairs, like the other Spanish-English sources."""
    def read(fetcher: Fetcher) -> Iterator[Pair]:
        english_first = bible.read_pairs({lang: fetcher.deb(bible.MODULES[lang][0]) for lang in ("en", "es")},
                                         ("en", "es"))
        for pair in english_first:
            yield Pair(pair.tgt, pair.src, pair.source, pair.document)
    return Source("bible", bible.LICENSE, read, "bible", limits=Limits(min_words=3, max_words=80))


# Held-out pairs per kind of text: (dev, test).  Each kind has its own test set.
_HELD_OUT = {"everyday": (400, 1000), "help": (400, 1000), "ui": (200, 1000), "dialogue": (200, 1000),
             "bible": (1000, 2000)}


def _pool(lang: str) -> Recipe:
    """The full corpus of <lang>-English that every <lang>-English recipe is a part of."""
    sources = _debian_sources(lang) + ([_bible_source()] if lang == "es" else [])
    kinds = {source.kind for source in sources}
    return Recipe(f"{lang}-en", (lang, "en"), sources, {k: v for k, v in _HELD_OUT.items() if k in kinds})


def view(name: str, pool: Recipe, source_names: list[str], langs: tuple[str, str] | None = None) -> Recipe:
    """The part of ``pool`` from the named sources, in the order ``langs`` (default the pool's)."""
    unknown = set(source_names) - {source.name for source in pool.sources}
    if unknown:
        raise NmtError(f"corpus {name}: no source called {', '.join(sorted(unknown))} in {pool.name}")
    sources = [source for source in pool.sources if source.name in source_names]
    kinds = {source.kind for source in sources}
    return Recipe(name, langs or pool.langs, sources, {k: v for k, v in pool.held_out.items() if k in kinds},
                  pool.limits, pool=pool)


def _debian(lang: str, phrases: bool = False) -> Recipe:
    """debian-<lang>-en: the pool without the Bible (and, unless ``phrases``, without Ding's phrases)."""
    pool = _pool(lang)
    left_out = {"bible"} | (set() if phrases else {"ding-phrases"})
    return view(f"debian-{lang}-en" + ("-phrases" if phrases else ""), pool,
                [source.name for source in pool.sources if source.name not in left_out])


def _tatoeba(langs: tuple[str, str]) -> Source:
    def read(fetcher: Fetcher) -> Iterator[Pair]:
        first, second = (internet.tatoeba_sentences(fetcher.url(
            internet.TATOEBA_SENTENCES_URL.format(code=internet.iso3(lang)))) for lang in langs)
        yield from internet.tatoeba_pairs(fetcher.url(internet.TATOEBA_LINKS_URL), first, second)
    return Source("tatoeba", internet.TATOEBA_LICENSE, read)


_PATTERNS: list[tuple[str, Callable[..., Recipe]]] = [
    (r"ding-de-en", lambda m, c: view(m.group(0), _pool("de"), ["ding"])),
    (r"debian-(de|fr|es)-en", lambda m, c: _debian(m.group(1))),
    (r"debian-de-en-phrases", lambda m, c: _debian("de", phrases=True)),
    (r"bible-en-es", lambda m, c: view(m.group(0), _pool("es"), ["bible"], ("en", "es"))),
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
RECIPE_NAMES = ("ding-de-en", "debian-de-en", "debian-de-en-phrases", "debian-fr-en", "debian-es-en", "bible-en-es",
                "user", "manythings-<xx>-en", "tatoeba-<xx>-<yy>", "sacrebleu-<test set>-<xx>-<yy>")


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


def test_set_names(recipe: Recipe) -> list[str]:
    """The test files a recipe writes: ``test`` (all kinds) and ``test-<kind>`` per kind when
    there are several kinds."""
    kinds = sorted(recipe.held_out) if recipe.held_out else []
    return ["test"] + ([f"test-{kind}" for kind in kinds] if len(kinds) > 1 else [])


def _split_names(recipe: Recipe) -> list[str]:
    return ["test"] if recipe.test_only else ["train", "dev", *test_set_names(recipe)]


def is_built(recipe: Recipe, out: Path) -> bool:
    try:
        stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    files = [out / f"{split}.{lang}" for split in _split_names(recipe) for lang in recipe.langs]
    return (stats.get("recipe") == recipe.name and stats.get("inputs") == _input_fingerprint(recipe)
            and all(path.exists() for path in files))


def _clean_source(source: Source, recipe: Recipe, fetcher: Fetcher) -> tuple[list[Pair], dict]:
    started = time.monotonic()
    cleaner = Cleaner(*recipe.langs, limits=source.limits or recipe.limits)
    kept, read = [], 0
    for pair in source.read(fetcher):
        read += 1
        cleaned = cleaner.clean(pair.src, pair.tgt, markup=source.markup, access_keys=source.access_keys)
        if cleaned:
            kept.append(Pair(cleaned[0], cleaned[1], source.name, pair.document, source.kind))
    print(f"  {source.name}: {read:,} pairs read, {len(kept):,} kept after cleaning "
          f"({time.monotonic() - started:.1f} s)", file=sys.stderr)
    return kept, {"kind": source.kind, "read": read, "kept": len(kept),
                  "rejected": dict(cleaner.rejected.most_common()), "license": source.license}


def _split(recipe: Recipe, pairs: list[Pair]) -> Splits:
    if recipe.test_only:
        return Splits([], [], pairs, Counter())
    dev, test = (sum(sizes[i] for sizes in recipe.held_out.values()) for i in (0, 1))
    if len(pairs) < 2 * (dev + test):
        raise NmtError(f"corpus {recipe.name}: only {len(pairs)} clean pairs, too few to hold out "
                       f"{dev} dev and {test} test pairs and still train")
    return split_by_document(pairs, recipe.held_out, SEED)


def _part(recipe: Recipe, splits: Splits) -> Splits:
    """The pairs of ``recipe``'s own sources from its pool's splits, in ``recipe``'s language order."""
    names = {source.name for source in recipe.sources}
    flip = recipe.langs != recipe.pool.langs

    def own(pairs: list[Pair]) -> list[Pair]:
        return [Pair(p.tgt, p.src, p.source, p.document, p.kind) if flip else p
                for p in pairs if p.source in names]
    return Splits(own(splits.train), own(splits.dev), own(splits.test), splits.removed)


def _files(recipe: Recipe, splits: Splits) -> dict[str, list[Pair]]:
    """File name (without language) -> the pairs it holds."""
    files = {"train": splits.train, "dev": splits.dev, "test": splits.test}
    for name in test_set_names(recipe)[1:]:
        files[name] = [p for p in splits.test if p.kind == name.removeprefix("test-")]
    return {name: pairs for name, pairs in files.items() if name in _split_names(recipe)}


def _stats(recipe: Recipe, files: dict[str, list[Pair]], sources: dict, removed: Counter,
           provenance: list[str], seconds: float) -> dict:
    result = {"recipe": recipe.name, "languages": list(recipe.langs), "inputs": _input_fingerprint(recipe)}
    if recipe.pool:
        result["pool"] = recipe.pool.name
    for name, pairs in files.items():
        if not pairs:
            continue
        result[name] = {
            "pairs": len(pairs),
            "documents": len({p.document for p in pairs}),
            "by_source": dict(Counter(p.source for p in pairs).most_common()),
            **{f"mean_words_{lang}": round(statistics.fmean(len(getattr(p, side).split()) for p in pairs), 2)
               for lang, side in zip(recipe.langs, ("src", "tgt"))}}
    result["sources"] = sources
    result["removed_by_split"] = dict(removed.most_common())
    result["provenance"] = provenance
    result["build_seconds"] = round(seconds, 1)
    return result


def _notice(recipe: Recipe, stats: dict) -> str:
    lines = [f"# Corpus `{recipe.name}`", "",
             f"Built by `nmt prepare` (recipe `{recipe.name}`, see `data_prep/recipes.py`) from:", ""]
    lines += [f"- {item}" for item in dict.fromkeys(stats["provenance"])] or ["- the files listed in data.sources"]
    lines += ["", "Licenses of the text (each source keeps its own; the toolkit's code is Apache-2.0):", ""]
    lines += [f"- {name} ({info['kind']}, {stats['train']['by_source'].get(name, 0) if 'train' in stats else 0:,} "
              f"training pairs): {info['license']}" for name, info in stats["sources"].items()]
    lines += ["", "Cleaning: Unicode NFKC, whitespace, markup and access keys stripped; pairs with "
              "placeholders, out-of-range lengths or length ratios, untranslated or wrong-language "
              "sides rejected. Dev and test hold out whole documents; no normalized dev/test side "
              "occurs in train. Counts are in `stats.json`.", ""]
    if recipe.pool:
        lines[-1:-1] = ["", f"Held out everywhere: this corpus is a part of the {recipe.pool.name} pool, which is "
                        f"split once; every {'-'.join(sorted(recipe.langs))} corpus keeps its own sources' pairs "
                        f"of each split, so no dev or test side of one is on the training side of another."]
    return "\n".join(lines)


def _read_splits(recipe: Recipe, cache: Path) -> tuple[Splits, dict, list[str]]:
    """Clean the recipe's (or its pool's) sources and split them; the recipe's part of it."""
    whole = recipe.pool or recipe
    fetcher = Fetcher(cache)
    pairs, sources = [], {}
    for source in whole.sources:
        kept, sources[source.name] = _clean_source(source, whole, fetcher)
        pairs += kept
    splits = _split(whole, pairs)
    if recipe.pool:
        splits = _part(recipe, splits)
        sources = {source.name: sources[source.name] for source in recipe.sources}
    return splits, sources, fetcher.provenance


def build(recipe: Recipe, out: Path, cache: Path, force: bool = False) -> dict:
    """Build the corpus into ``out`` unless it is already there (or ``force``); returns its stats."""
    if not force and is_built(recipe, out):
        stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
        print(f"corpus {recipe.name} is ready in {out} ({stats.get('train', stats['test'])['pairs']:,} "
              f"{'training' if 'train' in stats else 'test'} pairs)", file=sys.stderr)
        return stats
    started = time.monotonic()
    print(f"building corpus {recipe.name} into {out}"
          + (f" (a part of the {recipe.pool.name} pool, which is built whole)" if recipe.pool else ""),
          file=sys.stderr)
    splits, sources, provenance = _read_splits(recipe, cache)
    files = _files(recipe, splits)
    (out / "stats.json").unlink(missing_ok=True)  # marks the directory incomplete until the end
    for name, split_pairs in files.items():
        for lang, side in zip(recipe.langs, ("src", "tgt")):
            write_atomic(out / f"{name}.{lang}", "".join(getattr(p, side) + "\n" for p in split_pairs))
    stats = _stats(recipe, files, sources, splits.removed, list(dict.fromkeys(provenance)),
                   time.monotonic() - started)
    write_atomic(out / "NOTICE.md", _notice(recipe, stats))
    write_atomic(out / "stats.json", json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    counts = ", ".join(f"{name} {len(p):,}" for name, p in files.items() if p)
    print(f"corpus {recipe.name}: {counts} pairs in {stats['build_seconds']} s", file=sys.stderr)
    return stats


def prepare(data: DataConfig, corpus: str | None = None, ship: bool = False) -> None:
    """Build the corpus a config's ``data`` section trains on unless it is there (a shipped
    corpus is unpacked from its compressed files).  With ``corpus`` (``make data CORPUS=...``),
    build that recipe into data/<corpus>/ - a shipped one anew from its packages, reporting how
    the rebuild differs from the shipped files.  Files that exist without a ``stats.json`` were
    made by hand and are used as they are."""
    if corpus:
        out = Path("data") / corpus
        recipe = find_recipe(corpus, data)
        is_shipped = shipped.is_shipped(out)
        build(recipe, out, Path(data.cache), force=is_shipped or ship)
        if ship:
            shipped.ship(out, [f"{split}.{lang}" for split in _split_names(recipe) for lang in recipe.langs])
        elif is_shipped:
            shipped.report_differences(out)
        return
    out = Path(data.train).parent
    if shipped.is_shipped(out):
        shipped.unpack(out)
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
