"""Reading parallel files: every bad input is a one-line error naming file and line."""

from __future__ import annotations

import pytest

from nmt.corpus import read_parallel
from nmt.errors import NmtError


def make(tmp_path, de: bytes, en: bytes) -> str:
    (tmp_path / "c.de").write_bytes(de)
    (tmp_path / "c.en").write_bytes(en)
    return str(tmp_path / "c")


def test_reads_aligned_lines(tmp_path):
    prefix = make(tmp_path, b"Guten Tag.\r\nDanke.\n", b"Good day.\nThanks.\n")
    assert read_parallel(prefix, "de", "en") == (["Guten Tag.", "Danke."], ["Good day.", "Thanks."])


@pytest.mark.parametrize("de, en, message", [
    (b"a\nb\n", b"a\n", "c.de has 2 lines but {p}.en has 1; parallel files must align line by line"),
    (b"", b"", "c.de: corpus is empty"),
    (b"\n \n", b"x\n\n", "c.de: corpus is empty"),
    (b"gut\n\xff\xfeschlecht\n", b"good\nbad\n", "c.de:2: not valid UTF-8 (byte 1 of the line)"),
])
def test_bad_corpus(tmp_path, de, en, message):
    prefix = make(tmp_path, de, en)
    with pytest.raises(NmtError) as error:
        read_parallel(prefix, "de", "en")
    assert message.format(p=prefix) in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(NmtError, match=r"x\.de: corpus file not found"):
        read_parallel(str(tmp_path / "x"), "de", "en")
