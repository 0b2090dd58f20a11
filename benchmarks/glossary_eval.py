"""Glossaries through translation: held-out test sentences with dictionary terms, translated
without a glossary, with it (``nmt.glossary``'s alignment rewrite, what ``nmt translate
--glossary`` does) and by lexically constrained beam search (``constrained_search.py``); how
many terms appear as required, BLEU, chrF and sentences/s.

    make glossary RUN=runs/debian-de-en    (benchmarks/glossary_eval.py --run DIR [--output DIR])

The glossary comes from the Ding dictionary (``trans-de-en``, unpacked in ``.cache/debian``
by ``make data``): for every German word of the run's test sentences that Ding translates
by an English word or two, the translation the references use most often.  A sentence is
kept if it holds at least one glossary term and its reference uses the required target of
every term it holds, so the glossary is right for it (how terminology constraints are
usually evaluated).  Terms are counted as appearing when the output holds them as whole
words, ignoring case.
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from constrained_search import constrained_lines  # noqa: E402
from protect_eval import alternated, arguments, trained, write_report  # noqa: E402

from data_prep.ding import read_lexicon  # noqa: E402
from nmt.files import write_atomic  # noqa: E402
from nmt.glossary import Glossary, Term  # noqa: E402

# English words too common to say anything about a term's translation
FUNCTION_WORDS = set(re.findall(r"\w+", """a an the to of in on at by for with from and or not no is are was
    were be been it this that he she we you they i me him her us them his its our your their do does did have has
    had will would can could shall should may might must there here up out off so as if"""))


def words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+(?:[-'][^\W_]+)*", text.lower())


def holds(text: str, term: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(term.lower())}(?![\w-])", text.lower()) is not None


def dictionary(cache: Path) -> dict[str, set[str]]:
    """Ding's one-word German entries and their English translations of one or two words."""
    entries: dict[str, set[str]] = defaultdict(set)
    for pair in read_lexicon(cache / "trans-de-en"):
        german, english = pair.src.strip(), pair.tgt.strip()
        if " " not in german and 1 <= len(english.split()) <= 2 and not set(words(english)) & FUNCTION_WORDS:
            entries[german.lower()].add(english)
    return entries


def glossary_and_sentences(entries: dict[str, set[str]], sources: list[str], references: list[str],
                           count: int) -> tuple[dict[str, str], list[int]]:
    """The glossary (German word -> English term) and the indices of the sentences it is right for."""
    used: dict[str, Counter] = defaultdict(Counter)
    for source, reference in zip(sources, references):
        for word in sorted(set(words(source))):
            for english in sorted(entries.get(word, ())):
                if holds(reference, english):
                    used[word][english] += 1
    glossary = {word: max(sorted(counts), key=counts.get) for word, counts in sorted(used.items())}  # ties: a-z
    kept = []
    for index, (source, reference) in enumerate(zip(sources, references)):
        terms = [glossary[word] for word in set(words(source)) if word in glossary]
        if terms and all(holds(reference, term) for term in terms):
            kept.append(index)
    return glossary, kept[:count]


def term_rate(sources: list[str], outputs: list[str], glossary: dict[str, str]) -> tuple[int, int]:
    found = total = 0
    for source, output in zip(sources, outputs):
        for word in set(words(source)):
            if word in glossary:
                total += 1
                found += holds(output, glossary[word])
    return found, total


def main() -> None:
    parser = arguments("glossary")
    parser.add_argument("--sentences", type=int, default=1000)
    args = parser.parse_args()
    run, translator = trained(args.run)
    import sacrebleu

    from nmt.machine import describe
    from nmt.translate import translate_lines

    sources, references = [], []
    for prefix in run.config.data.test:
        sources += Path(f"{prefix}.{run.config.data.src_lang}").read_text(encoding="utf-8").splitlines()
        references += Path(f"{prefix}.{run.config.data.tgt_lang}").read_text(encoding="utf-8").splitlines()
    terms, kept = glossary_and_sentences(dictionary(args.cache), sources, references, args.sentences)
    sources, references = [sources[i] for i in kept], [references[i] for i in kept]
    args.output.mkdir(parents=True, exist_ok=True)
    write_atomic(args.output / "terms.tsv", "".join(f"{word}\t{english}\n" for word, english in terms.items()))
    glossary = Glossary([Term((word,), english) for word, english in terms.items()])
    translate_lines(run, translator, sources[:64], args.beam)  # traced before timing
    bleu, chrf, results = sacrebleu.BLEU(), sacrebleu.CHRF(), {}
    systems = {name: lambda used=used: translate_lines(run, translator, sources, args.beam,
                                                       protect=run.config.decode.protect, glossary=used)
               for name, used in (("without", None), ("with the glossary", glossary))}
    required = [[match.target for match in glossary.matches(source.split())] for source in sources]
    systems["constrained beam search"] = lambda: constrained_lines(run, translator.model, sources, required,
                                                                   args.beam)
    for name, (outputs, speed) in alternated(systems, len(sources), args.rounds).items():
        found, total = term_rate(sources, outputs, terms)
        results[name] = {"terms_found": found, "terms": total,
                         "bleu": round(bleu.corpus_score(outputs, [references]).score, 2),
                         "chrf": round(chrf.corpus_score(outputs, [references]).score, 2),
                         "sentences_per_second": speed,
                         "examples": [{"source": s, "output": o, "reference": r}
                                      for s, o, r in list(zip(sources, outputs, references))[:10]]}
        print(f"{name}: {found}/{total} terms, BLEU {results[name]['bleu']}", file=sys.stderr)
    report = {"machine": describe(), "run": args.run, "beam": args.beam, "sentences": len(sources),
              "glossary_terms": len(terms), "bleu_signature": str(bleu.get_signature()),
              "chrf_signature": str(chrf.get_signature()), "results": results}
    write_report(args.output, "glossary", report, markdown(report))


def markdown(report: dict) -> str:
    machine = report["machine"]
    lines = [f"Glossary terms through translation: {report['sentences']} held-out test sentences with Ding "
             f"dictionary terms ({report['glossary_terms']} terms in `terms.tsv`) on {machine['cpu']} "
             f"({machine['cores']} cores), commit {machine['commit']}, {machine['date']}; run `{report['run']}`, "
             f"beam {report['beam']}.", "",
             "| translated | terms as required | BLEU | chrF | sentences/s |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, result in report["results"].items():
        share = 100 * result["terms_found"] / max(result["terms"], 1)
        lines.append(f"| {name} | {result['terms_found']} / {result['terms']} ({share:.1f}%) | {result['bleu']} | "
                     f"{result['chrf']} | {result['sentences_per_second']} |")
    lines += ["", f"BLEU `{report['bleu_signature']}`, chrF `{report['chrf_signature']}`.", "",
              "| German | " + " | ".join(report["results"]) + " | reference |",
              "| --- " * (len(report["results"]) + 2) + "|"]
    for examples in zip(*(result["examples"] for result in report["results"].values())):
        cells = [examples[0]["source"], *(example["output"] for example in examples), examples[0]["reference"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
