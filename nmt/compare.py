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
from dataclasses import asdict, replace
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


def parse_variant(text: str) -> tuple[str, list[str]]:
    """``"reg: model.dropout=0.5 train.label_smoothing=0.1"`` -> ("reg", [both overrides]):
    one variant that changes several keys at once (a recipe); no overrides is the base."""
    name, sep, overrides = text.partition(":")
    name = name.strip()
    if not sep or not name or any(c in name for c in "/= "):
        raise NmtError(f"--variant '{text}': expected NAME: key.path=value key.path=value ...")
    return name, overrides.split()


def parse_seeds(text: str | None) -> list[int | None]:
    """``"1,2"`` -> [1, 2]; nothing -> [None] (the config's own seed)."""
    if not text:
        return [None]
    try:
        seeds = [int(seed) for seed in text.split(",") if seed]
    except ValueError:
        seeds = []
    if not seeds:
        raise NmtError(f"--seeds '{text}': expected integers separated by commas, e.g. 1,2")
    return seeds


def variant_configs(config_path: str, overrides: list[str], varies: list[str],
                    seeds: list[int | None], root: Path, variants: list[str] = ()) -> dict[str, Config]:
    """One validated config per (variant, seed), named after the variant (and seed).

    ``key.path=a,b`` sets that key; the key ``config`` instead trains each listed config
    file (a corpus and its shipped settings) with the same overrides.  Each of
    ``variants`` (see ``parse_variant``) sets several keys at once."""
    labelled = []
    for vary in varies:
        key, values = parse_vary(vary)
        for value in values:
            if key == "config":
                config = load_config(value, overrides)
                labelled.append((config.name, config))
            else:
                labelled.append((value, load_config(config_path, [*overrides, f"{key}={value}"])))
    for variant in variants:
        label, changes = parse_variant(variant)
        labelled.append((label, load_config(config_path, [*overrides, *changes])))
    configs = {}
    for label, config in labelled:
        for seed in seeds:
            name = label if seed is None else f"{label}-seed{seed}"
            configs[name] = replace(config, name=name, run_root=str(root),
                                    seed=config.seed if seed is None else seed)
    return configs


def timed_translation(run, translator, sources: list[str], beam: int,
                      batch_size: int | None = None, protect: bool = False) -> tuple[list[str], float]:
    """The translations of ``sources`` and sentences per second, after one warm-up batch
    (so graph tracing is not counted); ``batch_size`` defaults to ``decode.batch_size``."""
    from nmt.translate import translate_lines

    translate_lines(run, translator, sources[:batch_size or 8], beam, batch_size, protect=protect)
    started = time.perf_counter()
    hypotheses = translate_lines(run, translator, sources, beam, batch_size, protect=protect)
    return hypotheses, len(sources) / (time.perf_counter() - started)


def stall_ratio(history: list[dict], steps: int) -> float | None:
    """Training loss / target unigram entropy at the first validation at or after ``steps``."""
    for record in history:
        if record["step"] >= steps and record.get("train_loss"):
            return round(record["train_loss"] / record["unigram_entropy"], 3)
    return None


def train_variant(config: Config) -> dict:
    from nmt.corpus import read_parallel
    from nmt.evaluate import score
    from nmt.train import Trainer, prepare_run, read_corpora
    from nmt.translate import make_translator
    from nmt.weights import load_model

    corpora = read_corpora(config)
    run = prepare_run(config, corpora)
    trainer = Trainer(run, corpora)
    trainer.fit()
    history = [json.loads(line) for line in
               (run.directory / "validations.jsonl").read_text(encoding="utf-8").splitlines()]
    train_speeds = [h["train_tokens_per_second"] for h in history if h["train_tokens_per_second"]]
    translator = make_translator(run, load_model(run))
    beam = config.decode.beam_size
    test_sets, speeds = {}, []
    for prefix in config.data.test:
        sources, references = read_parallel(prefix, config.data.src_lang, config.data.tgt_lang)
        hypotheses, sentences_per_second = timed_translation(run, translator, sources, beam,
                                                             protect=config.decode.protect)
        test_sets[Path(prefix).name] = score(hypotheses, references)
        speeds.append(sentences_per_second)
    scores, sentences_per_second = test_sets[Path(config.data.test[0]).name], speeds[0]
    return {"corpus": config.data.corpus, "cell": config.model.cell, "seed": config.seed,
            "parameters": trainer.model.count_params(), "steps": int(trainer.step),
            "train_tokens_per_second": round(statistics.median(train_speeds)) if train_speeds else None,
            "stall_steps": config.train.stall_steps,
            "loss_to_unigram": stall_ratio(history, config.train.stall_steps),
            "dev_loss": history[-1]["dev_loss"], "dev_bleu": history[-1]["dev_bleu"],
            "best_dev_bleu": max(h["dev_bleu"] for h in history), "test_set": config.data.test[0],
            "BLEU": scores["BLEU"], "chrF": scores["chrF"], "test_sets": test_sets,
            "decode_sentences_per_second": round(sentences_per_second, 1),
            "beam_size": beam, "history": history}


