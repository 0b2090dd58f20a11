"""``nmt translate``: the REPL, piped input or a file, translated by NumPy or TensorFlow.

A few lines (or the REPL) start on the NumPy translator of ``nmt/quick.py`` when the run
allows it, without waiting for TensorFlow; anything it cannot do (prefixes, scores, n-best,
sampling, ensembles, longer input) is translated by TensorFlow, loaded once, when first needed.
"""

from __future__ import annotations

import contextlib
import sys
from itertools import chain, islice
from pathlib import Path
from typing import NamedTuple

from nmt.commands import check_text_file, check_writable, open_trained_run
from nmt.errors import NmtError
from nmt.glossary import glossary_for_run
from nmt.process import quiet_tensorflow
from nmt.protect import has_spans
from nmt.run import Run, open_run

# Piped or file input of up to this many lines is translated without TensorFlow (nmt/quick.py)
# when the run allows it: NumPy, one sentence at a time, is done before TensorFlow would have
# loaded and translated them in batches (docs/speed.md has the measurements).
QUICK_LINES = 32


class Restored(NamedTuple):
    """A run restored with TensorFlow: its model and the translator searching it (or an ensemble)."""

    run: Run
    model: object
    translator: object


class LazyTensorFlow:
    """The run restored with TensorFlow on the first call only, then kept: the REPL's
    :prefix and :show need it even when its lines are translated by NumPy."""

    def __init__(self, run: Run, args, sampling, announce: bool):
        self._run, self._args, self._sampling, self._announce = run, args, sampling, announce
        self._restored: Restored | None = None

    def __call__(self) -> Restored:
        if self._restored is None:
            if self._announce:
                print("(loading TensorFlow for this command: a few seconds, once)", file=sys.stderr)
            self._restored = _restore(self._run, self._args, self._sampling)
        return self._restored


def translate(args) -> None:
    run, beam = open_trained_run(args)
    _check_arguments(args)
    sampling = _sampling(args)
    if args.nbest and not 1 <= args.nbest <= beam:
        raise NmtError(f"--nbest: expected a value between 1 and the beam size ({beam}), got {args.nbest}")
    glossary = glossary_for_run(run, args.glossary or run.config.decode.glossary)  # errors before TensorFlow
    if args.po:
        _translate_catalog(args, run, 1 if sampling else beam, sampling, glossary)
        return
    from nmt.translate import OutputFormat, repl, translate_stream

    if sampling:
        beam = 1
    output = OutputFormat(args.nbest, args.scores, args.jsonl, args.alignments)
    prefixed = bool(args.prefix_file or args.tab_prefix)
    interactive = args.input is None and sys.stdin.isatty() and output == OutputFormat() and not prefixed
    source = None if interactive else _open_input(args.input)
    head = [] if interactive else list(islice(source, QUICK_LINES + 1))  # how much input there is
    quick = None
    if ((interactive or len(head) <= QUICK_LINES) and not (args.run or [])[1:] and not sampling
            and output == OutputFormat() and not prefixed  # scores always come from one implementation
            and not glossary and not (run.config.decode.protect and any(map(has_spans, head)))):  # aligned: TF
        from nmt.quick import quick_start
        from nmt.weights import weights_path

        quick = quick_start(run, args.weights, weights_path(run, args.weights))
    tensorflow = LazyTensorFlow(run, args, sampling, announce=bool(quick and interactive))
    translator = quick or (tensorflow().run, tensorflow().translator)
    if interactive:
        repl(*translator, beam, Path.home() / ".nmt_history", tensorflow, glossary)
        return
    with contextlib.ExitStack() as files:
        files.enter_context(source)
        sink = files.enter_context(_open_output(args.output)) if args.output else sys.stdout
        prefixes = (files.enter_context(open(args.prefix_file, encoding="utf-8", errors="replace", newline="\n"))
                    if args.prefix_file else None)
        translate_stream(*translator, chain(head, source), sink, beam, output, prefixes, args.tab_prefix, glossary)


def _open_output(path: str):
    try:
        return open(path, "w", encoding="utf-8")  # noqa: SIM115 - the caller's ExitStack closes it
    except OSError as error:
        raise NmtError(f"{path}: cannot write the output ({error.strerror})") from None


