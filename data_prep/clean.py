"""Cleaning parallel text: normalize, strip markup, reject what is not a translation.

Every recipe passes its raw pairs through :class:`Cleaner`; each rejected pair is
counted under the reason it failed, and those counts end up in ``stats.json``.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from nmt.protect import protect

_TAG = re.compile(r"</?[A-Za-z][\w:-]*(?:\s[^<>]*)?/?>")
_TAG_NAME = re.compile(r"</?[A-Za-z][\w:.-]*")
_ACCESS_KEY = re.compile(r"(?<!_)_(?=[^\W_])|~(?=\w)|&(?=[^\W\d_])(?!\w+;)")
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u2028\u2029\u2060\ufeff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "‚": "'", "“": '"', "”": '"', "„": '"'})
_WORD = re.compile(r"\w+")
_LETTER = re.compile(r"[^\W\d_]")

# A few frequent function words per language, enough to notice a pair whose
# "translation" was left in the source language or swapped sides.
FUNCTION_WORDS = {
    "en": {"the", "and", "of", "to", "is", "in", "that", "it", "you", "for", "with", "this",
           "are", "be", "not", "have", "was", "on", "your", "from"},
    "de": {"der", "die", "das", "und", "ist", "nicht", "ich", "sie", "es", "zu", "den", "mit",
           "ein", "eine", "sich", "auf", "wird", "werden", "dem", "von"},
    "fr": {"le", "la", "les", "et", "est", "des", "une", "un", "pas", "que", "pour", "dans",
           "vous", "il", "sur", "du", "ce", "avec", "qui", "au"},
    "es": {"el", "la", "los", "las", "y", "es", "que", "de", "en", "un", "una", "no", "por",
           "con", "para", "se", "del", "su", "al", "lo"},
}
LATIN_SCRIPT = {"en", "de", "fr", "es", "it", "nl", "pt", "pl", "sv", "da", "no", "fi", "cs"}


def normalize_text(text: str) -> str:
    """NFKC, typographic quotes to ASCII, no invisible or control characters, single spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = _CONTROL.sub(" ", _INVISIBLE.sub("", text))
    return " ".join(text.split())


def strip_markup(text: str) -> str:
    """Drop HTML/XML tags and decode entities (``<b>Bold</b> &amp; co`` -> ``Bold & co``)."""
    return html.unescape(_TAG.sub(" ", text))


def strip_access_keys(text: str) -> str:
    """Remove UI mnemonic markers: ``&File``, ``Save _As``, ``Pa~ges`` -> File, Save As, Pages."""
    return _ACCESS_KEY.sub("", text)


def comparison_key(text: str) -> str:
    """The form in which two texts count as (near-)duplicates: case, digits and
    punctuation ignored, so "Step 3: Open the file." matches "step 4 - open the file"."""
    return " ".join(w for w in _WORD.findall(text.casefold()) if not w.isdigit())


def words(text: str) -> int:
    return len(text.split())


@dataclass
class Limits:
    """Length limits, in whitespace-separated words."""
    min_words: int = 3
    max_words: int = 50
    max_ratio: float = 2.5  # longer side / shorter side, in words (applied from 6 words on)


@dataclass
class Cleaner:
    """Cleans pairs and counts why pairs were rejected."""
    src_lang: str
    tgt_lang: str
    limits: Limits = field(default_factory=Limits)
    rejected: Counter = field(default_factory=Counter)

    def clean(self, src: str, tgt: str, markup: bool = False,
              access_keys: bool = False) -> tuple[str, str] | None:
        """The cleaned pair, or None (counted in ``rejected``) if it is not usable."""
        if markup:
            src, tgt = strip_markup(src), strip_markup(tgt)
        if access_keys:
            src, tgt = strip_access_keys(src), strip_access_keys(tgt)
        src, tgt = normalize_text(src), normalize_text(tgt)
        reason = self.rejection(src, tgt)
        if reason:
            self.rejected[reason] += 1
            return None
        return src, tgt

    def rejection(self, src: str, tgt: str) -> str | None:
        """Why a normalized pair is not a usable training example (None if it is).

        A pair with placeholders, markup or URLs is kept when both sides hold the same ones:
        the model learns from it with them taken out (``nmt.protect``), so it is judged
        here by what is left."""
        if not src or not tgt:
            return "empty side"
        src_protected, tgt_protected = protect(src), protect(tgt)
        if _must_match(src_protected.spans) != _must_match(tgt_protected.spans):
            return "spans differ"
        src, tgt = src_protected.text, tgt_protected.text
        if not src or not tgt:
            return "empty side"
        src_words, tgt_words = words(src), words(tgt)
        if min(src_words, tgt_words) < self.limits.min_words:
            return "too short"
        if max(src_words, tgt_words) > self.limits.max_words:
            return "too long"
        if (max(src_words, tgt_words) >= 6
                and max(src_words, tgt_words) > self.limits.max_ratio * min(src_words, tgt_words)):
            return "length ratio"
        return self._language_problem(src, tgt)

    def _language_problem(self, src: str, tgt: str) -> str | None:
        if comparison_key(src) == comparison_key(tgt):
            return "untranslated"
        for text, lang in ((src, self.src_lang), (tgt, self.tgt_lang)):
            letters = _LETTER.findall(text)
            if len(letters) < 0.5 * len(text.replace(" ", "")):
                return "mostly not letters"
            if lang in LATIN_SCRIPT and sum(_is_latin(c) for c in letters) < 0.9 * len(letters):
                return "wrong script"
        if self.src_lang in FUNCTION_WORDS and self.tgt_lang in FUNCTION_WORDS:
            for text, own, other in ((src, self.src_lang, self.tgt_lang),
                                     (tgt, self.tgt_lang, self.src_lang)):
                tokens = _WORD.findall(text.casefold())
                hits_own = sum(t in FUNCTION_WORDS[own] for t in tokens)
                hits_other = sum(t in FUNCTION_WORDS[other] for t in tokens)
                if hits_other >= 2 and hits_other > 2 * hits_own:
                    return "wrong language"
        return None


def _must_match(spans) -> Counter:
    """What a translation has to repeat: placeholders and URLs as written, elements by name
    (numbers, entities and access keys may be written differently)."""
    found = Counter()
    for span in spans:
        if span.kind in ("placeholder", "url"):
            found[span.text] += 1
        elif span.kind == "tag":
            found[_TAG_NAME.match(span.text).group(0).lower()] += 1
    return found


def _is_latin(char: str) -> bool:
    return char.isascii() or "LATIN" in unicodedata.name(char, "")
