"""Scoring with sacrebleu (BLEU, chrF, TER) on detokenized output against raw references."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sacrebleu.metrics import BLEU, CHRF, TER

from nmt.corpus import read_parallel
from nmt.files import write_atomic
from nmt.machine import describe
from nmt.run import Run
from nmt.translate import translate_lines


def score(hypotheses: list[str], references: list[str]) -> dict:
    """Corpus-level metrics, each with its sacrebleu signature so numbers are comparable."""
    results = {}
    for name, metric in (("BLEU", BLEU()), ("chrF", CHRF()), ("TER", TER())):
        result = metric.corpus_score(hypotheses, [references])
        results[name] = {"score": round(result.score, 2), "signature": str(metric.get_signature())}
    return results


def evaluate_run(run: Run, translator, beam: int) -> dict:
    """Translate every test set of the run's config, write hypotheses and reports."""
    data = run.config.data
    report = {"run": str(run.directory), "beam_size": beam,
              "length_penalty": run.config.decode.length_penalty, "machine": describe(), "test_sets": {}}
    for prefix in data.test:
        sources, references = read_parallel(prefix, data.src_lang, data.tgt_lang)
        hypotheses = translate_lines(run, translator, sources, beam, protect=run.config.decode.protect)
        name = Path(prefix).name
        write_atomic(run.directory / f"{name}.{data.tgt_lang}.hyp",
                     "".join(h + "\n" for h in hypotheses))
        report["test_sets"][name] = {"path": prefix, "sentences": len(sources),
                                     **score(hypotheses, references)}
    write_atomic(run.directory / "report.json", json.dumps(report, indent=2) + "\n")
    write_atomic(run.directory / "report.md", markdown_table(report))
    return report


def markdown_table(report: dict) -> str:
    lines = [f"Run `{report['run']}`, beam {report['beam_size']}, "
             f"length penalty {report['length_penalty']}", "",
             "| test set | sentences | BLEU | chrF | TER |", "| --- | ---: | ---: | ---: | ---: |"]
    signatures = {}
    for name, entry in report["test_sets"].items():
        lines.append(f"| {name} | {entry['sentences']} | {entry['BLEU']['score']:.2f} | "
                     f"{entry['chrF']['score']:.2f} | {entry['TER']['score']:.2f} |")
        for metric in ("BLEU", "chrF", "TER"):
            signatures[metric] = entry[metric]["signature"]
    lines += ["", *[f"- {metric}: `{sig}`" for metric, sig in signatures.items()]]
    return "\n".join(lines) + "\n"


def print_report(report: dict) -> None:
    print(markdown_table(report), file=sys.stdout)
