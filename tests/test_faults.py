"""Faults: kills at random points, torn checkpoint writes, NaN losses, full disks, hostile text,
and run directories that try to make the loader run code."""

from __future__ import annotations

import os
import pickle
import random
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers import REPO, run_cli, save_config, tiny_config

# Starts `nmt` with TensorFlow's checkpoint-index rename slowed down, so that a kill can
# land while a checkpoint is half written: its data files exist, its index entry does not.
SLOW_INDEX_WRITES = """
import pathlib, sys, time
from tensorflow.python.lib.io import file_io
rename = file_io.rename
def slow_rename(old, new, overwrite=False):
    if pathlib.Path(new).name == "checkpoint":
        pathlib.Path(new).with_name("WRITING").touch()
        time.sleep(0.3)
    rename(old, new, overwrite)
    pathlib.Path(new).with_name("WRITING").unlink(missing_ok=True)
file_io.rename = slow_rename
from nmt.cli import main
sys.exit(main(sys.argv[1:]))
"""


def indexed_step(checkpoints: Path) -> int | None:
    path = tf.train.latest_checkpoint(str(checkpoints))
    return int(path.rsplit("-", 1)[1]) if path else None


def start_training(config_path: Path, log: Path) -> subprocess.Popen:
    handle = open(log, "a")  # noqa: SIM115 - the child writes to it; the test's tmp_path removes it
    return subprocess.Popen([sys.executable, "-c", SLOW_INDEX_WRITES, "train", "--config", str(config_path)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=handle)


def wait_for(condition, process: subprocess.Popen, timeout: float = 120) -> bool:
    """Poll until ``condition`` holds; returns what was seen, not a second look (a checkpoint
    write's window can close between two calls)."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


@pytest.mark.slow
def test_sigkill_at_random_points_always_resumes_from_a_complete_checkpoint(tmp_path):
    config = tiny_config(tmp_path, train={"max_steps": 300, "max_epochs": 1000, "checkpoint_every": 3,
                                          "log_every": 1, "validate_every": 50})
    path = save_config(tmp_path, config)
    run = tmp_path / "runs" / "tiny"
    checkpoints, log = run / "checkpoints", tmp_path / "train.log"
    rng = random.Random(20261125)
    previous, torn_writes = 0, 0
    for kill in range(4):
        process = start_training(path, log)
        if kill in (0, 2):  # inside a checkpoint write
            assert wait_for(lambda previous=previous: (checkpoints / "WRITING").exists()
                            and (indexed_step(checkpoints) or 0) > previous, process)
        else:  # anywhere: after a random number of further steps
            target = previous + rng.randint(4, 40)
            wait_for(lambda target=target: (indexed_step(checkpoints) or 0) >= target, process)
            time.sleep(rng.uniform(0, 0.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
        torn_writes += (checkpoints / "WRITING").exists()
        (checkpoints / "WRITING").unlink(missing_ok=True)
        step = indexed_step(checkpoints)
        assert step is not None and previous <= step < 300, f"kill {kill}: step {step}"
        reader = tf.train.load_checkpoint(str(checkpoints / f"ckpt-{step}"))  # complete and readable
        assert reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == step
        previous = step
    assert torn_writes >= 2, "no kill landed inside a checkpoint write"
    finished = run_cli("train", "--config", str(path))
    assert finished.returncode == 0, finished.stderr
    assert f"resuming {run} from step {previous} " in finished.stderr
    assert "training done at step 300" in finished.stderr
    translated = run_cli("translate", "--config", str(path), stdin="Ich habe keine Zeit.\n")
    assert translated.returncode == 0 and len(translated.stdout.splitlines()) == 1, translated.stderr


def poisoned_loss_after(calls_before_nan: int):
    """masked_cross_entropy that returns NaN from its ``calls_before_nan + 1``-th call on."""
    import nmt.step

    original = nmt.step.masked_cross_entropy
    calls = tf.Variable(0)

    def poisoned(logits, targets, label_smoothing=0.0):
        loss_sum, tokens = original(logits, targets, label_smoothing)
        calls.assign_add(1)
        # adding NaN keeps the gradient of the finite steps clean (tf.where's would not be)
        return loss_sum + tf.where(calls > calls_before_nan, np.nan, 0.0), tokens
    return poisoned


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["stop", "skip"])
def test_nonfinite_loss_stops_or_skips_and_never_corrupts_weights(tmp_path, monkeypatch, policy, capsys):
    import nmt.step
    import nmt.train
    from nmt.config import load_config
    from nmt.errors import NmtError

    config = tiny_config(tmp_path, train={"max_steps": 8, "max_epochs": 2, "checkpoint_every": 2,
                                          "nonfinite_loss": policy})
    loaded = load_config(save_config(tmp_path, config))
    monkeypatch.setattr(nmt.step, "masked_cross_entropy", poisoned_loss_after(4))
    checkpoints = Path(config["run_root"]) / "tiny" / "checkpoints"
    if policy == "stop":
        with pytest.raises(NmtError, match=r"^non-finite loss \(nan\) at step 5 \(epoch 1, batch 5\); "
                                           r"stopped without saving, the last checkpoint \(.*ckpt-4\) is intact"):
            nmt.train.train(loaded)
        assert indexed_step(checkpoints) == 4
    else:
        nmt.train.train(loaded)
        assert capsys.readouterr().err.count("batch skipped (train.nonfinite_loss=skip)") >= 4
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(checkpoints)))
    for name, _ in tf.train.list_variables(tf.train.latest_checkpoint(str(checkpoints))):
        if name.startswith("model/"):
            assert np.all(np.isfinite(reader.get_tensor(name))), name


def armed_poison(kind: str, armed: tf.Variable):
    """masked_cross_entropy, plus, while ``armed``: a NaN loss (finite gradients), or a zero
    term whose gradient is NaN (a finite loss with NaN gradients)."""
    import nmt.step

    original = nmt.step.masked_cross_entropy

    @tf.custom_gradient
    def zero_with_nan_gradient(value):
        return tf.zeros_like(value), lambda upstream: upstream * tf.where(armed, np.nan, 0.0)

    def poisoned(logits, targets, label_smoothing=0.0):
        loss_sum, tokens = original(logits, targets, label_smoothing)
        if kind == "loss":
            return loss_sum + tf.where(armed, np.nan, 0.0), tokens
        return loss_sum + zero_with_nan_gradient(tf.cast(logits[0, 0, 0], tf.float32)), tokens
    return poisoned


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["loss", "gradient"])
def test_a_skipped_nonfinite_batch_changes_no_model_or_optimizer_variable(tmp_path, monkeypatch, kind):
    import nmt.step
    import nmt.train
    from nmt.config import load_config
    from nmt.data import epoch_dataset

    armed = tf.Variable(False)
    monkeypatch.setattr(nmt.step, "masked_cross_entropy", armed_poison(kind, armed))
    config = load_config(save_config(tmp_path, tiny_config(tmp_path, train={"nonfinite_loss": "skip"})))
    corpora = nmt.train.read_corpora(config)
    trainer = nmt.train.Trainer(nmt.train.prepare_run(config, corpora), corpora)
    first, second = [batch for batch, _ in zip(epoch_dataset(trainer.corpus, 400, config.seed, 0), range(2))]

    def step(batch) -> tuple[int, float]:
        loss, tokens, outcome, _, _ = trainer.train_step(*batch, tf.constant(0.0, tf.float64), tf.constant(0.003),
                                                         tf.constant(True), tf.constant(0.0))
        return int(outcome), float(loss)

    assert step(first)[0] == nmt.train.APPLIED  # Adam's slots now hold values
    variables = trainer.model.variables + trainer.optimizer.variables
    before = [v.numpy().copy() for v in variables]
    armed.assign(True)
    outcome, loss = step(second)
    assert outcome == nmt.train.SKIPPED and np.isfinite(loss) == (kind == "gradient")
    for variable, old in zip(variables, before, strict=True):
        np.testing.assert_array_equal(variable.numpy(), old, err_msg=variable.path)
    armed.assign(False)
    assert step(second)[0] == nmt.train.APPLIED  # the same batch, clean, is applied
    assert any(not np.array_equal(v.numpy(), old) for v, old in zip(trainer.model.trainable_variables, before))


def limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.slow
def test_full_disk_while_checkpointing_is_a_clear_error_and_keeps_the_last_checkpoint(tmp_path):
    config = tiny_config(tmp_path, train={"max_steps": 4, "checkpoint_every": 2})
    path = save_config(tmp_path, config)
    assert run_cli("train", "--config", str(path)).returncode == 0
    checkpoints = tmp_path / "runs" / "tiny" / "checkpoints"
    before = indexed_step(checkpoints)
    more = save_config(tmp_path, tiny_config(tmp_path, train={"max_steps": 8, "checkpoint_every": 2}), "more.yaml")
    result = subprocess.run([sys.executable, "-m", "nmt.cli", "train", "--config", str(more)], cwd=REPO,
                            capture_output=True, text=True, preexec_fn=limit_file_size(100_000))
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(rf"error: {re.escape(str(checkpoints))}: cannot write a checkpoint at step 6 \(.+\); "
                        rf"the previous checkpoint \(.*ckpt-{before}\) is intact", last), last
    assert "Traceback" not in result.stderr
    assert indexed_step(checkpoints) == before
    tf.train.load_checkpoint(tf.train.latest_checkpoint(str(checkpoints)))
    # a disk that fills while the corpus is tokenized (changed files are tokenized anew) or while
    # a new run's tokenizer is written: one line each, nothing half-written left behind
    for data in (tmp_path / "data").glob("train.*"):
        os.utime(data)
    encoded = tmp_path / "runs" / "tiny" / "encoded"
    for name, limit, expected in (
            ("tiny", 8_000, f"{encoded / 'train'}: cannot write the tokenized corpus"),
            ("tight", 100_000, f"{tmp_path / 'runs' / 'tight'}: cannot write the new run directory")):
        result = subprocess.run([sys.executable, "-m", "nmt.cli", "train", "--config", str(more), f"name={name}"],
                                cwd=REPO, capture_output=True, text=True, preexec_fn=limit_file_size(limit))
        assert result.stderr.strip().splitlines()[-1] == (
            f"error: {expected} (File too large); free space and run the same command again"), result.stderr
        assert "Traceback" not in result.stderr
    assert not list(encoded.glob(".*partial*")) and not (tmp_path / "runs" / "tight").exists()
    assert not list((tmp_path / "runs").glob(".tight.partial*"))


# ---- run directories that try to run code --------------------------------------------------------

def copy_run(run: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


class Payload:
    """Unpickling this runs a shell command: what a malicious model file would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def assert_refused(result, message: str) -> None:
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: " + message), result.stderr


@pytest.mark.slow
def test_pickled_payload_in_place_of_a_checkpoint_is_refused_without_running(trained_run, tmp_path):
    run = copy_run(trained_run, tmp_path)
    marker = tmp_path / "pwned"
    for checkpoint in (run / "best").glob("*.data-*"):
        checkpoint.write_bytes(pickle.dumps(Payload(marker)))
    result = run_cli("translate", "--run", str(run), stdin="Hallo.\n")
    assert_refused(result, f"{run / 'best'}")
    assert not marker.exists()


@pytest.mark.slow
def test_keras_model_with_lambda_layer_in_place_of_a_checkpoint_is_refused(trained_run, tmp_path):
    import keras

    run = copy_run(trained_run, tmp_path)
    marker = tmp_path / "pwned"
    inputs = keras.Input((2,))
    command = f"touch {marker}"
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x + (os.system(command) or 0))(inputs))
    crafted = tmp_path / "crafted.keras"
    model.save(crafted)
    marker.unlink(missing_ok=True)
    for checkpoint in (run / "best").glob("*.data-*"):
        checkpoint.write_bytes(crafted.read_bytes())
    result = run_cli("translate", "--run", str(run), stdin="Hallo.\n")
    assert_refused(result, f"{run / 'best'}")
    assert not marker.exists()


