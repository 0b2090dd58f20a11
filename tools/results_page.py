"""Write docs/results.md from the reports that runs, comparisons and benchmarks leave behind.

Every figure on the page is read from a file a measurement wrote: a run's
``report.json``, ``validations.jsonl`` and ``config.yaml``; a comparison's
``compare.json``; a benchmark's ``bench.json``.  Each of those records the machine
it ran on (``nmt/machine.py``); the page refuses to mix machines.

    python tools/results_page.py --run runs/ding-de-en --compare docs/matrix [--bench runs/bench]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nmt.files import write_atomic  # noqa: E402
from nmt.machine import label  # noqa: E402

PAGE = ROOT / "docs" / "results.md"


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"error: {path}: not found") from None


def run_section(directory: Path) -> tuple[dict, str]:
    """A trained run: its budget, speed and test scores."""
    report = read_json(directory / "report.json")
    config = yaml.safe_load((directory / "config.yaml").read_text(encoding="utf-8"))
    history = [json.loads(line) for line in
               (directory / "validations.jsonl").read_text(encoding="utf-8").splitlines()]
    speeds = [h["train_tokens_per_second"] for h in history if h.get("train_tokens_per_second")]
    last, best = history[-1], max(history, key=lambda h: h["dev_bleu"])
    model, train = config["model"], config["train"]
    minutes = f" or {train['max_minutes']} min" if train["max_minutes"] else ""
    budget = f"budget {train['max_epochs']} epochs{minutes}"
    speed = f"{statistics.median(speeds):,.0f}" if speeds else "n/a"
    lines = [f"### `{config['name']}`: {config['data']['corpus']}, {model['cell']}", "",
             "| | |", "| --- | --- |",
             f"| model | {model['encoder_layers']}-layer bidirectional {model['cell']} encoder "
             f"(2 x {model['encoder_units']}), {model['decoder_layers']}-layer decoder ({model['decoder_units']}), "
             f"{model['attention']} attention, {config['tokenizer']['vocab_size']} pieces |",
             f"| training | {last['step']:,} updates in {last['elapsed_seconds'] / 60:.1f} min ({budget}), "
             f"learning rate {train['learning_rate']} ({train['schedule']}, warmup {train['warmup_steps']}), "
             f"median {speed} target tokens/s |",
             f"| dev BLEU (greedy) | best {best['dev_bleu']:.2f} at update {best['step']:,}; "
             f"last {last['dev_bleu']:.2f} |"]
    signatures = {}
    for name, entry in report["test_sets"].items():
        lines.append(f"| test `{name}` ({entry['sentences']:,} sentences, beam {report['beam_size']}) | "
                     f"BLEU **{entry['BLEU']['score']:.2f}**, chrF {entry['chrF']['score']:.2f}, "
                     f"TER {entry['TER']['score']:.2f} |")
        signatures = {metric: entry[metric]["signature"] for metric in ("BLEU", "chrF", "TER")}
    lines += ["", *[f"- {metric} `{signature}`" for metric, signature in signatures.items()],
              "", f"Reproduce: `make train CONFIG=<config> ARGS=\"...\"` with the config in "
              f"`{directory}/config.yaml`.", ""]
    return report.get("machine", {}), "\n".join(lines)


def compare_section(directory: Path) -> tuple[dict, str]:
    """A comparison (`nmt compare`, `make matrix`): its table and plot, as written."""
    summary = read_json(directory / "compare.json")
    table = (directory / "compare.md").read_text(encoding="utf-8")
    plot = directory / "dev_curves.png"
    link = plot.relative_to(ROOT / "docs") if plot.is_relative_to(ROOT / "docs") else plot
    text = (f"### `{directory.name}`\n\n{table}\n![Dev loss and dev BLEU against minutes]({link})\n")
    return summary.get("machine", {}), text


def bench_section(directory: Path) -> tuple[dict, str]:
    results = read_json(directory / "bench.json")
    table = (directory / "bench.md").read_text(encoding="utf-8")
    return results.get("machine", {}), f"### `make bench` ({results['config']})\n\n{table}\n"


def render(runs: list[Path], compares: list[Path], benches: list[Path]) -> str:
    sections = ([run_section(p) for p in runs] + [compare_section(p) for p in compares]
                + [bench_section(p) for p in benches])
    if not sections:
        raise SystemExit("error: nothing to report; give --run, --compare or --bench")
    machines = {label(m) if m else "not recorded" for m, _ in sections}
    if len(machines) != 1 or "not recorded" in machines:
        raise SystemExit(f"error: the reports come from {len(machines)} machines ({'; '.join(sorted(machines))}); "
                         f"a results page describes one machine")
    commits = sorted({m.get("commit") or "unknown" for m, _ in sections})
    dates = sorted({m.get("date") or "unknown" for m, _ in sections})
    head = ["# Results", "",
            "<!-- Generated by tools/results_page.py from the reports named below; do not edit. -->", "",
            f"Measured on {machines.pop()}, at commit{'s' if len(commits) > 1 else ''} "
            f"{', '.join(commits)}, on {', '.join(dates)}. Every figure below is read from the "
            f"report the measurement wrote; `make results` with the same reports writes it again.", ""]
    return "\n".join(head) + "\n" + "\n".join(text for _, text in sections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", default=[], type=Path, help="a trained run directory")
    parser.add_argument("--compare", action="append", default=[], type=Path,
                        help="a directory with compare.json, compare.md and dev_curves.png")
    parser.add_argument("--bench", action="append", default=[], type=Path, help="a directory with bench.json")
    parser.add_argument("--output", type=Path, default=PAGE, help="the page to write (default docs/results.md)")
    args = parser.parse_args()
    resolve = [p.resolve() for p in args.compare]
    write_atomic(args.output, render(args.run, resolve, args.bench))
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
