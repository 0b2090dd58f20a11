"""A real gettext catalog filled end to end by ``nmt translate --po``, checked as a localizer would.

    make catalog RUN=runs/debian-en-de   (benchmarks/catalog_eval.py --run DIR [--catalog PO] [--output DIR])

The catalog is a German one from a Debian source package (``benchmarks/data``, see its NOTICE):
every translation is taken out, an English-to-German run fills the catalog through the command
line, and the result is checked: ``msgfmt --check-format`` accepts it, every filled entry is
``fuzzy``, every line outside the filled ``msgstr`` lines and flags is the input's, and BLEU and
chrF compare the filled entries with the translators' German.
"""

from __future__ import annotations

import argparse
import difflib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from protect_eval import write_report  # noqa: E402

CATALOG = REPO / "benchmarks" / "data" / "mousepad-0.5.10-de.po"


def emptied(catalog):
    """The catalog with every translated entry's translation taken out; the human translations."""
    references = {}
    for entry in catalog.translated_entries():
        if entry.msgid == "":
            continue
        if entry.msgid_plural:
            references[entry.msgid] = entry.msgstr_plural[0]
            entry.msgstr_plural = dict.fromkeys(entry.msgstr_plural, "")
        else:
            references[entry.msgid] = entry.msgstr
            entry.msgstr = ""
    return catalog, references


def _owners(lines: list[str]) -> list[str]:
    """For each line, what it belongs to: a keyword (msgid, msgstr, ...), a comment kind or 'blank'."""
    owners, keyword = [], "blank"
    for line in lines:
        if line.startswith('"'):
            owners.append(keyword)
            continue
        keyword = line.split(" ", 1)[0].split("[", 1)[0].strip() if line.strip() else "blank"
        owners.append(keyword)
    return owners


def changes_outside_translations(before: list[str], after: list[str]) -> list[str]:
    """Every changed line of ``after`` against ``before`` that is neither a translation (``msgstr``
    and its continuations) nor a flag comment (``#,``)."""
    allowed = {"msgstr", "#,"}
    owners_before, owners_after = _owners(before), _owners(after)
    outside = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        outside += [f"-{i + 1}: {before[i].rstrip()}" for i in range(i1, i2) if owners_before[i] not in allowed]
        outside += [f"+{j + 1}: {after[j].rstrip()}" for j in range(j1, j2) if owners_after[j] not in allowed]
    return outside


def filled_entries(empty, filled) -> dict[str, tuple[str, bool]]:
    """msgid -> (its translation, whether it is fuzzy) for the entries the run filled."""
    was_empty = {entry.msgid for entry in empty if entry.msgid and not entry.translated()}
    result = {}
    for entry in filled:
        text = entry.msgstr_plural.get(0, "") if entry.msgid_plural else entry.msgstr
        if entry.msgid in was_empty and text:
            result[entry.msgid] = (text, "fuzzy" in entry.flags)
    return result


def check_format(path: Path) -> tuple[int, list[str]]:
    """``msgfmt --check-format``'s exit status and complaints."""
    done = subprocess.run(["msgfmt", "--check-format", "-o", "/dev/null", str(path)], capture_output=True, text=True)
    return done.returncode, done.stderr.splitlines()


