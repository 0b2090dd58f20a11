"""Pairs from compiled gettext catalogs (``.mo``): English msgid -> translated msgstr.

Used for the Wesnoth campaigns (story dialogue, one campaign per document) and
for application UI catalogs (mostly labels, one catalog per document).  UI text
carries access keys and markup, which the cleaner strips.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterator
from pathlib import Path

from data_prep.split import Pair
from nmt.errors import NmtError

WESNOTH_CAMPAIGNS = ("data", "did", "dm", "dw", "ei", "httt", "l", "low", "nr", "sof", "sota", "sotbe",
                     "thot", "trow", "tsg", "ttb", "utbs")
WESNOTH_LICENSE = "GPL-2.0-or-later (The Battle for Wesnoth Project)"
UI_PACKAGES = ("libreoffice-l10n-{lang}", "gimp-data", "inkscape", "vlc-l10n", "gnucash-common",
               "libgtk-3-common", "audacity-data", "evolution-common", "evolution-data-server-common",
               "freeciv-data", "gnumeric-common", "gramps", "digikam-data", "kstars-data",
               "darktable", "claws-mail-i18n", "pidgin-data", "grisbi-common",
               "gnome-control-center-data", "aptitude-common", "shotwell-common", "hexchat-common",
               "geany-common", "nautilus-data", "thunar-data", "gnome-software-common",
               "brasero-common", "gnome-disk-utility", "rhythmbox-data", "synaptic", "gedit-common")
UI_LICENSE = ("each program's own free license (GPL-2.0-or-later, GPL-3.0-or-later, LGPL-2.1-or-later, "
              "MPL-2.0 for LibreOffice); see /usr/share/doc/<package>/copyright in each package")


def wesnoth_package(campaign: str) -> str:
    """The package of a campaign; ``data`` holds the core game's help, units and dialogue."""
    return f"wesnoth-1.16-{campaign}"


def catalog_messages(path: Path) -> Iterator[tuple[str, str]]:
    """(msgid, msgstr) of every translated singular message; context prefixes removed."""
    try:
        with path.open("rb") as handle:
            catalog = gettext.GNUTranslations(handle)._catalog
    except (OSError, UnicodeDecodeError) as error:
        raise NmtError(f"{path}: not a readable gettext catalog ({error})") from None
    for msgid, msgstr in catalog.items():
        if isinstance(msgid, str) and msgid and msgstr:
            yield msgid.split("\x04")[-1], msgstr


def catalogs(root: Path, lang: str) -> list[Path]:
    return sorted(root.glob(f"usr/**/{lang}/LC_MESSAGES/*.mo"))


def read_pairs(root: Path, lang: str, english_first: bool, source: str,
               document_prefix: str) -> Iterator[Pair]:
    """Pairs in recipe order: (English, lang) if ``english_first`` else (lang, English)."""
    for path in catalogs(root, lang):
        document = f"{document_prefix}:{path.stem}"
        for english, translated in catalog_messages(path):
            first, second = (english, translated) if english_first else (translated, english)
            yield Pair(first, second, source, document)
