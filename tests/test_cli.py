"""The `nmt` command end to end on real sentences, and its one-line errors for bad input."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from helpers import REPO, run_cli, save_config, tiny_config, write_corpus

from nmt.errors import first_line

SIGNATURE = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:"


@pytest.fixture(scope="module")
def trained(copier):
    """The suite's copier run: (its directory's parent, its config, what `nmt train` printed)."""
    printed = subprocess.CompletedProcess(["nmt", "train"], 0, (copier.parent / "train.stdout").read_text(),
                                          (copier.parent / "train.stderr").read_text())
    return copier.parent, copier, printed


@pytest.mark.slow
def test_train_writes_a_complete_run_and_prints_the_bleu_table(trained):
    tmp_path, _, result = trained
    run = tmp_path / "runs" / "tiny"
    for name in ("config.yaml", "meta.json", "spm.model", "checkpoints/checkpoint",
                 "best/checkpoint", "report.json", "report.md", "test.en.hyp"):
        assert (run / name).exists(), name
    report = json.loads((run / "report.json").read_text())
    bleu = report["test_sets"]["test"]["BLEU"]
    assert bleu["signature"].startswith(SIGNATURE) and bleu["score"] > 90  # the copier copies
    row = next(line for line in result.stdout.splitlines() if line.startswith("| test |"))
    assert row.startswith(f"| test | 40 | {bleu['score']:.2f} |") and SIGNATURE in result.stdout
    assert len((run / "test.en.hyp").read_text().splitlines()) == 40
    assert "step 250/250" in result.stderr and "validation at step 250" in result.stderr
    assert list((tmp_path / "runs").iterdir()) == [run], "no stray staging directories"


@pytest.mark.slow
def test_translate_stdin_gives_one_line_per_line(trained, copy_lines):
    _, path, _ = trained
    first, second = copy_lines[:2]
    result = run_cli("translate", "--config", str(path), stdin=f"{first}\n\n  \n{second}\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n") == [first, "", "", second, ""]


@pytest.mark.slow
def test_translate_keeps_line_order_across_blocks(copier):
    """Lines are read in blocks of 32 batches and sorted by length within a block; the
    output must still follow the input, block after block (here blocks of 64 lines)."""
    sources = (copier.parent / "data" / "train.de").read_text(encoding="utf-8").splitlines()[:150]
    lines = ["" if index % 10 == 3 else line for index, line in enumerate(sources)]
    result = run_cli("translate", "--config", str(copier), "decode.batch_size=2", "--beam", "1",
                     stdin="".join(line + "\n" for line in lines))
    assert result.returncode == 0, result.stderr
    output = result.stdout.split("\n")[:-1]
    assert len(output) == 150
    assert [index for index, text in enumerate(output) if not text] == \
        [index for index, line in enumerate(lines) if not line]
    copied = [index for index, (line, text) in enumerate(zip(lines, output)) if line and text == line]
    assert len(copied) >= 0.9 * 135, f"only {len(copied)} of 135 lines copied in place"


@pytest.mark.slow
def test_translate_file_and_beam_option_and_evaluate(trained, copy_lines, tmp_path):
    _, path, _ = trained
    source = tmp_path / "in.de"
    source.write_text("".join(line + "\n" for line in copy_lines), encoding="utf-8")
    output = tmp_path / "out.en"
    result = run_cli("translate", "--config", str(path), "--input", str(source),
                     "--output", str(output), "--beam", "3")
    assert result.returncode == 0, result.stderr
    assert output.read_text(encoding="utf-8").splitlines() == copy_lines
    evaluated = run_cli("evaluate", "--config", str(path), "decode.beam_size=1")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "beam 1" in evaluated.stdout and SIGNATURE in evaluated.stdout
    bleu = float(next(line for line in evaluated.stdout.splitlines() if line.startswith("| test |")).split("|")[3])
    assert bleu > 90


def assert_one_line_error(result, message: str):
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0], lines[0]


def corrupt(kind: str, config: dict) -> str:
    """Break a tiny config or its corpus; return the message expected."""
    train = Path(config["data"]["train"])
    if kind == "misspelled key":
        config["model"]["hiden"] = 3
        return "unknown key 'model.hiden'"
    if kind == "missing corpus":
        config["data"]["dev"] = str(train.parent / "nope")
        return "nope.de: corpus file not found"
    if kind == "line counts":
        with open(f"{train}.en", "a", encoding="utf-8") as handle:
            handle.write("One more line.\n")
        return "train.de has 300 lines but"
    if kind == "empty corpus":
        Path(f"{train}.de").write_text("", encoding="utf-8")
        Path(f"{train}.en").write_text("", encoding="utf-8")
        return "train.de: corpus is empty"
    if kind == "non-utf8":
        lines = Path(f"{train}.de").read_bytes().split(b"\n")
        lines[41] = b"Gr\xfc\xdfe aus M\xfcnchen."
        Path(f"{train}.de").write_bytes(b"\n".join(lines))
        return "train.de:42: not valid UTF-8"
    if kind == "bad override value":
        config["train"]["max_steps"] = -1
        return "train.max_steps: expected a value at least 1, got -1"
    raise ValueError(kind)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["misspelled key", "missing corpus", "line counts", "empty corpus",
                                  "non-utf8", "bad override value"])
def test_bad_training_input_is_one_line_and_leaves_no_run(tmp_path, kind):
    config = tiny_config(tmp_path)
    message = corrupt(kind, config)
    result = run_cli("train", "--config", str(save_config(tmp_path, config)))
    assert_one_line_error(result, message)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.slow
def test_tokenizer_that_does_not_match_the_model_is_refused(trained, tmp_path):
    source_dir, _, _ = trained
    run = tmp_path / "run"
    shutil.copytree(source_dir / "runs" / "tiny", run)
    other = tiny_config(tmp_path, name="other", tokenizer={"vocab_size": 500})
    other_path = save_config(tmp_path, other, "other.yaml")
    from nmt.config import load_config
    from nmt.run import create_run
    from nmt.train import training_side
    config = load_config(other_path)
    create_run(config, lambda side: training_side(config, side))
    shutil.copy(tmp_path / "runs" / "other" / "spm.model", run / "spm.model")
    before = sorted(p.name for p in run.rglob("*"))
    result = run_cli("translate", "--run", str(run), stdin="Hallo.\n")
    assert_one_line_error(result, "spm.model: tokenizer does not match the one this model was trained")
    assert sorted(p.name for p in run.rglob("*")) == before


@pytest.mark.slow
def test_changing_the_model_of_an_existing_run_is_refused(trained):
    _, path, _ = trained
    result = run_cli("train", "--config", str(path), "model.decoder_units=48")
    assert_one_line_error(result, "run was created with model.decoder_units=64, config now says 48")


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["translate", "--run", "/nonexistent/run"], "/nonexistent/run: no trained run here"),
    (["translate", "--run", "/nonexistent/run", "--input", "/nonexistent.txt"], "no trained run here"),
    (["translate", "--run", "/nonexistent/run", "--beam", "0"], "no trained run here"),
    (["train", "--config", "configs/missing.yaml"], "configs/missing.yaml: config file not found"),
    (["train", "--config", "configs/default.yaml", "train.max_steps"], "expected key.path=value"),
])
def test_bad_command_line(args, message):
    assert_one_line_error(run_cli(*args), message)


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--input", "/nonexistent.txt"], "/nonexistent.txt: input file not found"),
    (["--beam", "0"], "--beam: expected a value between 1 and 100, got 0"),
    (["model.encoder_units=8"], "run was created with model.encoder_units=32, config now says 8"),
    (["decode.beam_size=x"], "decode.beam_size: expected an integer, got 'x'"),
])
def test_bad_translate_arguments_for_a_trained_run(trained, args, message):
    _, path, _ = trained
    assert_one_line_error(run_cli("translate", "--config", str(path), *args, stdin="Hallo.\n"), message)


@pytest.mark.slow
def test_overlong_line_is_cut_with_a_warning_and_keeps_line_count(trained, copy_lines):
    _, path, _ = trained
    long_line = "Ich habe heute keine Zeit, " * 300
    result = run_cli("translate", "--config", str(path), "decode.max_input_length=50",
                     stdin=f"{copy_lines[0]}\n{long_line}\n\u0007\U0001F600 Zeit!\n{copy_lines[1]}\n")
    assert result.returncode == 0, result.stderr
    output = result.stdout.split("\n")
    assert len(output) == 5 and output[0] == copy_lines[0] and output[3] == copy_lines[1]
    assert "warning: input line 2 has" in result.stderr
    assert "translating the first 49 (decode.max_input_length)" in result.stderr


@pytest.mark.slow
def test_inspect_writes_a_plot_and_prints_the_translation(trained, copy_lines, tmp_path):
    _, path, _ = trained
    plot = tmp_path / "gates.png"
    result = run_cli("inspect", "--config", str(path), "--text", copy_lines[0],
                     "--beam", "2", "--output", str(plot))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [copy_lines[0]]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_inspect_without_text_and_compare_with_bad_vary(trained):
    _, path, _ = trained
    assert_one_line_error(run_cli("inspect", "--config", str(path), "--text", "  "),
                          "--text: expected a sentence, got an empty string")
    assert_one_line_error(run_cli("compare", "--config", str(path), "--vary", "model.cell"),
                          "--vary 'model.cell': expected key.path=value1,value2,...")


@pytest.mark.slow
@pytest.mark.parametrize("level", [None, "0", "2", "3"])
def test_one_line_errors_whatever_tf_cpp_min_log_level_says(trained_run, level):
    """TensorFlow's C++ log lines never reach the user's stderr (NMT_DEBUG=1 shows them)."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("TF_") and key != "NMT_DEBUG"}
    if level is not None:
        environment["TF_CPP_MIN_LOG_LEVEL"] = level
    result = subprocess.run([sys.executable, "-m", "nmt.cli", "translate", "--run", str(trained_run),
                             "--weights", "averaged"], input="Hallo\n", capture_output=True, text=True,
                            cwd=REPO, env=environment, timeout=300)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {trained_run / 'averaged'}: no averaged checkpoint; run `nmt average` first"]


