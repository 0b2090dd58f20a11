"""Extract German-English example sentences from the Ding dictionary.

The Debian package ``trans-de-en`` ships the Ding dictionary as one UTF-8 file,
one entry per line: ``German ... :: English ...``.  Each side holds ``|``-separated
sub-entries that align one to one, and many sub-entries are full example
sentences.  This recipe keeps those sentences, cleans them and splits them into
train/dev/test so that no normalized dev or test side appears in train.

Usage (plain Python, no TensorFlow needed)::

    python data_prep/ding.py --out data/ding-de-en [--source /usr/share/trans/de-en]

Without ``--source`` the package is fetched with ``apt-get download`` into
``.cache/debian`` and unpacked with ``dpkg-deb -x``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

INSTALLED_PATH = Path("/usr/share/trans/de-en")
PACKAGE = "trans-de-en"
DEV_PAIRS = 500
TEST_PAIRS = 1000
SEED = 20261125

# Dictionary placeholders ("etw.", "sb.") and alternatives ("comes/arrives")
# mark a sub-entry as a pattern rather than a sentence a person would write.
_REJECT = re.compile(
    r"\b(etw|jdn|jdm|jds|jd|sth|sb|sb's|o\.ä|usw)\.|…|\.\.\.|/|\(|\)|\{|\}|\[|\]|~|=|\+|<|>|\""
)
_SENTENCE_END = re.compile(r"[.?!]$")
_WORD = re.compile(r"\w+")


def fetch_source(cache: Path) -> Path:
    """Download and unpack the Debian package; return the dictionary file."""
    unpacked = cache / PACKAGE / "usr/share/trans/de-en"
    if unpacked.exists():
        return unpacked
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        sys.exit(f"error: {PACKAGE}: apt-get and dpkg-deb are needed to fetch the Ding "
                 f"dictionary; install it or pass --source FILE")
    cache.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["apt-get", "download", PACKAGE], cwd=cache,
                            capture_output=True, text=True)
    debs = sorted(cache.glob(f"{PACKAGE}_*.deb"))
    if result.returncode != 0 or not debs:
        reason = (result.stderr.strip().splitlines() or ["no .deb was written"])[-1]
        sys.exit(f"error: apt-get download {PACKAGE} failed: {reason}")
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(cache / PACKAGE)], check=True)
    return unpacked


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"\s+", " ", text).strip()


def _is_sentence(text: str) -> bool:
    return (len(_WORD.findall(text)) >= 4 and text[:1].isupper()
            and bool(_SENTENCE_END.search(text)) and not _REJECT.search(text))


def sentence_pairs(line: str) -> list[tuple[str, str]]:
    """The clean (German, English) sentence pairs of one dictionary entry."""
    if line.startswith("#") or " :: " not in line:
        return []
    german, english = line.rstrip("\n").split(" :: ", 1)
    de_parts, en_parts = german.split(" | "), english.split(" | ")
    if len(de_parts) != len(en_parts):
        return []
    pairs = []
    for de_part, en_part in zip(de_parts, en_parts):
        de_alts = [_clean(a) for a in de_part.split("; ")]
        en_alts = [_clean(a) for a in en_part.split("; ")]
        if len(de_alts) == len(en_alts):
            candidates = list(zip(de_alts, en_alts))
        elif len(en_alts) == 1:
            candidates = [(de, en_alts[0]) for de in de_alts]
        elif len(de_alts) == 1:
            candidates = [(de_alts[0], en) for en in en_alts]
        else:
            continue
        pairs += [(de, en) for de, en in candidates if _is_sentence(de) and _is_sentence(en)]
    return pairs


def normalize(text: str) -> str:
    """The form two sides are compared in when checking for leaks."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_WORD.findall(text))


def split(entries: list[list[tuple[str, str]]], seed: int = SEED):
    """Hold out whole dictionary entries for dev and test, then drop any train
    pair whose normalized German or English side occurs in dev or test."""
    entries = [e for e in entries if e]
    random.Random(seed).shuffle(entries)
    held: dict[str, list[tuple[str, str]]] = {"test": [], "dev": []}
    seen_held: set[str] = set()
    rest = iter(entries)
    for name, size in (("test", TEST_PAIRS), ("dev", DEV_PAIRS)):
        while len(held[name]) < size:
            for de, en in next(rest):
                keys = {"de:" + normalize(de), "en:" + normalize(en)}
                if keys & seen_held:
                    continue
                seen_held |= keys
                held[name].append((de, en))
    train, seen_train = [], set()
    for entry in rest:
        for de, en in entry:
            keys = {"de:" + normalize(de), "en:" + normalize(en)}
            pair_key = normalize(de) + "\t" + normalize(en)
            if keys & seen_held or pair_key in seen_train:
                continue
            seen_train.add(pair_key)
            train.append((de, en))
    return {"train": train, "dev": held["dev"], "test": held["test"]}


def write_splits(splits: dict, out: Path, source: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, pairs in splits.items():
        for index, lang in enumerate(("de", "en")):
            tmp = out / f".{name}.{lang}.tmp"
            tmp.write_text("".join(pair[index] + "\n" for pair in pairs), encoding="utf-8")
            tmp.replace(out / f"{name}.{lang}")
    stats = {name: {"pairs": len(pairs),
                    "mean_words_de": round(sum(len(d.split()) for d, _ in pairs) / len(pairs), 2),
                    "mean_words_en": round(sum(len(e.split()) for _, e in pairs) / len(pairs), 2)}
             for name, pairs in splits.items()}
    stats["source"] = f"Debian package {PACKAGE} ({source.name})"
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/ding-de-en"))
    parser.add_argument("--source", type=Path, help="the Ding de-en dictionary file")
    parser.add_argument("--cache", type=Path, default=Path(".cache/debian"))
    args = parser.parse_args()
    source = args.source or (INSTALLED_PATH if INSTALLED_PATH.exists() else fetch_source(args.cache))
    if not source.exists():
        sys.exit(f"error: {source}: no such file")
    with source.open(encoding="utf-8") as handle:
        entries = [sentence_pairs(line) for line in handle]
    splits = split(entries)
    write_splits(splits, args.out, source)
    print(" ".join(f"{name}={len(pairs)}" for name, pairs in splits.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
