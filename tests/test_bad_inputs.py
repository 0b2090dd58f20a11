"""Every bad input meets one exact line on stderr, exit status 2 and no traceback.

Each case breaks one thing - a config, a corpus, a command-line argument, a run
directory or the translation input - and names the exact message the user sees.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from helpers import run_cli, run_script, save_config, tiny_config


def config_file(tmp: Path, text: str | bytes) -> str:
    path = tmp / "case.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def tiny(tmp: Path, **sections) -> str:
    return str(save_config(tmp, tiny_config(tmp, **sections), "case.yaml"))


def directory(tmp: Path, prefix: str) -> str:
    for lang in ("de", "en"):
        (tmp / f"{prefix}.{lang}").mkdir()
    return str(tmp / prefix)


def broken_corpus(tmp: Path, side: str, data: bytes) -> str:
    config = tiny_config(tmp)
    Path(f"{config['data']['train']}.{side}").write_bytes(data)
    return str(save_config(tmp, config, "case.yaml"))


def run_copy(run: Path, tmp: Path, damage) -> str:
    copy = tmp / "run"
    shutil.copytree(run, copy)
    damage(copy)
    return str(copy)


def drop_checkpoints(run: Path) -> None:
    shutil.rmtree(run / "checkpoints")
    shutil.rmtree(run / "best")


def truncate_checkpoint(run: Path) -> None:
    for data in (run / "best").glob("*.data-*"):
        data.write_bytes(data.read_bytes()[:100])


def user_corpus(tmp: Path, files: dict[str, bytes]) -> list[str]:
    """Overrides that build the "user" corpus from ``files`` into tmp/user/, never into the
    repository's data/."""
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    out = tmp / "user"
    return ["data.corpus=user", "data.sources=[" + ",".join(str(tmp / name) for name in files) + "]",
            f"data.train={out}/train", f"data.dev={out}/dev", f"data.test=[{out}/test]"]


