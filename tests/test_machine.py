"""Every nmt process starts TensorFlow with its oneDNN kernels on, unless the environment says otherwise;
``train.precision: auto`` follows the CPU's flags."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import nmt.machine
from nmt.config import load_config
from nmt.errors import NmtError
from nmt.quick import supported

PROBE = "import nmt.machine; print(nmt.machine.describe()['onednn'])"


@pytest.mark.slow
@pytest.mark.parametrize("setting, expected", [(None, "True"), ("1", "True"), ("0", "False")])
def test_onednn_kernels_are_on_unless_the_environment_turns_them_off(setting, expected):
    environment = {key: value for key, value in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"}
    if setting is not None:
        environment["TF_ENABLE_ONEDNN_OPTS"] = setting
    result = subprocess.run([sys.executable, "-c", PROBE], env=environment, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == expected


@pytest.mark.parametrize("flags, expected", [("fpu avx2 avx512f avx512_bf16", "bfloat16"),
                                             ("fpu avx2 amx_bf16 amx_tile", "bfloat16"),
                                             ("fpu avx2 avx512f", "float32"), ("", "float32")])
def test_auto_precision_is_bfloat16_only_where_the_cpu_computes_it(monkeypatch, flags, expected):
    monkeypatch.setattr(nmt.machine, "_cpuinfo", lambda: {"flags": flags} if flags else {})
    assert nmt.machine.compute_precision("auto") == expected
    assert nmt.machine.compute_precision("float32") == "float32"
    assert nmt.machine.compute_precision("bfloat16") == "bfloat16"
    config = load_config("configs/default.yaml", ["train.precision=bfloat16"])
    assert supported(config)  # translation computes in float32 whatever the training precision
    # the shipped config trains in bfloat16 exactly where the CPU computes it
    assert nmt.machine.compute_precision(load_config("configs/default.yaml").train.precision) == expected


def test_an_unknown_precision_names_the_choices():
    with pytest.raises(NmtError, match="train.precision.*float32, bfloat16, auto"):
        load_config("configs/default.yaml", ["train.precision=float16"])
