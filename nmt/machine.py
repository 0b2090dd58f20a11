"""What a measurement ran on: CPU model, cores, library versions, commit and date.

Stored with every report (``report.json``, ``compare.json``, ``bench.json``) so a
figure can always be traced to one machine and one version of the code.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

CPU_FEATURES = ("avx2", "avx512f", "avx512_bf16", "amx_tile")
# Flags of CPUs that compute in bfloat16 themselves (dot products or tiles), not by converting.
BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


def _cpuinfo() -> dict[str, str]:
    fields: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return fields
    for line in text.splitlines():
        if not line.strip():
            break  # the first processor is enough
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX-512 BF16 or AMX), from /proc/cpuinfo."""
    flags = set(_cpuinfo().get("flags", "").split())
    return any(flag in flags for flag in BFLOAT16_FLAGS)


def compute_precision(setting: str) -> str:
    """``train.precision`` as it runs: ``auto`` is bfloat16 on a CPU with bfloat16 arithmetic,
    float32 elsewhere (converting to and from bfloat16 makes it slower than float32 there)."""
    if setting != "auto":
        return setting
    return "bfloat16" if native_bfloat16() else "float32"


def _git(*args: str) -> str:
    try:
        result = subprocess.run(["git", *args], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def _commit() -> str | None:
    """The checked-out commit, with '+changes' when tracked files differ from it."""
    commit = _git("rev-parse", "--short", "HEAD")
    if not commit:
        return None
    return commit + ("+changes" if _git("status", "--porcelain", "--untracked-files=no") else "")


def amd_core(family: int, model: int, flags: set[str]) -> str | None:
    """The Zen generation of an AMD CPU (its model name, e.g. 'AMD EPYC', does not say)."""
    if family == 26:
        return "Zen 5"
    if family == 25:
        return "Zen 4" if "avx512f" in flags else "Zen 3"
    if family == 23:
        return "Zen 2" if model >= 0x30 else "Zen"
    return None


def _onednn() -> bool:
    """Whether TensorFlow runs its oneDNN kernels in this process (see nmt.prefer_onednn)."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def describe() -> dict:
    """This machine and software, as plain JSON-ready values."""
    import tensorflow as tf

    cpu = _cpuinfo()
    flags = set(cpu.get("flags", "").split())
    name = cpu.get("model name") or platform.processor() or "unknown"
    if cpu.get("vendor_id") == "AuthenticAMD" and cpu.get("cpu family", "").isdigit():
        core = amd_core(int(cpu["cpu family"]), int(cpu.get("model", "0") or 0), flags)
        name = f"{name}, {core}" if core else name
    return {"cpu": name,
            "cpu_family": cpu.get("cpu family"), "cpu_model": cpu.get("model"),
            "cpu_features": [feature for feature in CPU_FEATURES if feature in flags],
            "cores": os.cpu_count(), "tensorflow": tf.__version__, "onednn": _onednn(),
            "python": platform.python_version(), "commit": _commit(), "date": datetime.date.today().isoformat()}


def label(machine: dict) -> str:
    """One line naming the machine, e.g. 'AMD EPYC (family 26, model 2; avx2, avx512f), 2 cores'."""
    features = ", ".join(machine.get("cpu_features") or []) or "no AVX2"
    return (f"{machine['cpu']} (family {machine['cpu_family']}, model {machine['cpu_model']}; {features}), "
            f"{machine['cores']} cores, TensorFlow {machine['tensorflow']}")