@pytest.mark.slow
def test_python_object_tags_in_the_run_config_are_refused(trained_run, tmp_path):
    run = copy_run(trained_run, tmp_path)
    marker = tmp_path / "pwned"
    config = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(config.replace("name: tiny", f"name: !!python/object/apply:os.system "
                                                                    f"['touch {marker}']"))
    result = run_cli("translate", "--run", str(run), stdin="Hallo.\n")
    assert_refused(result, f"{run / 'config.yaml'}")
    assert not marker.exists()


# ---- hostile text --------------------------------------------------------------------------------

def hostile_lines(count: int) -> bytes:
    """``count`` lines of odd input, as raw bytes (some of them not UTF-8)."""
    kinds = [b"", b"   \t  ", "Ä".encode() * 10_000, b"\x00\x01\x02\x07\x1b[31m rot \x1b[0m",
             "Привет Welt 你好 مرحبا שלום".encode(), "🙂🙃 👩‍👩‍👧 Grüße 🇩🇪".encode(), b"\xff\xfe\xfa kaputt \xc3",
             b"?!.,;:-- ... !!! ???", "Zeile\u2028mit\u2029Trennern\x85und\x0bso\x0c".encode(),
             b"carriage\rreturn inside", "\ufeffBOM am Anfang".encode(), b"Ich habe keine Zeit.",
             ("wort " * 3000).encode(), "e\u0301\u0301\u0301 kombiniert".encode()]
    rng = random.Random(7)
    return b"".join(rng.choice(kinds) + b"\n" for _ in range(count))