# (case, function of (tmp, run) -> (argv, stdin), expected stderr line with {tmp} and {run})
CASES = [
    # ---- configs
    ("missing config", lambda t, r: (["train", "--config", f"{t}/nope.yaml"], None),
     "{tmp}/nope.yaml: config file not found"),
    ("invalid yaml", lambda t, r: (["train", "--config", config_file(t, "model: [1, 2\n")], None),
     "{tmp}/case.yaml: line 2: expected ',' or ']', but got '<stream end>'"),
    ("misspelled key", lambda t, r: (["train", "--config", config_file(t, "model:\n  encoder_unit: 3\n")], None),
     "{tmp}/case.yaml: unknown key 'model.encoder_unit'; did you mean 'model.encoder_units'?"),
    ("wrong type", lambda t, r: (["train", "--config", config_file(t, "train:\n  max_steps: ten\n")], None),
     "{tmp}/case.yaml: train.max_steps: expected an integer, got 'ten'"),
    ("out of range", lambda t, r: (["train", "--config", config_file(t, "model:\n  dropout: 1.5\n")], None),
     "{tmp}/case.yaml: model.dropout: expected a value between 0.0 and 0.9, got 1.5"),
    ("unknown cell", lambda t, r: (["train", "--config", config_file(t, "model:\n  cell: lstmx\n")], None),
     "{tmp}/case.yaml: model.cell: expected one of lstm, peephole, cifg, gru, got 'lstmx'"),
    ("section is a scalar", lambda t, r: (["train", "--config", config_file(t, "model: 3\n")], None),
     "{tmp}/case.yaml: model: expected a mapping of keys"),
    ("not utf-8 config", lambda t, r: (["train", "--config", config_file(t, b"name: M\xfcnchen\n")], None),
     "{tmp}/case.yaml: not UTF-8 text (byte 7)"),
    ("override without =", lambda t, r: (["train", "--config", tiny(t), "train.max_steps"], None),
     "override 'train.max_steps': expected key.path=value"),
    ("override through a value", lambda t, r: (["train", "--config", tiny(t), "seed.x=1"], None),
     "{tmp}/case.yaml (with overrides): seed: expected an integer, got {{'x': 1}}"),
    # ---- corpora
    ("missing corpus file", lambda t, r: (["train", "--config", tiny(t, data={"dev": f"{t}/none"})], None),
     "{tmp}/none.de: corpus file not found, and data.corpus='tiny' has no recipe (recipes: ding-de-en, "
     "debian-de-en, debian-de-en-phrases, debian-fr-en, debian-es-en, bible-en-es, user, manythings-<xx>-en, "
     "tatoeba-<xx>-<yy>, sacrebleu-<test set>-<xx>-<yy>)"),
    ("line counts differ", lambda t, r: (["train", "--config", broken_corpus(t, "en", b"One.\nTwo.\n")], None),
     "{tmp}/data/train.de has 300 lines but {tmp}/data/train.en has 2; parallel files must align line by line"),
    ("not utf-8 corpus", lambda t, r: (["train", "--config", broken_corpus(t, "de", b"ok\nGr\xfc\xdfe\n" * 150)], None),
     "{tmp}/data/train.de:2: not valid UTF-8 (byte 3 of the line)"),
    ("blank corpus", lambda t, r: (["train", "--config", broken_corpus(t, "de", b" \n" * 300)], None),
     "{tmp}/data/train.de: corpus is empty (no line pair with text on both sides)"),
    ("corpus is a directory", lambda t, r: (["train", "--config", tiny(t, data={"dev": directory(t, "dir")})], None),
     "{tmp}/dir.de: is a directory, expected a text file"),
    ("nothing within max_length", lambda t, r: (["train", "--config", tiny(t, data={"max_length": 4})], None),
     "{tmp}/data/train: no training pair within data.max_length=4 tokens"),
    ("tsv line without tab", lambda t, r: (["prepare", *user_corpus(
        t, {"a.tsv": b"Eins zwei drei.\tOne two three.\nkein Tab\n"}), f"data.cache={t}"], None),
     "{tmp}/a.tsv:2: expected tab-separated columns (source<TAB>target), found no tab"),
    ("binary garbage", lambda t, r: (["prepare", *user_corpus(
        t, {"a.de": b"\x89PNG\r\n\x1a\n\x00\x00", "a.en": b"x\ny\n"}), f"data.cache={t}"], None),
     "{tmp}/a.de:1: not valid UTF-8 (byte 1 of the line)"),
    ("nul bytes", lambda t, r: (["prepare", *user_corpus(
        t, {"a.de": b"Eins zwei drei.\n\x00\x00\x01\n", "a.en": b"x\ny\n"}), f"data.cache={t}"], None),
     "{tmp}/a.de:2: binary data (NUL byte), expected UTF-8 text"),
    ("empty user file", lambda t, r: (["prepare", *user_corpus(
        t, {"a.de": b"", "a.en": b"x\n"}), f"data.cache={t}"], None),
     "{tmp}/a.de: empty file, expected one sentence per line"),
    ("unknown recipe", lambda t, r: (["prepare", "--corpus", "wmt99"], None),
     "data.corpus: no recipe called 'wmt99' (recipes: ding-de-en, debian-de-en, debian-de-en-phrases, "
     "debian-fr-en, debian-es-en, bible-en-es, user, manythings-<xx>-en, tatoeba-<xx>-<yy>, "
     "sacrebleu-<test set>-<xx>-<yy>)"),
    ("three user files", lambda t, r: (["prepare", *user_corpus(
        t, {"a": b"x\n", "b": b"x\n", "c": b"x\n"})], None),
     "data.sources: expected [source_file, target_file] or [tsv_file], got 3 files"),
    # ---- command-line arguments
    ("beam 0", lambda t, r: (["translate", "--run", str(r), "--beam", "0"], ""),
     "--beam: expected a value between 1 and 100, got 0"),
    ("beam 101", lambda t, r: (["translate", "--run", str(r), "--beam", "101"], ""),
     "--beam: expected a value between 1 and 100, got 101"),
    ("missing input file", lambda t, r: (["translate", "--run", str(r), "--input", f"{t}/in.de"], None),
     "{tmp}/in.de: input file not found"),
    ("input is a directory", lambda t, r: (["translate", "--run", str(r), "--input", str(t)], None),
     "{tmp}: is a directory, expected a text file"),
    ("output in a missing directory", lambda t, r: (["translate", "--run", str(r), "--output",
                                                     f"{t}/no/such/out.en"], "Hallo.\n"),
     "{tmp}/no/such/out.en: cannot write the output (No such file or directory)"),
    ("temperature 0", lambda t, r: (["translate", "--run", str(r), "--sample", "--temperature", "0"], ""),
     "--temperature: expected a number above 0, got 0.0"),
    ("top-k without sampling", lambda t, r: (["translate", "--run", str(r), "--top-k", "5"], ""),
     "--temperature, --top-k and --seed: expected together with --sample"),
    ("empty inspect text", lambda t, r: (["inspect", "--run", str(r), "--text", " "], None),
     "--text: expected a sentence, got an empty string"),
    ("malformed vary", lambda t, r: (["compare", "--config", tiny(t), "--vary", "model.cell"], None),
     "--vary 'model.cell': expected key.path=value1,value2,..."),
    ("bench steps 0", lambda t, r: (["benchmarks/bench.py", "--config", tiny(t), "--steps", "0"], None),
     "--steps: expected a positive number, got 0"),
    ("bench-peer rounds 0", lambda t, r: (["benchmarks/bench_peer.py", "--config", tiny(t), "--rounds", "0"], None),
     "--rounds: expected a positive number, got 0"),
    ("bench-peer without JoeyNMT", lambda t, r: (["benchmarks/bench_peer.py", "--config", tiny(t),
                                                  "--peer-python", f"{t}/none/python"], None),
     "{tmp}/none/python: not found; `make bench-peer` installs JoeyNMT there"),
    # ---- run directories
    ("no run", lambda t, r: (["translate", "--run", f"{t}/nothing"], ""),
     "{tmp}/nothing: no trained run here (config.yaml missing); run `make train` first"),
    ("meta.json missing",
     lambda t, r: (["translate", "--run", run_copy(r, t, lambda d: (d / "meta.json").unlink())], ""),
     "{tmp}/run/meta.json: missing or unreadable run metadata"),
    ("no checkpoint", lambda t, r: (["translate", "--run", run_copy(r, t, drop_checkpoints)], ""),
     "{tmp}/run: no checkpoint yet; run `make train` first"),
    ("torn checkpoint", lambda t, r: (["translate", "--run", run_copy(r, t, truncate_checkpoint)], "Hallo.\n"),
     "{tmp}/run/best/{best}: checkpoint does not fit the model in {tmp}/run/config.yaml and its tokenizer"),
    ("model changed", lambda t, r: (["evaluate", "--run", str(r), "model.decoder_units=48"], None),
     "{run}: run was created with model.decoder_units=64, config now says 48; use a new name or "
     "delete the run directory"),
]


@pytest.mark.slow
@pytest.mark.parametrize("case, make, expected", CASES, ids=[case for case, _, _ in CASES])
def test_bad_input_is_one_exact_line(trained_run, tmp_path, case, make, expected):
    argv, stdin = make(tmp_path, trained_run)
    result = run_script(*argv) if argv[0].endswith(".py") else run_cli(*argv, stdin=stdin)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    best = re.search(r'model_checkpoint_path: "([^"]+)"', (trained_run / "best" / "checkpoint").read_text()).group(1)
    expected_line = "error: " + expected.format(tmp=tmp_path, run=trained_run, best=best)
    assert lines[-1] == expected_line or lines[-1].startswith(expected_line + " ("), lines

