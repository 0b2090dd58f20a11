"""The exported SavedModel translates exactly like `nmt translate`, without this project."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers import run_cli, shipped_pairs, with_spans

from nmt.export import UNGLOSSED_NOTE
from nmt.protect import protect

# Loads the SavedModel with nothing but TensorFlow (and TensorFlow Text's ops): run with
# -S -E -P, so neither site's .pth files (the editable install) nor the cwd reach sys.path.
SERVE = """
import importlib.util, json, sys
sys.path.append(sys.argv[1])
assert importlib.util.find_spec("nmt") is None, "the project is importable"
import tensorflow as tf
import tensorflow_text
serve = tf.saved_model.load(sys.argv[2]).signatures["serving_default"]
lines = json.loads(open(sys.argv[3], encoding="utf-8").read())
result = serve(text=tf.constant(lines))
json.dump({"translations": [t.decode("utf-8") for t in result["translations"].numpy()],
           "scores": result["scores"].numpy().tolist()}, sys.stdout)
"""

# protected spans alone, glued, nested, an access key with no letter to mark (decode.protect is on)
SPANS = ["%s %d", "<b>%1</b>", "_Datei", "~%s (%s)", "%3$se %4$s", "_…", "{name}: <i>%s</i>."]
HOSTILE = ["", "   ", "\t\x0b", "Ich habe keine Zeit.", "a\u2028b\x85c", "\x1b[31mrot\x1b[0m",
           "emoji 😀 Ελληνικά عربى", "x" * 700, "Zeile mit \r Wagenrücklauf"]


def serve_in_fresh_python(export_dir: Path, lines: list[str], tmp_path: Path) -> dict:
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps(lines), encoding="utf-8")
    script = tmp_path / "serve.py"
    script.write_text(SERVE, encoding="utf-8")
    result = subprocess.run([sys.executable, "-S", "-E", "-P", str(script),
                             sysconfig.get_paths()["purelib"], str(export_dir), str(inputs)],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("beam", [1, 2])
def test_exported_model_matches_nmt_translate(trained_run, copy_lines, tmp_path, beam):
    lines = copy_lines + with_spans(copy_lines) + [de for de, _ in shipped_pairs("test", 10)] + SPANS + HOSTILE
    source = tmp_path / "source.txt"
    source.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    translated = run_cli("translate", "--run", str(trained_run), "--beam", str(beam),
                         "--input", str(source))
    assert translated.returncode == 0, translated.stderr
    exported = run_cli("export", "--run", str(trained_run), "--beam", str(beam),
                       "--output", str(tmp_path / "export"))
    assert exported.returncode == 0, exported.stderr
    version = Path(exported.stdout.strip())
    assert version == tmp_path / "export" / "1" and (version / "saved_model.pb").is_file()

    served = serve_in_fresh_python(version, lines, tmp_path)
    answers = copy_lines + with_spans(copy_lines)  # the copier's, spans put back
    assert served["translations"][:len(answers)] == answers
    assert served["translations"] == translated.stdout.splitlines()
    scores = np.array(served["scores"])
    untranslated = [not protect(line).text.strip() for line in lines]  # blank, or spans alone
    assert untranslated.count(True) == 5  # three blank lines, "%s %d" and "<b>%1</b>"
    assert np.all(scores[untranslated] == 0) and np.all(scores[np.logical_not(untranslated)] < 0)


@pytest.mark.slow
def test_the_exported_model_applies_the_search_safeguards_as_nmt_translate_does(copier, tmp_path):
    """decode.min_length_ratio and decode.no_repeat_ngram reach the SavedModel's search: the
    copier, which translates each line into itself, must write longer lines without repeats."""
    run = str(copier.parent / "runs" / "tiny")
    lines = (copier.parent / "data" / "test.de").read_text(encoding="utf-8").splitlines()[:8]
    source = tmp_path / "source.txt"
    source.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    safeguards = ("decode.min_length_ratio=2.0", "decode.no_repeat_ngram=2")
    plain = run_cli("translate", "--run", run, "--beam", "2", "--input", str(source))
    guarded = run_cli("translate", "--run", run, "--beam", "2", "--input", str(source), *safeguards)
    exported = run_cli("export", "--run", run, "--beam", "2", "--output", str(tmp_path / "export"), *safeguards)
    assert plain.returncode == guarded.returncode == exported.returncode == 0, guarded.stderr + exported.stderr
    copied = sum(p == line for p, line in zip(plain.stdout.splitlines(), lines, strict=True))
    assert copied >= 6, plain.stdout  # without safeguards the copier copies (nearly) every line
    guarded_lines = guarded.stdout.splitlines()
    assert all(len(g) > len(line) for g, line in zip(guarded_lines, lines, strict=True)), guarded.stdout
    served = serve_in_fresh_python(Path(exported.stdout.strip()), lines, tmp_path)
    assert served["translations"] == guarded_lines


@pytest.mark.slow
def test_each_export_is_a_new_version_and_a_glossary_is_said_to_stay_behind(trained_run, tmp_path):
    terms = tmp_path / "terms.tsv"
    terms.write_text("Haus\thouse\n", encoding="utf-8")
    for expected, overrides in (("1", []), ("2", [f"decode.glossary={terms}"])):
        result = run_cli("export", "--run", str(trained_run), "--beam", "1",
                         "--output", str(tmp_path / "export"), *overrides)
        assert result.returncode == 0, result.stderr
        assert Path(result.stdout.strip()).name == expected
        assert (result.stderr.splitlines()[-1] == UNGLOSSED_NOTE) == bool(overrides), result.stderr
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["1", "2"]


def _checkpoint_values(path: str) -> dict[str, np.ndarray]:
    reader = tf.train.load_checkpoint(path)
    return {key: reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
            if key.startswith("model/") and "seed_generator" not in key}


@pytest.mark.slow
def test_average_is_the_mean_of_the_last_checkpoints(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    kept = tf.train.get_checkpoint_state(str(run / "checkpoints")).all_model_checkpoint_paths
    assert len(kept) >= 2
    result = run_cli("average", "--run", str(run), "--last", "2")
    assert result.returncode == 0, result.stderr
    averaged = _checkpoint_values(tf.train.latest_checkpoint(str(run / "averaged")))
    older, newer = _checkpoint_values(kept[-2]), _checkpoint_values(kept[-1])
    assert averaged.keys() == newer.keys() and len(averaged) > 5
    for key, value in averaged.items():
        np.testing.assert_allclose(value, (older[key] + newer[key]) / 2, rtol=1e-6, atol=1e-7)
    assert any(not np.array_equal(older[key], newer[key]) for key in averaged)

    translated = run_cli("translate", "--run", str(run), "--weights", "averaged", "--beam", "1",
                         stdin="Ich habe keine Zeit.\n")
    assert translated.returncode == 0, translated.stderr
    assert len(translated.stdout.splitlines()) == 1


@pytest.mark.slow
def test_average_errors(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    kept = len(tf.train.get_checkpoint_state(str(run / "checkpoints")).all_model_checkpoint_paths)
    result = run_cli("average", "--run", str(run), "--last", str(kept + 1))
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {run / 'checkpoints'}: asked to average the last "
                                     f"{kept + 1} checkpoints but there are {kept} "
                                     f"(train.keep_checkpoints sets how many are kept)")
    result = run_cli("translate", "--run", str(run), "--weights", "averaged", stdin="Hallo\n")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {run / 'averaged'}: no averaged checkpoint; "
                                     f"run `nmt average` first")
