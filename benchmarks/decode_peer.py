"""`make decode-peer`: decoding speed of trained models, ours against JoeyNMT, with BLEU.

    .venv/bin/python benchmarks/decode_peer.py [--steps 500] [--rounds 2] [key=value ...]

1. Trains ``configs/bench.yaml``'s model for ``--steps`` updates (``nmt train``, run
   ``runs/decode-peer``; a finished run is reused).
2. Writes the batches it trained on, in order, and the test set's sources as token ids.
3. JoeyNMT (``.venv-peer``) trains the same shapes on the same batches, one update each,
   keeps its weights, and translates the test set (``joeynmt_side.py --trained``).
4. Ours translates the same sentences with its weights after the last update.

Both translate greedy and beam 5, at batch 1 (the first ``--batch1`` sentences) and 64
(the whole test set, or its first ``--sentences``), in alternated rounds; the report holds the median sentences/s
of the rounds and the BLEU of each side's batch-64 translations.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
from bench import peer_shapes  # benchmarks/, this script's directory

from nmt.config import Config, load_config
from nmt.errors import NmtError
from nmt.files import write_atomic
from nmt.process import report_errors

HERE = Path(__file__).resolve().parent
SETTINGS = [(beam, batch) for beam in (1, 5) for batch in (1, 64)]


def train_ours(config_path: str, overrides: list[str]) -> None:
    """``nmt train`` in a child process (its progress on stderr); resumes or returns at once if done."""
    result = subprocess.run([sys.executable, "-m", "nmt.cli", "train", "--config", config_path, *overrides])
    if result.returncode != 0:
        raise NmtError(f"decode-peer: training our model failed (exit {result.returncode})")


def save_for_peer(path: Path, run, steps: int, sentences: list[str], batch1: int) -> None:
    """The batches our run trained on, in its order, and the test sources, as token ids."""
    from nmt.data import make_arrays, plan_batches
    from nmt.train import encoded_training_corpus

    config: Config = run.config
    corpus = encoded_training_corpus(run)
    batches, epoch = [], 0
    while len(batches) < steps:
        plan = plan_batches(corpus, config.train.batch_tokens, config.seed, epoch)
        for indices in plan[:steps - len(batches)]:
            source, _, target_out = make_arrays(corpus, indices)
            batches.append((source, target_out))
        epoch += 1
    shapes = {**peer_shapes(config, run), "learning_rate": config.train.learning_rate,
              "clip_norm": config.train.clip_norm, "batch1_sentences": batch1}
    arrays = {f"train_src_{i}": source for i, (source, _) in enumerate(batches)}
    arrays.update({f"train_tgt_{i}": target for i, (_, target) in enumerate(batches)})
    arrays.update({f"decode_{i}": np.array(ids, np.int32) for i, ids in enumerate(run.src_vocab.encode(sentences))})
    np.savez(path, shapes=json.dumps(shapes), train_count=len(batches), decode_count=len(sentences), **arrays)


def translate_ours(run, translator, sentences: list[str], batch1: int) -> dict:
    from nmt.compare import timed_translation

    results = {}
    for beam, batch in SETTINGS:
        chosen = sentences[:batch1] if batch == 1 else sentences
        hypotheses, speed = timed_translation(run, translator, chosen, beam, batch)
        results[f"beam{beam}_batch{batch}"] = {"sentences_per_second": round(speed, 2), "hypotheses": hypotheses}
    return results


def run_peer(peer_python: Path, weights: Path, data: Path, output: Path) -> dict:
    result = subprocess.run([str(peer_python), str(HERE / "joeynmt_side.py"), "--trained", str(weights),
                             str(data), str(output)], stdout=subprocess.DEVNULL)
    if result.returncode != 0:
        raise NmtError(f"decode-peer: the JoeyNMT side failed (exit {result.returncode}); its messages are above")
    return json.loads(output.read_text(encoding="utf-8"))


def decode_against_peer(config: Config, config_path: str, overrides: list[str], output: Path,
                        rounds: int, batch1: int, peer_python: Path, sentences: int | None = None) -> dict:
    from nmt.corpus import read_parallel
    from nmt.evaluate import score
    from nmt.machine import describe
    from nmt.run import open_run
    from nmt.translate import make_translator
    from nmt.weights import load_model

    train_ours(config_path, overrides)
    run = open_run(config.run_dir)
    sources, references = read_parallel(config.data.test[0], config.data.src_lang, config.data.tgt_lang)
    sources, references = sources[:sentences], references[:sentences]
    output.mkdir(parents=True, exist_ok=True)
    data = output / "decode.npz"
    save_for_peer(data, run, config.train.max_steps, sources, batch1)
    translator = make_translator(run, load_model(run, "latest"))
    weights = output / f"joeynmt-{config.train.max_steps}-steps.pt"
    ours, peer = [], []
    for round_index in range(rounds):
        print(f"round {round_index + 1}/{rounds}: ours", file=sys.stderr)
        ours.append(translate_ours(run, translator, sources, batch1))
        print(f"round {round_index + 1}/{rounds}: JoeyNMT" + (" (training first)" if not weights.exists() else ""),
              file=sys.stderr)
        peer.append(run_peer(peer_python, weights, data, output / f"peer-round{round_index + 1}.json"))
    peer_texts = {key: run.tgt_vocab.decode(value["hypotheses"]) for key, value in peer[0]["decoding"].items()}
    rows = []
    for beam, batch in SETTINGS:
        key = f"beam{beam}_batch{batch}"
        mine = statistics.median(r[key]["sentences_per_second"] for r in ours)
        theirs = statistics.median(r["decoding"][key]["sentences_per_second"] for r in peer)
        row = {"setting": key, "sentences": len(ours[0][key]["hypotheses"]), "ours": round(mine, 1),
               "peer": round(theirs, 1),
               "ratio": round(mine / theirs, 2)}
        if batch == 64:
            row["ours_bleu"] = score(ours[0][key]["hypotheses"], references)["BLEU"]
            row["peer_bleu"] = score(peer_texts[key], references)["BLEU"]
        rows.append(row)
    summary = {"machine": describe(), "run": str(run.directory), "steps": config.train.max_steps,
               "peer": peer[0]["peer"], "peer_training": peer[0].get("training"), "rounds": rounds, "rows": rows}
    write_atomic(output / "decode-peer.json", json.dumps(summary, indent=2) + "\n")
    write_atomic(output / "decode-peer.md", markdown(summary))
    for name, texts in peer_texts.items():
        write_atomic(output / f"joeynmt.{name}.hyp", "".join(t + "\n" for t in texts))
    return summary


def markdown(summary: dict) -> str:
    lines = ["| search, batch | sentences | ours, sentences/s | JoeyNMT, sentences/s | ours / JoeyNMT "
             "| BLEU ours | BLEU JoeyNMT |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in summary["rows"]:
        search = "greedy" if row["setting"].startswith("beam1_") else "beam 5"
        bleu = (f"{row['ours_bleu']['score']:.2f} | {row['peer_bleu']['score']:.2f}" if "ours_bleu" in row
                else "| ")
        lines.append(f"| {search}, {row['setting'].rsplit('batch', 1)[1]} | {row['sentences']:,} | "
                     f"{row['ours']:,.1f} | {row['peer']:,.1f} | {row['ratio']}x | {bleu} |")
    signature = next(row["ours_bleu"]["signature"] for row in summary["rows"] if "ours_bleu" in row)
    return "\n".join(lines) + f"\n\nBLEU `{signature}`, the batch-64 translations.\n"


def main() -> int:
    parser = argparse.ArgumentParser(description="decoding speed and BLEU of trained models, ours and JoeyNMT's")
    parser.add_argument("--config", default="configs/bench.yaml", help="experiment YAML (default configs/bench.yaml)")
    parser.add_argument("--steps", type=int, default=500, help="training updates of both models (default 500)")
    parser.add_argument("--output", default="runs/decode-peer-report", help="directory for the report")
    parser.add_argument("--rounds", type=int, default=2, help="alternated translation rounds (default 2)")
    parser.add_argument("--batch1", type=int, default=100,
                        help="sentences translated one at a time (default 100; batch 64 takes the whole test set)")
    parser.add_argument("--sentences", type=int, help="translate only the test set's first N sentences")
    parser.add_argument("--peer-python", default=".venv-peer/bin/python",
                        help="Python with PyTorch and JoeyNMT 2.3 (make bench-peer installs it)")
    parser.add_argument("overrides", nargs="*", help="key.path=value config overrides")
    args = parser.parse_args()

    def command() -> None:
        from nmt.process import quiet_tensorflow

        for name in ("steps", "rounds", "batch1", "sentences"):
            if getattr(args, name) is not None and getattr(args, name) < 1:
                raise NmtError(f"--{name}: expected a positive number, got {getattr(args, name)}")
        if not Path(args.peer_python).exists():
            raise NmtError(f"{args.peer_python}: not found; `make bench-peer` installs JoeyNMT there")
        overrides = ["name=decode-peer", *args.overrides, f"train.max_steps={args.steps}"]
        config = load_config(args.config, overrides)
        quiet_tensorflow()
        decode_against_peer(config, args.config, overrides, Path(args.output), args.rounds, args.batch1,
                            Path(args.peer_python), args.sentences)
        print((Path(args.output) / "decode-peer.md").read_text(encoding="utf-8"))

    return report_errors(command)


if __name__ == "__main__":
    sys.exit(main())
