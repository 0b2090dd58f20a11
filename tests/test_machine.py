"""Every nmt process starts TensorFlow with its oneDNN kernels on, unless the environment says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = "import nmt.machine; print(nmt.machine.describe()['onednn'])"


@pytest.mark.parametrize("setting, expected", [(None, "True"), ("1", "True"), ("0", "False")])
def test_onednn_kernels_are_on_unless_the_environment_turns_them_off(setting, expected):
    environment = {key: value for key, value in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"}
    if setting is not None:
        environment["TF_ENABLE_ONEDNN_OPTS"] = setting
    result = subprocess.run([sys.executable, "-c", PROBE], env=environment, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == expected