@pytest.mark.slow
def test_translating_1000_hostile_lines_returns_1000_lines(trained_run, copy_lines, tmp_path):
    """On the copier run, whose outputs follow their inputs, so a misplaced line shows; 30 of
    its test lines stand among the hostile ones and must come back unchanged, in place."""
    lines = hostile_lines(970).split(b"\n")[:-1]
    for index, line in enumerate(copy_lines[:30]):
        lines.insert(index * 33, line.encode())
    source = tmp_path / "hostile.de"
    source.write_bytes(b"".join(line + b"\n" for line in lines))
    output = tmp_path / "out.en"
    result = run_cli("translate", "--run", str(trained_run), "--input", str(source), "--output", str(output),
                     timeout=600)
    assert result.returncode == 0, result.stderr
    with open(output, encoding="utf-8", newline="\n") as handle:
        translations = handle.read().split("\n")
    assert len(translations) == 1001 and translations[-1] == ""  # 1,000 lines, each ending in "\n"
    assert [translations[index * 33] for index in range(30)] == copy_lines[:30]
    assert "decode.max_input_length" in result.stderr  # the 10,000-character lines were capped
    # each output line belongs to its input line: equal inputs, wherever they stand, get equal
    # outputs, blank inputs blank outputs, and a plain sentence what it gets on its own
    by_input: dict[bytes, set[str]] = {}
    for line, translation in zip(lines, translations):
        by_input.setdefault(line, set()).add(translation)
    assert all(len(outputs) == 1 for outputs in by_input.values()), by_input
    assert by_input[b""] == by_input[b"   \t  "] == {""}
    alone = run_cli("translate", "--run", str(trained_run), stdin="Ich habe keine Zeit.\n")
    assert by_input[b"Ich habe keine Zeit."] == {alone.stdout.rstrip("\n")}
    piped = run_cli("translate", "--run", str(trained_run), stdin=hostile_lines(50).decode("utf-8", "replace"))
    assert piped.returncode == 0 and piped.stdout.count("\n") == 50, piped.stderr


@pytest.mark.slow
def test_a_run_without_a_best_model_translates_from_its_latest_training_checkpoint(trained_run, copy_lines,
                                                                                   tmp_path):
    import shutil

    run = copy_run(trained_run, tmp_path)
    shutil.rmtree(run / "best")  # as after a kill before the first validation
    result = run_cli("translate", "--run", str(run), stdin=f"{copy_lines[0]}\n{copy_lines[1]}\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == copy_lines[:2]
