"""Placeholders, markup, entities, URLs, numbers and access keys through translation: UI catalog
lines that hold them, German to English, translated as they are and with protection, by ``nmt
translate`` (``nmt.protect``) and by the run's exported SavedModel (``nmt.protect_graph``); how
many lines keep every span exactly, per kind, balanced tags, BLEU and chrF against the catalogs'
English, sentences/s, and how many of the SavedModel's lines are the same as ``nmt translate``'s.

    make protection RUN=runs/debian-de-en    (benchmarks/protect_eval.py --run DIR [--output DIR])

The lines come from the German catalogs of the UI packages that ``debian-de-en`` builds from
(unpacked in ``.cache/debian`` by ``make data``): pairs whose German holds a placeholder, tag,
entity, URL or access key and whose English holds the same placeholders and tags.  The corpus
recipe keeps such lines (markup and access keys stripped) and training takes their spans out,
so a pair is kept only if its German, cleaned and with its spans taken out, is not what the
run learned from a training sentence.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from data_prep.clean import normalize_text, strip_access_keys, strip_markup  # noqa: E402
from data_prep.gettext_catalogs import UI_PACKAGES, catalog_messages, catalogs  # noqa: E402
from nmt.files import write_atomic  # noqa: E402
from nmt.protect import SPAN, has_spans, protect, training_text, well_formed  # noqa: E402

CHECKED = ("placeholder", "tag", "entity", "url")  # must match between German and English
KINDS = ("placeholder", "tag", "entity", "url", "number", "access")


def spans(text: str) -> Counter:
    """(kind, text) of every protected span, access key markers included."""
    found = Counter((match.lastgroup, match.group(0)) for match in SPAN.finditer(text))
    found.update(("access", span.text) for span in protect(text).spans if span.kind == "access")
    return found


def alternated(systems: dict, count: int, rounds: int) -> dict[str, tuple[list[str], float]]:
    """Each system's outputs and its median sentences/s over ``rounds`` rounds that take turns,
    so a shared machine's drift and the first round's tracing slow every system alike."""
    outputs, speeds = {}, {name: [] for name in systems}
    for _ in range(rounds):
        for name, translate in systems.items():
            started = time.perf_counter()
            outputs[name] = translate()
            speeds[name].append(count / (time.perf_counter() - started))
    return {name: (outputs[name], round(statistics.median(speeds[name]), 1)) for name in systems}


def held_out_pairs(cache: Path, train: Path, count: int, seed: int) -> list[tuple[str, str]]:
    """Up to ``count`` (German, English) catalog pairs with protected spans, none a training line
    (compared as the model sees both: cleaned as the corpus recipe cleans, spans taken out)."""
    training = set(map(training_text, train.read_text(encoding="utf-8").splitlines()))
    pairs, seen = [], set()
    for package in UI_PACKAGES:
        for path in catalogs(cache / package.format(lang="de"), "de"):
            for english, german in catalog_messages(path):
                german, english = german.strip(), english.strip()
                if german in seen or "\n" in german + english or not 2 <= len(german.split()) <= 40:
                    continue
                source = spans(german)
                if not any(kind != "number" for kind, _ in source):
                    continue
                checked = Counter({key: n for key, n in source.items() if key[0] in CHECKED})
                if checked != Counter({key: n for key, n in spans(english).items() if key[0] in CHECKED}):
                    continue
                if training_text(normalize_text(strip_access_keys(strip_markup(german)))) in training:
                    continue
                seen.add(german)
                pairs.append((german, english))
    random.Random(seed).shuffle(pairs)
    return pairs[:count]


def graph_agreement(cache: Path) -> dict:
    """On how many catalog lines with spans (both languages, every UI package) the SavedModel's
    protection (``nmt.protect_graph``, RE2 and TensorFlow ops) takes out the same spans,
    anchored to the same words, as ``nmt.protect``."""
    import tensorflow as tf

    from nmt import protect_graph

    graph = tf.function(protect_graph.protect, input_signature=[tf.TensorSpec([], tf.string)])
    paths = [path for package in UI_PACKAGES for path in catalogs(cache / package.format(lang="de"), "de")]
    lines = sorted({text.strip() for path in paths for message in catalog_messages(path) for text in message
                    if text.strip() and "\n" not in text and has_spans(text)})
    differ = [line for line in lines if protect_graph.as_protected(
        {name: value.numpy() for name, value in graph(tf.constant(line)).items()}) != protect(line)]
    return {"lines": len(lines), "same": len(lines) - len(differ), "differ": differ[:20]}


def kept(sources: list[str], outputs: list[str]) -> dict:
    """Lines whose output holds every span of the source exactly as often; per kind, the share
    of source spans the output holds as often; tags well-formed where the source's are."""
    by_kind = {kind: [0, 0] for kind in KINDS}  # spans kept, spans in the sources
    whole = balanced = balanced_sources = 0
    lost = []
    for source, output in zip(sources, outputs):
        wanted, got = spans(source), spans(output)
        if all(got[key] == n for key, n in wanted.items()):
            whole += 1
        else:
            lost.append({"source": source, "output": output})
        for (kind, text), n in wanted.items():
            by_kind[kind][0] += min(got[(kind, text)], n)
            by_kind[kind][1] += n
        if well_formed(source):
            balanced_sources += 1
            balanced += well_formed(output)
    return {"lines_with_every_span": whole, "lines": len(sources),
            "kept_by_kind": {kind: {"kept": k, "spans": n} for kind, (k, n) in by_kind.items() if n},
            "well_formed": balanced, "well_formed_sources": balanced_sources, "lost": lost}


