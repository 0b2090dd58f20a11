"""`make bench-peer`: alternate `make bench` with JoeyNMT on the same shapes and batches.

    .venv/bin/python benchmarks/bench_peer.py --config configs/bench.yaml [--rounds 2] [key=value ...]

Each round runs ``bench.py`` (ours, in this Python) and then ``joeynmt_side.py`` in
the Python of ``.venv-peer`` (PyTorch + JoeyNMT 2.3) on the batches ``bench.py``
saved; the report holds the median of each measurement and the ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from nmt.errors import NmtError
from nmt.files import write_atomic
from nmt.process import report_errors

HERE = Path(__file__).resolve().parent


def _run_round(command: list[str], what: str) -> None:
    """Run one side of a round; its own messages stay on stderr, a failure is one line."""
    result = subprocess.run(command, stdout=subprocess.DEVNULL)
    if result.returncode != 0:
        raise NmtError(f"bench-peer: {what} failed (exit {result.returncode}); its messages are above")


def bench_against_peer(config_path: str, overrides: list[str], output: Path, rounds: int,
                       peer_python: Path) -> dict:
    """Alternate ``bench.py`` and ``joeynmt_side.py`` runs on the same batches; median ratios."""
    ours, peer = [], []
    for round_index in range(rounds):
        directory = output / f"round{round_index + 1}"
        print(f"round {round_index + 1}/{rounds}: bench.py", file=sys.stderr)
        _run_round([sys.executable, str(HERE / "bench.py"), "--config", config_path,
                    "--output", str(directory), *overrides], "bench.py")
        ours.append(json.loads((directory / "bench.json").read_text()))
        print(f"round {round_index + 1}/{rounds}: JoeyNMT", file=sys.stderr)
        _run_round([str(peer_python), str(HERE / "joeynmt_side.py"),
                    str(directory / "batches.npz"), str(directory / "peer.json")], "the JoeyNMT side")
        peer.append(json.loads((directory / "peer.json").read_text()))
    for result in peer:  # JoeyNMT without length bucketing, against ours with it
        result["training_float32_as_run"] = result["training_float32_unbucketed"]
    for result in ours:
        result["training_float32_as_run"] = result["training_float32"]
    for result in ours:
        result["training_bfloat16_as_run"] = result["training_bfloat16"]
    for result in peer:  # JoeyNMT has no bfloat16 mode: against its float32 run
        result["training_bfloat16_as_run"] = result["training_float32_unbucketed"]
    keys = [("training_float32", "target_tokens_per_second"),
            ("training_float32_as_run", "target_tokens_per_second"),
            ("training_bfloat16_as_run", "target_tokens_per_second")] + [
        ("decode_sentences_per_second", key) for key in ours[0]["decode_sentences_per_second"]]
    rows = []
    for section, key in keys:
        mine = statistics.median(r[section][key] for r in ours)
        theirs = statistics.median(r[section][key] for r in peer)
        rows.append({"measure": f"{section}.{key}", "ours": round(mine, 1), "peer": round(theirs, 1),
                     "ratio": round(mine / theirs, 2)})
    summary = {"peer": peer[0]["peer"], "rounds": rounds, "rows": rows}
    write_atomic(output / "peer.json", json.dumps(summary, indent=2) + "\n")
    table = "| measurement | ours | JoeyNMT | ours / JoeyNMT |\n| --- | ---: | ---: | ---: |\n" + "".join(
        f"| {r['measure']} | {r['ours']:,} | {r['peer']:,} | {r['ratio']}x |\n" for r in rows)
    write_atomic(output / "peer.md", table)
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description="alternate bench.py with JoeyNMT on the same shapes and batches")
    parser.add_argument("--config", default="configs/bench.yaml", help="experiment YAML (default configs/bench.yaml)")
    parser.add_argument("--output", default="runs/bench-peer", help="directory for the rounds and peer.md")
    parser.add_argument("--rounds", type=int, default=2, help="alternated rounds (default 2)")
    parser.add_argument("--peer-python", default=".venv-peer/bin/python",
                        help="Python with PyTorch and JoeyNMT 2.3 (make bench-peer installs it)")
    parser.add_argument("overrides", nargs="*", help="key.path=value config overrides")
    args = parser.parse_args()

    def command() -> None:
        if args.rounds < 1:
            raise NmtError(f"--rounds: expected a positive number, got {args.rounds}")
        if not Path(args.peer_python).exists():
            raise NmtError(f"{args.peer_python}: not found; `make bench-peer` installs JoeyNMT there")
        summary = bench_against_peer(args.config, args.overrides, Path(args.output), args.rounds,
                                     Path(args.peer_python))
        print((Path(args.output) / "peer.md").read_text(encoding="utf-8"))
        print(f"{summary['peer']}, medians of {summary['rounds']} alternated rounds", file=sys.stderr)

    return report_errors(command)


if __name__ == "__main__":
    sys.exit(main())