@pytest.mark.slow
def test_nmt_debug_prints_the_traceback_behind_a_one_line_error(trained_run):
    environment = {**os.environ, "NMT_DEBUG": "1"}
    result = subprocess.run([sys.executable, "-m", "nmt.cli", "translate", "--run", str(trained_run),
                             "--weights", "averaged"], input="Hallo\n", capture_output=True, text=True,
                            cwd=REPO, env=environment, timeout=300)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert "Traceback (most recent call last):" in lines
    assert lines[-1] == f"error: {trained_run / 'averaged'}: no averaged checkpoint; run `nmt average` first"


def lazy_import_modules() -> list[str]:
    """The modules pyproject.toml lets import lazily: those a command passes through before
    TensorFlow loads (nmt/process.py)."""
    ignores = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]["per-file-ignores"]
    pattern = next(key for key in ignores if key.startswith("nmt/{"))
    return [f"nmt.{name}" for name in re.fullmatch(r"nmt/\{(.*)\}\.py", pattern).group(1).split(",")]


@pytest.mark.slow
def test_importing_the_cli_and_the_lazy_modules_does_not_import_tensorflow():
    """Every command decides how TensorFlow is imported (quietly, after its own checks): a
    module-level TensorFlow import anywhere on the CLI's import path, or in a module
    pyproject.toml lists as importing lazily, breaks that."""
    modules = lazy_import_modules()
    assert {"nmt.cli", "nmt.commands", "nmt.quick", "nmt.translate"} <= set(modules)
    code = (f"import sys, {', '.join(modules)}; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_first_line_quotes_one_line_of_a_library_error():
    class OpError(Exception):
        message = "  Failed to write\nstack trace line 1\nline 2"

    assert first_line(OpError("ignored")) == "Failed to write"
    assert first_line(ValueError("x" * 500)) == "x" * 160
    assert first_line(ValueError("")) == "ValueError"


@pytest.mark.slow
def test_score_writes_one_line_per_pair_and_refuses_unequal_files(trained, copy_lines, tmp_path):
    _, path, _ = trained
    source, target = tmp_path / "pairs.de", tmp_path / "pairs.en"
    source.write_text(f"{copy_lines[0]}\n{copy_lines[1]}\n\n", encoding="utf-8")
    target.write_text(f"{copy_lines[0]}\n{copy_lines[2]}\n\n", encoding="utf-8")  # a copy, then another line
    result = run_cli("score", "--config", str(path), "--source", str(source), "--target", str(target))
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert len(rows) == 3 and all(len(row) == 3 for row in rows)
    for total, per_token, tokens in rows:
        assert float(total) < 0 and abs(float(total) / int(tokens) - float(per_token)) < 1e-5
    assert float(rows[0][1]) > -0.5 > -2 > float(rows[1][1])  # the copier finds a copy likely, another line not
    assert rows[2][2] == "1"  # an empty translation is scored on its EOS alone
    target.write_text("Good morning.\n", encoding="utf-8")
    assert_one_line_error(run_cli("score", "--config", str(path), "--source", str(source), "--target", str(target)),
                          f"{target}: 1 translations for the 3 lines of {source}; expected one translation per "
                          f"source line")


@pytest.mark.slow
def test_translate_nbest_scores_and_json_lines(trained, copy_lines, tmp_path):
    _, path, _ = trained
    text = f"{copy_lines[0]}\n\n{copy_lines[1]}\n"
    plain = run_cli("translate", "--config", str(path), "--beam", "3", stdin=text)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines() == [copy_lines[0], "", copy_lines[1]]
    nbest = run_cli("translate", "--config", str(path), "--beam", "3", "--nbest", "3", stdin=text)
    assert nbest.returncode == 0, nbest.stderr
    rows = [line.split("\t") for line in nbest.stdout.splitlines()]
    assert [(int(r[0]), int(r[1])) for r in rows] == [(line, rank) for line in (1, 2, 3) for rank in (1, 2, 3)]
    for line in (1, 3):
        scores = [float(r[2]) for r in rows if int(r[0]) == line]
        assert scores == sorted(scores, reverse=True)
    assert [r[3] for r in rows if r[1] == "1"] == plain.stdout.splitlines()
    scored = run_cli("translate", "--config", str(path), "--beam", "3", "--scores", stdin=text)
    pairs = [line.split("\t") for line in scored.stdout.splitlines()]
    assert [p[1] for p in pairs] == plain.stdout.splitlines()
    assert [float(p[0]) for p in pairs] == [float(r[2]) for r in rows if r[1] == "1"]
    jsonl = run_cli("translate", "--config", str(path), "--beam", "3", "--nbest", "2", "--jsonl", stdin=text)
    records = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3] and [len(r["nbest"]) for r in records] == [2, 2, 2]
    assert records[0]["nbest"][0]["translation"] == plain.stdout.splitlines()[0]
    assert_one_line_error(run_cli("translate", "--config", str(path), "--beam", "3", "--nbest", "4", stdin=text),
                          "--nbest: expected a value between 1 and the beam size (3), got 4")