def arguments(report: str) -> argparse.ArgumentParser:
    """The options both measurements share; ``report`` names the default output directory."""
    parser = argparse.ArgumentParser(description=sys.modules["__main__"].__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a trained German-English run directory")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / report,
                        help=f"directory for the report (default docs/{report})")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="alternated timing rounds (default 3)")
    parser.add_argument("--cache", type=Path, default=REPO / ".cache" / "debian")
    return parser


def trained(directory: str):
    """The run and a TensorFlow translator of its best checkpoint."""
    from nmt.process import quiet_tensorflow

    quiet_tensorflow()
    from nmt.run import open_run
    from nmt.translate import make_translator
    from nmt.weights import load_model

    run = open_run(Path(directory))
    return run, make_translator(run, load_model(run))


def main() -> None:
    parser = arguments("protect")
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    run, translator = trained(args.run)
    import sacrebleu

    from nmt.machine import describe
    from nmt.translate import translate_lines

    pairs = held_out_pairs(args.cache, Path(f"{run.config.data.train}.{run.config.data.src_lang}"),
                           args.lines, args.seed)
    sources, references = [g for g, _ in pairs], [e for _, e in pairs]
    translate_lines(run, translator, sources[:64], args.beam)  # traced before timing
    results = {}
    bleu, chrf = sacrebleu.BLEU(), sacrebleu.CHRF()
    systems = {name: lambda protected=protected: translate_lines(run, translator, sources, args.beam,
                                                                  protect=protected)
               for name, protected in (("as they are", False), ("protected", True))}
    with tempfile.TemporaryDirectory() as directory:
        for name, protected in (("SavedModel, as they are", False), ("SavedModel, protected", True)):
            systems[name] = exported(args.run, protected, args.beam, Path(directory) / name, sources)
        timed = alternated(systems, len(sources), args.rounds)
    for name, (outputs, speed) in timed.items():
        results[name] = {**kept(sources, outputs),
                         "bleu": round(bleu.corpus_score(outputs, [references]).score, 2),
                         "chrf": round(chrf.corpus_score(outputs, [references]).score, 2),
                         "sentences_per_second": speed,
                         "examples": [{"source": s, "output": o, "reference": r}
                                      for s, o, r in list(zip(sources, outputs, references))[:12]]}
        print(f"{name}: {results[name]['lines_with_every_span']}/{len(sources)} lines keep every span, "
              f"BLEU {results[name]['bleu']}", file=sys.stderr)
    for name in ("as they are", "protected"):
        results[f"SavedModel, {name}"]["same_as_nmt_translate"] = sum(
            a == b for a, b in zip(timed[f"SavedModel, {name}"][0], timed[name][0]))
    agreement = graph_agreement(args.cache)
    print(f"graph protection: same as nmt.protect on {agreement['same']}/{agreement['lines']} catalog lines",
          file=sys.stderr)
    report_tests = {}
    for prefix in run.config.data.test:  # what protection does to the run's own test sets
        name = Path(prefix).name
        test_sources = Path(f"{prefix}.{run.config.data.src_lang}").read_text(encoding="utf-8").splitlines()
        test_references = Path(f"{prefix}.{run.config.data.tgt_lang}").read_text(encoding="utf-8").splitlines()
        report_tests[name] = {"lines": len(test_sources),
                              "lines_with_spans": sum(map(has_spans, test_sources))}
        for system, protected in (("as they are", False), ("protected", True)):
            outputs = translate_lines(run, translator, test_sources, args.beam, protect=protected)
            report_tests[name][system] = round(bleu.corpus_score(outputs, [test_references]).score, 2)
        print(f"{name}: {report_tests[name]}", file=sys.stderr)
    report = {"machine": describe(), "run": args.run, "beam": args.beam, "lines": len(sources),
              "graph_agreement": agreement,
              "test_sets": report_tests,
              "bleu_signature": str(bleu.get_signature()), "chrf_signature": str(chrf.get_signature()),
              "results": results}
    write_report(args.output, "protect", report, markdown(report))


