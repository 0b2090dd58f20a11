"""The user's own parallel text: two aligned files, or one TSV file (source<TAB>target).

Lines are read one at a time and checked as they go, so a bad line is reported
by file and line number.  Plain files carry no document boundaries, so
consecutive blocks of :data:`BLOCK_LINES` lines stand in for documents: nearby
lines usually come from the same text, and holding out blocks keeps them together.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import zip_longest
from pathlib import Path

from data_prep.split import Pair
from nmt.corpus import iter_lines
from nmt.errors import NmtError

BLOCK_LINES = 50


def text_lines(path: Path) -> Iterator[str]:
    """Decoded lines (without line ends) of a UTF-8 text file; one-line errors otherwise."""
    empty = True
    for line in iter_lines(path):
        empty = False
        yield line
    if empty:
        raise NmtError(f"{path}: empty file, expected one sentence per line")


def aligned_lines(src_path: Path, tgt_path: Path) -> Iterator[tuple[int, str, str]]:
    """(line number, source line, target line), failing at the first line one file lacks."""
    for number, (src, tgt) in enumerate(zip_longest(text_lines(src_path), text_lines(tgt_path)), 1):
        if src is None or tgt is None:
            short, long_ = (src_path, tgt_path) if src is None else (tgt_path, src_path)
            raise NmtError(f"{short}:{number}: file ends here but {long_} goes on; "
                           f"parallel files must have the same number of lines")
        yield number, src, tgt


def tsv_lines(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line number, first column, second column); further columns are ignored."""
    for number, line in enumerate(text_lines(path), start=1):
        columns = line.split("\t")
        if len(columns) < 2:
            raise NmtError(f"{path}:{number}: expected tab-separated columns "
                           f"(source<TAB>target), found no tab")
        yield number, columns[0], columns[1]


def read_pairs(sources: list[str], source_name: str = "user") -> Iterator[Pair]:
    """Pairs from ``[source_file, target_file]`` or ``[tsv_file]`` (data.sources)."""
    if len(sources) == 2:
        lines = aligned_lines(Path(sources[0]), Path(sources[1]))
    elif len(sources) == 1:
        lines = tsv_lines(Path(sources[0]))
    else:
        raise NmtError(f"data.sources: expected [source_file, target_file] or [tsv_file], "
                       f"got {len(sources)} files")
    for number, src, tgt in lines:
        yield Pair(src, tgt, source_name, f"{source_name}:{(number - 1) // BLOCK_LINES}")