@pytest.mark.slow
def test_translate_completes_prefixes_from_a_file_or_after_a_tab(trained, copy_lines, tmp_path):
    _, path, _ = trained
    sources = "".join(line + "\n" for line in copy_lines[:3])
    free = run_cli("translate", "--config", str(path), "--beam", "2", stdin=sources).stdout.splitlines()
    assert free == copy_lines[:3]
    other_word = next(word for line in copy_lines for word in line.split() if word not in free[0].split())
    prefixes = tmp_path / "prefixes.en"
    prefixes.write_text(f"{other_word}\n{free[1].split()[0]}\n\n", encoding="utf-8")
    result = run_cli("translate", "--config", str(path), "--beam", "2", "--prefix-file", str(prefixes), stdin=sources)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(other_word + " ") and lines[1:] == free[1:]  # its own first word, or none: unchanged
    tabbed = "".join(f"{s}\t{p}\n" for s, p in zip(sources.splitlines(), prefixes.read_text().splitlines()))
    tab = run_cli("translate", "--config", str(path), "--beam", "2", "--tab-prefix", stdin=tabbed)
    assert tab.stdout == result.stdout
    prefixes.write_text("Maybe\n", encoding="utf-8")
    assert_one_line_error(run_cli("translate", "--config", str(path), "--prefix-file", str(prefixes), stdin=sources),
                          f"{prefixes}: ends after 1 prefixes, before the input does; expected one prefix per "
                          f"input line")


