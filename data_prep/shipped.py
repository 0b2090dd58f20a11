"""Corpora shipped in the repository, compressed, so a fresh clone trains offline.

A shipped corpus directory holds each split as ``<split>.<lang>.xz`` and a manifest,
``SHA256SUMS``, of the uncompressed files.  Training unpacks missing files next to
them and checks each against the manifest; ``make data CORPUS=<name>`` rebuilds the
plain files from Debian's packages and reports how they differ from the shipped ones;
``nmt prepare --corpus <name> --ship`` makes the current plain files the shipped ones.
"""

from __future__ import annotations

import hashlib
import lzma
import sys
from collections import Counter
from pathlib import Path

from nmt.errors import NmtError
from nmt.files import write_atomic

MANIFEST = "SHA256SUMS"


def is_shipped(folder: Path) -> bool:
    return (folder / MANIFEST).exists()


def _manifest(folder: Path) -> dict[str, str]:
    """File name -> SHA-256 of its uncompressed text."""
    entries = {}
    path = folder / MANIFEST
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise NmtError(f"{path}:{number}: expected '<sha256>  <file>', got {line!r}")
        entries[parts[1]] = parts[0]
    return entries


def _shipped_bytes(folder: Path, name: str, digest: str) -> bytes:
    packed = folder / f"{name}.xz"
    try:
        data = lzma.decompress(packed.read_bytes())
    except FileNotFoundError:
        raise NmtError(f"{packed}: shipped corpus file missing (listed in {folder / MANIFEST})") from None
    except lzma.LZMAError as error:
        raise NmtError(f"{packed}: not a valid xz file ({error}); restore it with git checkout") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise NmtError(f"{packed}: its text does not match the checksum in {folder / MANIFEST}; "
                       f"restore it with git checkout")
    return data


def unpack(folder: Path) -> None:
    """Write every listed file that is missing from its checked ``.xz``."""
    missing = [(name, digest) for name, digest in _manifest(folder).items() if not (folder / name).exists()]
    if missing:
        print(f"unpacking the shipped corpus in {folder} ({len(missing)} files)", file=sys.stderr)
    for name, digest in missing:
        write_atomic(folder / name, _shipped_bytes(folder, name, digest))


def ship(folder: Path, names: list[str]) -> None:
    """Compress the named plain files next to themselves and write the manifest."""
    lines = []
    for name in sorted(names):
        data = (folder / name).read_bytes()
        write_atomic(folder / f"{name}.xz", lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    write_atomic(folder / MANIFEST, "".join(lines))
    print(f"shipped {len(names)} files in {folder} ({MANIFEST} written)", file=sys.stderr)


def differences(folder: Path) -> dict[str, dict[str, int]]:
    """Per split: pairs in both the shipped and the plain (rebuilt) files, and in only one."""
    manifest = _manifest(folder)
    result = {}
    for split in sorted({name.rsplit(".", 1)[0] for name in manifest}):
        langs = sorted(name.rsplit(".", 1)[1] for name in manifest if name.rsplit(".", 1)[0] == split)
        shipped_pairs = Counter(zip(*(_shipped_bytes(folder, f"{split}.{lang}", manifest[f"{split}.{lang}"])
                                      .decode("utf-8").splitlines() for lang in langs)))
        plain = [folder / f"{split}.{lang}" for lang in langs]
        rebuilt_pairs = Counter(zip(*(path.read_text(encoding="utf-8").splitlines() for path in plain))
                                if all(path.exists() for path in plain) else ())
        result[split] = {"same": sum((shipped_pairs & rebuilt_pairs).values()),
                         "only_shipped": sum((shipped_pairs - rebuilt_pairs).values()),
                         "only_rebuilt": sum((rebuilt_pairs - shipped_pairs).values())}
    return result


def report_differences(folder: Path) -> None:
    """Print how the rebuilt plain files differ from the shipped ones, one line per split."""
    print(f"the rebuild against the shipped files in {folder} (pairs):", file=sys.stderr)
    for split, counts in differences(folder).items():
        print(f"  {split}: {counts['same']:,} the same, {counts['only_shipped']:,} only shipped, "
              f"{counts['only_rebuilt']:,} only rebuilt", file=sys.stderr)
    print(f"training now uses the rebuilt files; `nmt prepare --corpus {folder.name} --ship` makes them the "
          f"shipped ones, deleting them restores the shipped ones", file=sys.stderr)
