"""Fetch Debian packages into a cache without installing them.

``apt-get download NAME`` writes the .deb into the cache folder; its file tree
(``dpkg-deb --fsys-tarfile``) is unpacked next to it, keeping only the text the
recipes read (message catalogs, help pages, Bible modules, dictionaries), so the
cache holds megabytes rather than the gigabytes of game art some packages carry.
A marker file records a finished unpack, after which the .deb is deleted: an
interrupted fetch is redone, a finished one never repeated.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from nmt.errors import NmtError

TEXT_PATHS = ("/LC_MESSAGES/", "/usr/share/libreoffice/help/", "/usr/share/sword/",
              "/usr/share/trans/", "/usr/share/gimp/2.0/help/", "/usr/share/help/",
              "/usr/share/debian-reference/")
SKIPPED_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".pdf", ".gz", ".css", ".js")


def unpacked(package: str, cache: Path) -> Path:
    """The root of the unpacked package (its ``usr/`` is inside), fetching it if needed."""
    root = cache / package
    done = root / ".unpacked"
    if done.exists():
        return root
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise NmtError(f"{package}: `{tool}` not found; this recipe reads Debian packages and "
                           f"needs apt-get and dpkg-deb (on Debian/Ubuntu: apt-get install dpkg apt)")
    cache.mkdir(parents=True, exist_ok=True)
    debs = sorted(cache.glob(f"{package}_*.deb"))
    if not debs:
        print(f"  apt-get download {package}", file=sys.stderr)
        result = subprocess.run(["apt-get", "download", package], cwd=cache,
                                capture_output=True, text=True)
        debs = sorted(cache.glob(f"{package}_*.deb"))
        if result.returncode != 0 or not debs:
            lines = [line for line in result.stderr.splitlines() if line.startswith("E:")]
            reason = (lines or result.stderr.strip().splitlines() or ["no .deb was written"])[-1]
            raise NmtError(f"apt-get download {package} failed: {reason} "
                           f"(run `apt-get update` first if the package lists are empty)")
    if root.exists():
        shutil.rmtree(root)
    _unpack_text(debs[-1], root)
    done.write_text(debs[-1].name + "\n")
    debs[-1].unlink()
    return root


def _wanted(name: str) -> bool:
    return any(part in name for part in TEXT_PATHS) and not name.lower().endswith(SKIPPED_SUFFIXES)


def _unpack_text(deb: Path, root: Path) -> None:
    """Unpack the members of ``deb`` whose path contains one of :data:`TEXT_PATHS`."""
    process = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        with tarfile.open(fileobj=process.stdout, mode="r|") as archive:
            for member in archive:
                if member.isfile() and _wanted(member.name):
                    archive.extract(member, root, filter="data")
    except tarfile.TarError as error:
        problem = str(error)
    else:
        problem = ""
    process.stdout.close()
    stderr = process.stderr.read().decode("utf-8", "replace").strip()
    if process.wait() != 0 or problem:
        deb.unlink()  # most likely a torn download: fetch it again next time
        raise NmtError(f"dpkg-deb --fsys-tarfile {deb} failed ({stderr or problem}); "
                       f"the .deb was deleted, run the command again to download it anew")
