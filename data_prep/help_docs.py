"""Three more software manuals translated file by file: GIMP's help, GNOME's help and the
Debian Reference.  Each names its packages and where one language's files lie; the
pairing itself is :mod:`data_prep.parallel_docs`.  Each file is one held-out document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from data_prep import parallel_docs
from data_prep.split import Pair


@dataclass(frozen=True)
class Manual:
    name: str
    license: str
    package: Callable[[str], str]        # language -> Debian package
    files: Callable[[Path, str], dict[str, Path]]  # (unpacked package, language) -> name -> file

    def read_pairs(self, fetch: Callable[[str], Path], lang: str) -> Iterator[Pair]:
        """(<lang>, English) pairs; ``fetch`` turns a package name into its unpacked root."""
        theirs = self.files(fetch(self.package(lang)), lang)
        english = self.files(fetch(self.package("en")), "en")
        yield from parallel_docs.read_pairs(theirs, english, self.name)


def _under(folder: Path, pattern: str) -> dict[str, Path]:
    return {str(path.relative_to(folder)): path for path in sorted(folder.glob(pattern))}


def _gimp_files(root: Path, lang: str) -> dict[str, Path]:
    return _under(root / "usr/share/gimp/2.0/help" / lang, "*.html")


def _gnome_files(root: Path, lang: str) -> dict[str, Path]:
    return _under(root / "usr/share/help" / ("C" if lang == "en" else lang), "*/*.page")


def _debian_reference_files(root: Path, lang: str) -> dict[str, Path]:
    folder = root / "usr/share/debian-reference"
    return {path.name.removesuffix(f".{lang}.html"): path for path in sorted(folder.glob(f"*.{lang}.html"))}


GIMP_HELP = Manual("gimp-help", "GFDL-1.2-or-later, no invariant sections (The GIMP Documentation Team)",
                   lambda lang: f"gimp-help-{lang}", _gimp_files)
GNOME_HELP = Manual("gnome-help", "CC-BY-SA-3.0 (The GNOME Project, gnome-user-docs)",
                    lambda lang: "gnome-user-docs", _gnome_files)
DEBIAN_REFERENCE = Manual("debian-reference", "GPL-2.0-or-later (Osamu Aoki and translators, Debian Reference)",
                          lambda lang: f"debian-reference-{lang}", _debian_reference_files)
MANUALS = (GIMP_HELP, GNOME_HELP, DEBIAN_REFERENCE)