def exported(run_directory: str, protected: bool, beam: int, directory: Path, sources: list[str]):
    """A function translating ``sources`` with the run exported (``decode.protect`` set to
    ``protected``) to ``directory`` and loaded as a model server would, in batches of
    ``decode.batch_size`` lines in input order."""
    import tensorflow as tf

    from nmt.export import export
    from nmt.run import open_run
    from nmt.weights import load_model

    run = open_run(Path(run_directory), overrides=[f"decode.protect={str(protected).lower()}"])
    serve = tf.saved_model.load(str(export(run, load_model(run), beam, directory))).signatures["serving_default"]
    size = run.config.decode.batch_size
    serve(text=tf.constant(sources[:size]))  # traced before timing

    def translate() -> list[str]:
        return [text.decode("utf-8") for start in range(0, len(sources), size)
                for text in serve(text=tf.constant(sources[start:start + size]))["translations"].numpy()]
    return translate


def write_report(directory: Path, name: str, report: dict, text: str) -> None:
    """``name``.json and ``name``.md in ``directory``, each written whole or not at all."""
    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(directory / f"{name}.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    write_atomic(directory / f"{name}.md", text)
    print(f"wrote {directory / name}.md", file=sys.stderr)


def markdown(report: dict) -> str:
    machine = report["machine"]
    lines = [f"Protected spans through translation: {report['lines']} held-out UI catalog lines (German to "
             f"English) on {machine['cpu']} ({machine['cores']} cores), commit {machine['commit']}, "
             f"{machine['date']}; run `{report['run']}`, beam {report['beam']}.", "",
             "| translated | lines keeping every span | " + " | ".join(f"{k} kept" for k in KINDS)
             + " | tags well-formed | BLEU | chrF | sentences/s |",
             "| --- | ---: |" + " ---: |" * len(KINDS) + " ---: | ---: | ---: | ---: |"]
    for name, result in report["results"].items():
        kinds = [result["kept_by_kind"].get(kind) for kind in KINDS]
        cells = [f"{k['kept']} / {k['spans']}" if k else "-" for k in kinds]
        lines.append(f"| {name} | {result['lines_with_every_span']} / {result['lines']} | " + " | ".join(cells)
                     + f" | {result['well_formed']} / {result['well_formed_sources']} | {result['bleu']} | "
                     f"{result['chrf']} | {result['sentences_per_second']} |")
    same = {name: report["results"][f"SavedModel, {name}"]["same_as_nmt_translate"]
            for name in ("as they are", "protected")}
    lines += ["", f"The SavedModel's output is the same as `nmt translate`'s on {same['as they are']} (as they are) "
              f"and {same['protected']} (protected) of {report['lines']} lines; it is fed batches of "
              f"`decode.batch_size` lines in input order, `nmt translate` sorts lines by length first. "
              f"Its protection (`nmt/protect_graph.py`) takes out the same spans, anchored to the same words, "
              f"as `nmt/protect.py` on {report['graph_agreement']['same']:,} of the "
              f"{report['graph_agreement']['lines']:,} lines with spans of the catalogs (German and English).",
              "", "The run's own test sets, BLEU:", "",
              "| test set | lines | lines with spans | as they are | protected |",
              "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {name} | {test['lines']} | {test['lines_with_spans']} | {test['as they are']} | "
              f"{test['protected']} |" for name, test in report["test_sets"].items()]
    lines += ["", f"BLEU `{report['bleu_signature']}`, chrF `{report['chrf_signature']}`.", "",
              "| German | as they are | protected | reference |", "| --- | --- | --- | --- |"]
    plain, protected = report["results"]["as they are"]["examples"], report["results"]["protected"]["examples"]
    for a, b in zip(plain, protected):
        cells = [a["source"], a["output"], b["output"], a["reference"]]
        lines.append("| " + " | ".join(f"`{c}`".replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