def markdown(results: dict[str, dict]) -> str:
    first = next(iter(results.values()))
    lines = [f"| run | corpus | cell | seed | parameters | train tokens/s | steps "
             f"| loss / unigram at step {first['stall_steps']} | final dev loss | final dev BLEU "
             f"| test BLEU | test chrF | decode sentences/s |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        speed, ratio = r["train_tokens_per_second"], r["loss_to_unigram"]
        lines.append(f"| {name} | {r['corpus']} | {r['cell']} | {r['seed']} | {r['parameters']:,} "
                     f"| {f'{speed:,}' if speed else 'n/a'} | {r['steps']} "
                     f"| {ratio if ratio is not None else 'n/a'} | {r['dev_loss']:.3f} "
                     f"| {r['dev_bleu']:.2f} | {r['BLEU']['score']:.2f} | {r['chrF']['score']:.2f} "
                     f"| {r['decode_sentences_per_second']} |")
    tests = sorted({r["test_set"] for r in results.values()})
    lines += _per_test_set(results)
    lines += ["", f"Test sets {', '.join(f'`{t}`' for t in tests)}, beam {first['beam_size']}; "
              f"dev BLEU with greedy search. Loss / unigram: the training loss since the previous "
              f"validation divided by the entropy of the target tokens' frequencies.",
              f"BLEU `{first['BLEU']['signature']}`, chrF `{first['chrF']['signature']}`"]
    return "\n".join(lines) + "\n"


def _per_test_set(results: dict[str, dict]) -> list[str]:
    """A table of test BLEU per test set, when runs were evaluated on more than one."""
    names = list(dict.fromkeys(name for r in results.values() for name in r.get("test_sets", {})))
    if len(names) < 2:
        return []
    lines = ["", f"| run | {' | '.join(f'BLEU {name}' for name in names)} |",
             f"| --- |{' ---: |' * len(names)}"]
    for run, r in results.items():
        cells = [f"{r['test_sets'][name]['BLEU']['score']:.2f}" if name in r.get("test_sets", {}) else "n/a"
                 for name in names]
        lines.append(f"| {run} | {' | '.join(cells)} |")
    return lines


def plot(results: dict[str, dict], path: Path) -> None:
    """Dev loss and dev BLEU against training minutes; the seeds of one variant share a colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (loss_axes, bleu_axes) = plt.subplots(1, 2, figsize=(11, 4.5))
    colours: dict[str, str] = {}
    for name, result in results.items():
        variant = name.rsplit("-seed", 1)[0]
        label = None if variant in colours else variant  # one legend entry per variant
        colour = colours.setdefault(variant, f"C{len(colours) % 10}")
        history = result["history"]
        minutes = [h["elapsed_seconds"] / 60 for h in history]
        loss_axes.plot(minutes, [h["dev_loss"] for h in history], marker="o", color=colour, label=label)
        bleu_axes.plot(minutes, [h["dev_bleu"] for h in history], marker="o", color=colour, label=label)
    for axes, what in ((loss_axes, "dev cross-entropy per token"), (bleu_axes, "dev BLEU (greedy)")):
        axes.set_xlabel("training time (minutes)")
        axes.set_ylabel(what)
        axes.grid(alpha=0.3)
    bleu_axes.legend()
    figure.tight_layout()
    save_figure(figure, path, dpi=110)


RESULT_FILE = "compare-result.json"


def cached_or_trained(config: Config) -> dict:
    """The variant's result: from its run directory when a finished comparison of the same
    config left one there (so a report over more seeds or variants retrains only what is
    new), else trained (resuming a partial run) and evaluated now."""
    path = config.run_dir / RESULT_FILE
    settings = json.loads(json.dumps(asdict(config)))
    if path.exists():
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("config") == settings:
            print(f"   finished before: {path}", file=sys.stderr)
            return cached["result"]
    result = train_variant(config)
    write_atomic(path, json.dumps({"config": settings, "result": result}, indent=2) + "\n")
    return result


def compare(configs: dict[str, Config], output: Path) -> Path:
    """Train every named config (resuming partial runs, reusing finished ones) and write the report."""
    results = {}
    for name, config in configs.items():
        print(f"== {name}", file=sys.stderr)
        results[name] = cached_or_trained(config)
    from nmt.machine import describe

    write_atomic(output / "compare.json", json.dumps({"machine": describe(), "results": results}, indent=2) + "\n")
    write_atomic(output / "compare.md", markdown(results))
    plot(results, output / "dev_curves.png")
    print(markdown(results))
    print(f"written to {output}/compare.md, compare.json and dev_curves.png", file=sys.stderr)
    return output