def fill(run: str, source: Path, target: Path, beam: int) -> tuple[float, str]:
    """``nmt translate --po``, as a user runs it: seconds taken and what it printed last."""
    command = [str(Path(sys.executable).with_name("nmt")), "translate", "--run", run, "--beam", str(beam),
               "--po", str(source), "--output", str(target)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed: {done.stderr.strip()}")
    return seconds, done.stderr.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a trained English-to-German run directory")
    parser.add_argument("--catalog", type=Path, default=CATALOG, help="a translated German .po file")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "catalog")
    parser.add_argument("--beam", type=int, default=5)
    args = parser.parse_args()
    import polib
    import sacrebleu

    from nmt.catalog import placeholders
    from nmt.machine import describe

    catalog, references = emptied(polib.pofile(str(args.catalog)))
    with tempfile.TemporaryDirectory() as scratch:
        source, target = Path(scratch) / "empty.po", Path(scratch) / "filled.po"
        catalog.save(str(source))
        seconds, summary = fill(args.run, source, target, args.beam)
        status, complaints = check_format(target)
        before = source.read_text(encoding="utf-8").splitlines(keepends=True)
        after = target.read_text(encoding="utf-8").splitlines(keepends=True)
        filled = filled_entries(polib.pofile(str(source)), polib.pofile(str(target)))
    outside = changes_outside_translations(before, after)
    hypotheses = [filled[msgid][0] for msgid in filled]
    refs = [references[msgid] for msgid in filled]
    bleu, chrf = sacrebleu.BLEU(), sacrebleu.CHRF()
    report = {"machine": describe(), "run": args.run, "beam": args.beam, "catalog": args.catalog.name,
              "entries_emptied": len(references), "entries_filled": len(filled),
              "fuzzy": sum(fuzzy for _, fuzzy in filled.values()), "translate_summary": summary,
              "with_placeholders": sum(bool(placeholders(msgid)) for msgid in filled),
              "placeholders_kept": sum(placeholders(msgid) == placeholders(text) for msgid, (text, _) in filled.items()
                                       if placeholders(msgid)),
              "seconds": round(seconds, 1), "msgfmt_check_format_status": status, "msgfmt_complaints": complaints,
              "lines": len(after), "changed_lines_outside_translations": outside,
              "bleu": round(bleu.corpus_score(hypotheses, [refs]).score, 2),
              "chrf": round(chrf.corpus_score(hypotheses, [refs]).score, 2),
              "bleu_signature": str(bleu.get_signature()), "chrf_signature": str(chrf.get_signature()),
              "examples": [{"english": msgid, "output": filled[msgid][0], "translators": references[msgid]}
                           for msgid in list(filled)[:12]]}
    print(f"{len(filled)}/{len(references)} filled, msgfmt --check-format status {status}, "
          f"{len(outside)} lines changed outside translations, BLEU {report['bleu']}", file=sys.stderr)
    write_report(args.output, "catalog", report, markdown(report))


def markdown(report: dict) -> str:
    machine = report["machine"]
    cell = lambda text: text.replace("|", "\\|").replace("\n", "\\n")  # noqa: E731
    lines = [f"`{report['catalog']}` with its {report['entries_emptied']} translations taken out, filled by "
             f"`nmt translate --po` (run `{report['run']}`, beam {report['beam']}) on {machine['cpu']} "
             f"({machine['cores']} cores), commit {machine['commit']}, {machine['date']}.", "",
             "| check | result |", "| --- | --- |",
             f"| entries filled | {report['entries_filled']} / {report['entries_emptied']} |",
             f"| filled entries marked `fuzzy` | {report['fuzzy']} / {report['entries_filled']} |",
             f"| filled entries with placeholders that kept every one | {report['placeholders_kept']} / "
             f"{report['with_placeholders']} |",
             f"| `msgfmt --check-format` | exit status {report['msgfmt_check_format_status']}, "
             f"{len(report['msgfmt_complaints'])} complaints |",
             f"| lines changed outside `msgstr` and `#,` flags | "
             f"{len(report['changed_lines_outside_translations'])} of {report['lines']} |",
             f"| BLEU / chrF against the translators' German | {report['bleu']} / {report['chrf']} |",
             f"| time, start to finish (TensorFlow's start included) | {report['seconds']} s |", "",
             f"`nmt translate` said: {report['translate_summary']}", "",
             f"BLEU `{report['bleu_signature']}`, chrF `{report['chrf_signature']}`.", "",
             "| English | filled | translators |", "| --- | --- | --- |"]
    lines += [f"| {cell(e['english'])} | {cell(e['output'])} | {cell(e['translators'])} |"
              for e in report["examples"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
