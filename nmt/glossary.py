"""Glossaries: a term of the source, wherever it occurs, is translated by the form a project
requires.

A glossary is a UTF-8 TSV file, one ``source term<TAB>target term`` per line (``#`` starts a
comment line).  A source term is matched as whole words, ignoring case, longest first.  The
sentence is translated as usual with its attention; the target words aligned to the
term's source words (``nmt.alignment``) are replaced by the required term, or, if none is
aligned, the term goes after the translation of the word before it.  A translation that
already holds the term (ignoring case) is left as it is.  Measurements and why this
method: docs/usage.md#glossaries.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from nmt.errors import NmtError


@dataclass(frozen=True)
class Term:
    source: tuple[str, ...]   # lower-cased source words
    target: str


@dataclass(frozen=True)
class Match:
    start: int                # first source word of the term
    end: int                  # one past its last word
    target: str


class Glossary:
    def __init__(self, terms: list[Term]):
        self.terms = {term.source: term.target for term in terms}
        self.longest = max((len(source) for source in self.terms), default=0)

    def matches(self, words: list[str]) -> list[Match]:
        """The terms in ``words``, longest first at each position, not overlapping."""
        lowered, found, position = [_bare(word).lower() for word in words], [], 0
        while position < len(words):
            for size in range(min(self.longest, len(words) - position), 0, -1):
                target = self.terms.get(tuple(lowered[position:position + size]))
                if target is not None:
                    found.append(Match(position, position + size, target))
                    position += size
                    break
            else:
                position += 1
        return found


def _bare(word: str) -> str:
    """A word without the punctuation around it ("Datei," -> "Datei")."""
    return re.sub(r"^[^\w]+|[^\w]+$", "", word)


def _holds(text: str, term: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(term.lower())}(?![\w-])", text.lower()) is not None


def scripts(text: str) -> set[str]:
    """The Unicode scripts of the letters of ``text`` (LATIN, CYRILLIC, ...)."""
    return {unicodedata.name(char, "UNKNOWN").split()[0] for char in text if char.isalpha()}


def read_glossary(path: Path, source_scripts: set[str] | None = None,
                  target_scripts: set[str] | None = None) -> Glossary:
    """The glossary in ``path``; a line that is not a pair of terms, or a term in a script the
    run's vocabulary does not hold, is an error naming the file and line."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise NmtError(f"{path}: cannot read the glossary ({error.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise NmtError(f"{path}:{line}: not UTF-8 (byte {data[error.start]:#04x})") from None
    terms = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        columns = line.split("\t")
        if len(columns) != 2 or not columns[0].strip() or not columns[1].strip():
            raise NmtError(f"{path}:{number}: expected 'source term<TAB>target term', got {len(columns)} "
                           f"column{'s' if len(columns) != 1 else ''}: {line!r}")
        source, target = columns[0].strip(), columns[1].strip()
        problem = script_problem(source, target, source_scripts, target_scripts)
        if problem:
            raise NmtError(f"{path}:{number}: {problem}")
        terms.append(Term(tuple(source.lower().split()), target))
    return Glossary(terms)


def script_problem(source: str, target: str, source_scripts: set[str] | None,
                   target_scripts: set[str] | None) -> str | None:
    """Why a pair of terms cannot be used with a run's vocabularies (None if it can)."""
    for side, term, known in (("source", source, source_scripts), ("target", target, target_scripts)):
        unknown = scripts(term) - known if known is not None else set()
        if unknown:
            return (f"the {side} term {term!r} is written in {', '.join(sorted(unknown))}, a script the run's "
                    f"{side} vocabulary does not hold")
    return None


def vocabulary_scripts(vocab) -> set[str]:
    """The scripts of the letters a vocabulary's pieces hold."""
    return scripts("".join(vocab.piece(index) for index in range(vocab.size)))


def glossary_for_run(run, path: str | None) -> Glossary | None:
    """The glossary in ``path`` (None without one), its terms checked against the scripts of
    the run's source and target vocabularies."""
    if not path:
        return None
    return read_glossary(Path(path), vocabulary_scripts(run.src_vocab), vocabulary_scripts(run.tgt_vocab))


def apply(matches: list[Match], translation: str,
          alignment: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """``translation`` with every matched term in its required form, and the alignment of the
    new words (the term's words aligned to the term's first source word)."""
    words = translation.split()
    kept = list(alignment)
    for match in sorted(matches, key=lambda m: m.start, reverse=True):
        if _holds(" ".join(words), match.target):
            continue
        aligned = sorted({t for s, t in kept if match.start <= s < match.end})
        if aligned:
            first, drop = aligned[0], set(aligned)
        else:
            before = [t for s, t in kept if s < match.start]
            first, drop = (max(before) + 1 if before else 0), set()
        term = match.target.split()
        if first == 0 and words and words[0][:1].isupper():  # a sentence's first word
            term[0] = term[0][:1].upper() + term[0][1:]
        if aligned:  # the punctuation around the replaced words stays
            term[0] = re.match(r"^[^\w]*", words[aligned[0]]).group(0) + term[0]
            term[-1] += re.search(r"[^\w]*$", words[aligned[-1]]).group(0)
        new_words, remap, start = [], {}, None
        for index, word in enumerate(words):
            if index == first:
                start, new_words = len(new_words), new_words + term
            if index not in drop:
                remap[index] = len(new_words)
                new_words.append(word)
        if start is None:
            start, new_words = len(new_words), new_words + term
        kept = [(s, remap[t]) for s, t in kept if t in remap] + [(match.start, start + i) for i in range(len(term))]
        words = new_words
    return " ".join(words), kept
