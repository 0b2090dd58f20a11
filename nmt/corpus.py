"""Reading aligned parallel text files, line by line, with one-line errors for every bad input.

Training files are streamed (never held in memory whole), so the reader checks
each line as it goes: UTF-8, and both files ending on the same line.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import zip_longest
from pathlib import Path

from nmt.errors import NmtError


def iter_lines(path: Path) -> Iterator[str]:
    """The lines of a UTF-8 text file, without line endings, one at a time."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise NmtError(f"{path}: corpus file not found") from None
    except IsADirectoryError:
        raise NmtError(f"{path}: is a directory, expected a text file") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if b"\0" in raw:
                raise NmtError(f"{path}:{number}: binary data (NUL byte), expected UTF-8 text")
            try:
                yield raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as error:
                raise NmtError(f"{path}:{number}: not valid UTF-8 (byte {error.start + 1} of the line)") \
                    from None


def read_lines(path: Path) -> list[str]:
    return list(iter_lines(path))


def parallel_paths(prefix: str, src_lang: str, tgt_lang: str) -> tuple[Path, Path]:
    return Path(f"{prefix}.{src_lang}"), Path(f"{prefix}.{tgt_lang}")


def iter_parallel(prefix: str, src_lang: str, tgt_lang: str) -> Iterator[tuple[str, str]]:
    """Aligned (source, target) lines of ``{prefix}.{src_lang}`` and ``{prefix}.{tgt_lang}``."""
    src_path, tgt_path = parallel_paths(prefix, src_lang, tgt_lang)
    sources, targets = iter_lines(src_path), iter_lines(tgt_path)
    for number, (src, tgt) in enumerate(zip_longest(sources, targets), start=1):
        if src is None or tgt is None:
            longer = sources if tgt is None else targets
            counts = {src_path: number - 1, tgt_path: number - 1}
            counts[src_path if tgt is None else tgt_path] += 1 + sum(1 for _ in longer)
            raise NmtError(f"{src_path} has {counts[src_path]} lines but {tgt_path} has "
                           f"{counts[tgt_path]}; parallel files must align line by line")
        yield src, tgt


def count_parallel(prefix: str, src_lang: str, tgt_lang: str) -> int:
    """Check a parallel corpus end to end without keeping it; returns its usable pairs."""
    usable = sum(1 for src, tgt in iter_parallel(prefix, src_lang, tgt_lang) if src.strip() and tgt.strip())
    if not usable:
        raise NmtError(f"{parallel_paths(prefix, src_lang, tgt_lang)[0]}: corpus is empty "
                       f"(no line pair with text on both sides)")
    return usable


def read_parallel(prefix: str, src_lang: str, tgt_lang: str) -> tuple[list[str], list[str]]:
    """All aligned lines of a (small) parallel corpus, e.g. a dev or test set."""
    count_parallel(prefix, src_lang, tgt_lang)
    pairs = list(iter_parallel(prefix, src_lang, tgt_lang))
    return [src for src, _ in pairs], [tgt for _, tgt in pairs]