def _translate_catalog(args, run: Run, beam: int, sampling, glossary) -> None:
    """``--po``: the catalog's empty entries filled, written to ``--output`` or stdout."""
    from nmt.catalog import fill_catalog, read_catalog
    from nmt.files import write_atomic
    from nmt.translate import translate_lines

    catalog, lines = read_catalog(Path(args.po))  # a broken catalog is reported before TensorFlow loads
    restored = _restore(run, args, sampling)
    protect = run.config.decode.protect
    text, counts = fill_catalog(catalog, lines, lambda texts: translate_lines(restored.run, restored.translator,
                                                                              texts, beam, protect=protect,
                                                                              glossary=glossary))
    if args.output:
        write_atomic(Path(args.output), text)
    else:
        sys.stdout.write(text)
    print(f"{args.po}: {counts.filled} entries translated and marked fuzzy, {counts.placeholders_changed} left "
          f"empty (their translation changed a placeholder), {counts.kept} kept as they were", file=sys.stderr)


def _check_arguments(args) -> None:
    if args.input:
        check_text_file(args.input)
    check_writable(args.output)
    if args.prefix_file and not Path(args.prefix_file).is_file():
        raise NmtError(f"{args.prefix_file}: prefix file not found")
    if args.prefix_file and args.tab_prefix:
        raise NmtError("--prefix-file and --tab-prefix: expected one of them, not both")
    if args.po and (args.input or args.nbest or args.scores or args.jsonl or args.alignments or args.prefix_file
                    or args.tab_prefix):
        raise NmtError("--po: expected on its own (with --output), not with --input or another output format")
    if args.po and not Path(args.po).is_file():
        raise NmtError(f"{args.po}: catalog not found")
    if args.alignments and (args.nbest or args.scores or args.prefix_file or args.tab_prefix):
        raise NmtError("--alignments: expected on its own (or with --jsonl), not with --nbest, --scores or a prefix")


def _open_input(path: str | None):
    if path:
        return open(path, encoding="utf-8", errors="replace", newline="\n")
    return open(sys.stdin.fileno(), encoding="utf-8", errors="replace", newline="\n", closefd=False)


def _restore(run: Run, args, sampling) -> Restored:
    """The run restored with TensorFlow, with an ensemble when several ``--run``; the restored
    weights are archived for the next quick start."""
    quiet_tensorflow()
    from nmt.quick import keep_for_quick_start
    from nmt.translate import make_translator
    from nmt.weights import load_model, weights_path

    members = _ensemble_members(run, args.run or [])
    model = load_model(run, args.weights)
    searched = model
    if members:
        from nmt.ensemble import Ensemble

        print(f"ensemble of {len(members) + 1} runs: {', '.join(str(r.directory) for r in [run, *members])}",
              file=sys.stderr)
        searched = Ensemble([model, *(load_model(m, args.weights) for m in members)])
    keep_for_quick_start(run, args.weights, weights_path(run, args.weights), model)
    return Restored(run, model, make_translator(run, searched, sampling))


def _ensemble_members(run: Run, directories: list[str]) -> list[Run]:
    """The runs after the first ``--run``, each checked to share its tokenizer."""
    from nmt.ensemble import check_same_tokenizer

    members = [open_run(Path(directory)) for directory in directories[1:]]
    for member in members:
        check_same_tokenizer(run, member)
    return members


def _sampling(args):
    """The translate command's sampling settings, checked; None without --sample."""
    if not args.sample:
        if args.temperature != 1.0 or args.top_k or args.seed != 1:
            raise NmtError("--temperature, --top-k and --seed: expected together with --sample")
        return None
    if not args.temperature > 0:
        raise NmtError(f"--temperature: expected a number above 0, got {args.temperature}")
    if args.top_k < 0:
        raise NmtError(f"--top-k: expected 0 (all tokens) or more, got {args.top_k}")
    if args.nbest:
        raise NmtError("--sample: draws one translation per line; expected no --nbest")
    quiet_tensorflow()  # before nmt.search imports TensorFlow
    from nmt.search import Sampling

    return Sampling(args.temperature, args.top_k, args.seed)
