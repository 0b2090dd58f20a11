"""Train one configuration once per variant of a config key, and compare what each costs and buys.

Every variant gets the same data, seed and budget (``train.max_steps`` or
``train.max_minutes``).  The result is one table (Markdown and JSON) with
parameters, training tokens/s, final dev loss, test BLEU and chrF with
signatures, and decoding sentences/s, plus a plot of dev loss against training
time for all variants.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from nmt.config import Config, load_config
from nmt.errors import NmtError
from nmt.files import save_figure, write_atomic


def parse_vary(text: str) -> tuple[str, list[str]]:
    """``"model.cell=lstm,gru"`` -> ("model.cell", ["lstm", "gru"])."""
    key, sep, values = text.partition("=")
    variants = [v for v in values.split(",") if v]
    if not sep or not key or not variants:
        raise NmtError(f"--vary '{text}': expected key.path=value1,value2,...")
    return key, variants


def variant_config(config_path: str, overrides: list[str], key: str, value: str,
                   root: Path) -> Config:
    config = load_config(config_path, [*overrides, f"{key}={value}"])
    return replace(config, name=value, run_root=str(root))


def timed_translation(run, translator, sources: list[str], beam: int,
                      batch_size: int | None = None) -> tuple[list[str], float]:
    """The translations of ``sources`` and sentences per second, after one warm-up batch
    (so graph tracing is not counted); ``batch_size`` defaults to ``decode.batch_size``."""
    from nmt.translate import translate_lines

    translate_lines(run, translator, sources[:batch_size or 8], beam, batch_size)
    started = time.perf_counter()
    hypotheses = translate_lines(run, translator, sources, beam, batch_size)
    return hypotheses, len(sources) / (time.perf_counter() - started)


def train_variant(config: Config) -> dict:
    from nmt.corpus import read_parallel
    from nmt.evaluate import score
    from nmt.train import Trainer, prepare_run, read_corpora
    from nmt.translate import load_model, make_translator

    corpora = read_corpora(config)
    run = prepare_run(config, corpora)
    trainer = Trainer(run, corpora)
    trainer.fit()
    history = [json.loads(line) for line in
               (run.directory / "validations.jsonl").read_text(encoding="utf-8").splitlines()]
    speeds = [h["train_tokens_per_second"] for h in history if h["train_tokens_per_second"]]
    translator = make_translator(run, load_model(run))
    beam = config.decode.beam_size
    sources, references = read_parallel(config.data.test[0], config.data.src_lang,
                                        config.data.tgt_lang)
    hypotheses, sentences_per_second = timed_translation(run, translator, sources, beam)
    scores = score(hypotheses, references)
    return {"parameters": trainer.model.count_params(), "steps": int(trainer.step),
            "train_tokens_per_second": round(statistics.median(speeds)) if speeds else None,
            "dev_loss": history[-1]["dev_loss"], "test_set": config.data.test[0],
            "BLEU": scores["BLEU"], "chrF": scores["chrF"],
            "decode_sentences_per_second": round(sentences_per_second, 1),
            "beam_size": beam, "history": history}


def markdown(key: str, results: dict[str, dict]) -> str:
    lines = [f"| {key} | parameters | train tokens/s | steps | dev loss | test BLEU | test chrF "
             f"| decode sentences/s |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        speed = r["train_tokens_per_second"]
        lines.append(f"| {name} | {r['parameters']:,} | {f'{speed:,}' if speed else 'n/a'} | "
                     f"{r['steps']} | {r['dev_loss']:.3f} | {r['BLEU']['score']:.2f} | "
                     f"{r['chrF']['score']:.2f} | {r['decode_sentences_per_second']} |")
    first = next(iter(results.values()))
    lines += ["", f"Test set `{first['test_set']}`, beam {first['beam_size']}.",
              f"BLEU `{first['BLEU']['signature']}`, chrF `{first['chrF']['signature']}`"]
    return "\n".join(lines) + "\n"


def plot(key: str, results: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name, result in results.items():
        history = result["history"]
        axes.plot([h["elapsed_seconds"] / 60 for h in history], [h["dev_loss"] for h in history],
                  marker="o", label=name)
    axes.set_xlabel("training time (minutes)")
    axes.set_ylabel("dev cross-entropy per token")
    axes.set_title(f"Dev loss against time, by {key}")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    save_figure(figure, path, dpi=110)


def compare(config_path: str, overrides: list[str], vary: str) -> Path:
    """Train every variant (resuming finished or partial ones) and write the report."""
    base = load_config(config_path, overrides)
    key, variants = parse_vary(vary)
    root = Path(base.run_root) / f"{base.name}-compare"
    # Every variant's config is validated before the first one trains.
    configs = {value: variant_config(config_path, overrides, key, value, root) for value in variants}
    results = {}
    for value, config in configs.items():
        print(f"== {key}={value}", file=sys.stderr)
        results[value] = train_variant(config)
    write_atomic(root / "compare.json", json.dumps({"key": key, "results": results}, indent=2) + "\n")
    write_atomic(root / "compare.md", markdown(key, results))
    plot(key, results, root / "dev_loss.png")
    print(markdown(key, results))
    print(f"written to {root}/compare.md, compare.json and dev_loss.png", file=sys.stderr)
    return root