@pytest.mark.slow
def test_translate_alignments_link_words_of_the_two_sides(trained, copy_lines, tmp_path):
    _, path, _ = trained
    text = f"{copy_lines[0]}\n\n{copy_lines[1]}\n"
    plain = run_cli("translate", "--config", str(path), "--beam", "2", stdin=text).stdout.splitlines()
    assert plain == [copy_lines[0], "", copy_lines[1]]
    result = run_cli("translate", "--config", str(path), "--beam", "2", "--alignments", stdin=text)
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [row[0] for row in rows] == plain and rows[1] == ["", ""]
    for (translation, pairs), source in zip(rows, text.splitlines()):
        for pair in pairs.split():
            s, t = map(int, pair.split("-"))
            assert 0 <= s < len(source.split()) and 0 <= t < len(translation.split())
    assert_one_line_error(run_cli("translate", "--config", str(path), "--alignments", "--nbest", "1", stdin=text),
                          "--alignments: expected on its own (or with --jsonl), not with --nbest, --scores or a prefix")


@pytest.mark.slow
def test_translate_with_an_ensemble_of_two_different_runs(trained, copy_lines, tmp_path):
    """The copier and a run started from it (same tokenizer) that has learned a little of
    reversing the words: where they disagree, the ensemble's scores are neither's alone."""
    directory, path, _ = trained
    run = str(directory / "runs" / "tiny")
    sources = (directory / "data" / "train.de").read_text(encoding="utf-8").splitlines()
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config.update(name="reverser", run_root=str(tmp_path / "runs"))
    config["data"]["train"] = write_corpus(tmp_path / "data", "train",
                                           [(line, " ".join(reversed(line.split()))) for line in sources])
    config["train"].update(init_from=run, max_steps=30, checkpoint_every=30)
    trained_other = run_cli("train", "--config", str(save_config(tmp_path, config, "reverser.yaml")))
    assert trained_other.returncode == 0, trained_other.stderr
    reverser = str(tmp_path / "runs" / "reverser")
    text = "".join(line + "\n" for line in copy_lines[:8])
    alone, other, together = (run_cli("translate", *runs, "--scores", stdin=text)
                              for runs in (("--run", run), ("--run", reverser), ("--run", run, "--run", reverser)))
    assert alone.returncode == other.returncode == together.returncode == 0, together.stderr
    assert f"ensemble of 2 runs: {run}, {reverser}" in together.stderr
    rows = [[line.split("\t") for line in result.stdout.splitlines()] for result in (alone, other, together)]
    assert [translation for _, translation in rows[0]] == copy_lines[:8]
    disagree = [index for index in range(8) if rows[0][index][1] != rows[1][index][1]]
    assert disagree, "the reverser still copies"
    for index in disagree:
        score = float(rows[2][index][0])
        assert min(abs(score - float(rows[0][index][0])), abs(score - float(rows[1][index][0]))) > 1e-3
    other = save_config(tmp_path, tiny_config(tmp_path, name="other", tokenizer={"vocab_size": 420},
                                              train={"max_steps": 1}))
    assert run_cli("train", "--config", str(other)).returncode == 0
    refused = run_cli("translate", "--run", run, "--run", str(tmp_path / "runs" / "other"), stdin=text)
    assert refused.returncode == 2
    assert refused.stderr == (f"error: --run {tmp_path / 'runs' / 'other'}: its tokenizer differs from that "
                              f"of --run {run}; an ensemble needs runs trained with the same tokenizer "
                              f"(train.init_from copies it)\n")


@pytest.mark.slow
def test_sampling_is_reproducible_with_its_seed_and_differs_from_search(trained, copy_lines):
    _, path, _ = trained
    text = "".join(line + "\n" for line in copy_lines[:8])
    greedy = run_cli("translate", "--config", str(path), "--beam", "1", stdin=text)
    draws = [run_cli("translate", "--config", str(path), "--sample", "--temperature", "3", "--seed", seed, stdin=text)
             for seed in ("5", "5", "6")]
    assert all(result.returncode == 0 for result in (greedy, *draws)), draws[0].stderr
    assert greedy.stdout.splitlines() == copy_lines[:8]
    assert draws[0].stdout == draws[1].stdout and len(draws[0].stdout.splitlines()) == 8  # same seed, same draws
    assert draws[0].stdout != greedy.stdout and draws[0].stdout != draws[2].stdout
