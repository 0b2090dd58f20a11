"""Reading aligned parallel text files, with one-line errors for every bad input."""

from __future__ import annotations

from pathlib import Path

from nmt.errors import NmtError


def read_lines(path: Path) -> list[str]:
    """All lines of a UTF-8 text file, without line endings."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NmtError(f"{path}: corpus file not found") from None
    except IsADirectoryError:
        raise NmtError(f"{path}: is a directory, expected a text file") from None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    decoded = []
    for number, raw in enumerate(lines, start=1):
        try:
            decoded.append(raw.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as error:
            raise NmtError(f"{path}:{number}: not valid UTF-8 (byte {error.start + 1} of the line)") \
                from None
    return decoded


def read_parallel(prefix: str, src_lang: str, tgt_lang: str) -> tuple[list[str], list[str]]:
    """The aligned lines of ``{prefix}.{src_lang}`` and ``{prefix}.{tgt_lang}``."""
    src_path, tgt_path = Path(f"{prefix}.{src_lang}"), Path(f"{prefix}.{tgt_lang}")
    sources, targets = read_lines(src_path), read_lines(tgt_path)
    if len(sources) != len(targets):
        raise NmtError(f"{src_path} has {len(sources)} lines but {tgt_path} has {len(targets)}; "
                       f"parallel files must align line by line")
    if not any(s.strip() and t.strip() for s, t in zip(sources, targets)):
        raise NmtError(f"{src_path}: corpus is empty (no line pair with text on both sides)")
    return sources, targets
