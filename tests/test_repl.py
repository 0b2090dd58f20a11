"""The interactive translator, driven through a pseudo-terminal as a person would use it."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pexpect
import pytest
from helpers import REPO, with_spans

PROMPT = "de> "


def start(run, tmp_path) -> pexpect.spawn:
    """`nmt translate --run RUN` on a terminal, with its history file under ``tmp_path``."""
    child = pexpect.spawn(sys.executable, ["-m", "nmt.cli", "translate", "--run", str(run), "--beam", "2"],
                          cwd=str(REPO), env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
                                              "TF_CPP_MIN_LOG_LEVEL": "3"},
                          encoding="utf-8", timeout=120)
    child.expect("beam 2. :help for commands.")
    ready(child)
    return child


def ready(child: pexpect.spawn) -> None:
    """Wait for the prompt and for readline to take the terminal (it turns echo off): a key
    sent before that can be lost in the switch of terminal modes."""
    child.expect_exact(PROMPT)
    assert child.waitnoecho(timeout=60), "readline never took the terminal"


def answer(child: pexpect.spawn, line: str) -> str:
    """What the screen shows between sending ``line`` and the next prompt."""
    child.sendline(line)
    ready(child)
    return child.before.replace("\r\n", "\n").split("\n", 1)[1]  # drop the echoed input


@pytest.mark.slow
def test_repl_translates_completes_and_obeys_its_commands(trained_run, copy_lines, tmp_path):
    child = start(trained_run, tmp_path)
    assert ":prefix TEXT" in answer(child, ":help")
    assert answer(child, copy_lines[0]).strip() == copy_lines[0]  # the copier's answer
    assert answer(child, ":beam 3").strip() == "beam size 3"
    assert answer(child, ":beam 0").strip() == "unknown command ':beam 0'; :help lists the commands"
    other = next(word for line in copy_lines for word in line.split() if word != copy_lines[0].split()[0])
    completions = answer(child, f":prefix {other}").strip().splitlines()
    numbered = [line.strip() for line in completions if line.strip()[:2] in ("1.", "2.", "3.")]
    assert numbered and all(line.split(". ", 1)[1].startswith(other + " ") for line in numbered)
    assert completions[-1].strip().endswith(" ms)")
    spanned = with_spans(copy_lines)[1]  # a tag and a placeholder: translated around, put back
    assert answer(child, spanned).strip().splitlines()[-1] == spanned
    assert "unknown command" in answer(child, ":nonsense")
    child.sendline(":quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    history = (tmp_path / ".nmt_history").read_text(encoding="utf-8")
    assert copy_lines[0] in history and f":prefix {other}" in history


@pytest.mark.slow
def test_repl_show_plots_and_ctrl_d_or_ctrl_c_leave_cleanly(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)  # :show writes its plot into the run
    child = start(run, tmp_path)
    answer(child, "Guten Morgen.")
    # the REPL translates with NumPy (nmt/quick.py); :show loads TensorFlow first, and says so
    assert answer(child, ":show").strip().splitlines() == [
        "(loading TensorFlow for this command: a few seconds, once)",
        f"gates and attention plotted to {run / 'inspect.png'}"]
    assert (run / "inspect.png").read_bytes()[:4] == b"\x89PNG"
    child.sendeof()  # Ctrl-D at the prompt
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    for _ in range(3):  # Ctrl-C on a half-typed line, at once: readline may be echoing the keys
        child = start(run, tmp_path)
        child.send("Guten")
        child.sendintr()
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0 and "Traceback" not in child.before
    assert ":show" in (tmp_path / ".nmt_history").read_text(encoding="utf-8")


# A SIGINT that CPython's C handler caught but whose Python handler never runs, because the
# main thread then blocks in C code that only looks at signals when interrupted - readline's
# select() after the signal landed while it echoed a key.  Written straight into the wake-up
# pipe, so the test does not depend on hitting that instant.
LOST_CTRL_C = """
import ctypes, os, signal
from nmt.interrupts import reliable_ctrl_c
libc = ctypes.CDLL(None, use_errno=True)
never_ready, _ = os.pipe()
with reliable_ctrl_c():
    wakeup = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(wakeup)
    os.write(wakeup, bytes([signal.SIGINT]))
    try:
        while True:
            libc.read(never_ready, ctypes.create_string_buffer(1), 1)  # returns only when interrupted
    except KeyboardInterrupt:
        print("interrupted")
print("left")
"""


def test_a_ctrl_c_that_readline_would_miss_still_interrupts_the_main_thread():
    result = subprocess.run([sys.executable, "-c", LOST_CTRL_C], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "interrupted\nleft\n", "")
