"""The ``nmt`` command: train, translate, score, evaluate, inspect, average, export, compare, prepare, diagnose.

Every command takes ``--config FILE`` and ``key.path=value`` overrides.  User
errors print one line (``error: ...``) and exit with status 2; nothing else
reaches the terminal as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from itertools import chain, islice
from pathlib import Path

from data_prep.recipes import prepare
from nmt.config import load_config, parse_overrides
from nmt.errors import NmtError
from nmt.weights import WEIGHTS

DEFAULT_CONFIG = "configs/default.yaml"


DEBUG = os.environ.get("NMT_DEBUG", "") not in ("", "0")  # full tracebacks and TensorFlow's own logs


def quiet_tensorflow() -> None:
    """Import TensorFlow without its chatter on stderr, whatever the caller's environment says.

    TF_CPP_MIN_LOG_LEVEL=3 is forced (a user's common 2 still lets C++ error lines such as
    failed CUDA probes through on every command).  TF 2.21 also logs through absl before
    absl is initialised, which ignores that variable; so stderr is parked in a file during
    the import and replayed only if the import fails.  ``NMT_DEBUG=1`` shows everything.
    """
    if DEBUG or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as parked:
        os.dup2(parked.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            parked.seek(0)
            sys.stderr.write(parked.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nmt", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--config", default=DEFAULT_CONFIG, help=f"YAML file (default {DEFAULT_CONFIG})")
        sub.add_argument("overrides", nargs="*", metavar="key.path=value",
                         help="override a config value, e.g. train.max_steps=100")
        return sub

    command("train", "prepare data if missing, train (resuming), evaluate the best model")
    sub = command("train-distributed", "train with N local workers on 127.0.0.1 "
                                       "(MultiWorkerMirroredStrategy), to try multi-worker training")
    sub.add_argument("--workers", type=int, default=2, help="number of worker processes (default 2)")
    for name, text in (("translate", "translate a file, stdin, or interactively"),
                       ("evaluate", "BLEU/chrF/TER of the best checkpoint on the test sets"),
                       ("inspect", "plot encoder gate activations and attention for one sentence"),
                       ("score", "the log-probability of given translations (forced decoding)"),
                       ("export", "write the run as a self-contained TensorFlow SavedModel"),
                       ("average", "average the weights of the last N training checkpoints")):
        sub = command(name, text)
        if name == "translate":
            sub.add_argument("--run", action="append",
                             help="run directory (default: <run_root>/<name> from --config); overrides "
                                  "then apply to the run's own config. Repeat it for an ensemble: the "
                                  "runs' log-probabilities are averaged at every step (same tokenizer)")
        else:
            sub.add_argument("--run", help="run directory (default: <run_root>/<name> from --config); "
                                           "overrides then apply to the run's own config")
        if name == "average":
            sub.add_argument("--last", type=int, default=5,
                             help="how many of the newest checkpoints to average (default 5)")
            continue
        if name != "score":
            sub.add_argument("--beam", type=int, help="beam size (default decode.beam_size)")
        sub.add_argument("--weights", choices=WEIGHTS, default="best",
                         help="best on dev (default), latest training checkpoint, or averaged "
                              "(written by `nmt average`)")
        if name == "export":
            sub.add_argument("--output", help="base directory; each export adds the next numbered "
                                              "version (default: <run>/export)")
        if name == "translate":
            sub.add_argument("--input", help="file to translate (default: stdin or the REPL)")
            sub.add_argument("--output", help="file to write (default: stdout)")
            sub.add_argument("--nbest", type=int, default=0,
                             help="write the N best translations of each line (N <= beam) as rows "
                                  "'line, rank, score, translation' separated by tabs")
            sub.add_argument("--scores", action="store_true",
                             help="write 'score<TAB>translation' (log-probability; beam search: "
                                  "divided by the length penalty)")
            sub.add_argument("--jsonl", action="store_true",
                             help="write one JSON object per input line instead of text")
            sub.add_argument("--sample", action="store_true",
                             help="draw each token from the model's distribution instead of searching "
                                  "(for back-translation and diverse outputs; the beam size is ignored)")
            sub.add_argument("--temperature", type=float, default=1.0,
                             help="with --sample: below 1 sharpens, above 1 flattens the distribution (default 1)")
            sub.add_argument("--top-k", type=int, default=0,
                             help="with --sample: draw only from the K most likely tokens (default 0: all)")
            sub.add_argument("--seed", type=int, default=1,
                             help="with --sample: the same seed and input give the same output (default 1)")
            sub.add_argument("--alignments", action="store_true",
                             help="write 'translation<TAB>alignment': source-target word index pairs "
                                  "(0-based) from the attention")
            sub.add_argument("--prefix-file", help="each translation starts with the same line of this "
                                                   "file and completes it (a blank line: no prefix)")
            sub.add_argument("--tab-prefix", action="store_true",
                             help="input lines are 'source<TAB>prefix': complete each prefix")
        if name == "score":
            sub.add_argument("--source", required=True, help="source sentences, one per line")
            sub.add_argument("--target", required=True, help="their translations, line by line")
            sub.add_argument("--output", help="file to write (default: stdout); one line per pair: "
                                              "total log-probability, per token, token count")
        if name == "inspect":
            sub.add_argument("--text", required=True, help="the source sentence")
            sub.add_argument("--output", help="PNG to write (default: <run>/inspect.png)")
    sub = command("serve", "serve translations over HTTP (JSON API, TF Serving's predict, a web page)")
    sub.add_argument("--run", help="run directory (default: <run_root>/<name> from --config)")
    sub.add_argument("--weights", choices=WEIGHTS, default="best", help="which checkpoint (as for translate)")
    sub.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1, this machine only; 0.0.0.0 opens it to all)")
    sub.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    sub.add_argument("--batch-wait-ms", type=float, default=5.0,
                     help="gather concurrent requests this long into one decoder batch (default 5)")
    sub.add_argument("--max-batch", type=int, default=256, help="sentences per decoder batch at most (default 256)")
    sub.add_argument("--max-lines", type=int, default=1000, help="sentences per request at most (default 1000)")
    sub.add_argument("--max-body", type=int, default=1 << 20, help="bytes per request body at most (default 1 MiB)")
    sub.add_argument("--no-batching", action="store_true",
                     help="decode one request at a time (to measure what batching gains)")
    sub = command("prepare", "build a corpus (default: the one in data.corpus) unless it is built")
    sub.add_argument("--corpus", help="recipe to build into data/<corpus>/ instead, e.g. debian-de-en "
                     "(a shipped corpus is rebuilt from its packages and compared with the shipped files)")
    sub.add_argument("--ship", action="store_true",
                     help="with --corpus: rebuild it and make the result the shipped, compressed files")
    sub = command("diagnose", "train a config briefly and measure why it does or does not learn")
    sub.add_argument("--steps", type=int, default=400, help="training steps (default 400)")
    sub.add_argument("--every", type=int, default=50, help="measure every N steps (default 50)")
    sub.add_argument("--zero-output-bias", action="store_true",
                     help="start the output bias at zero (the stall docs/training.md describes)")
    sub.add_argument("--output", type=Path, help="also write the measurements as JSON lines here")
    sub = command("compare", "train once per variant of a config key and compare them")
    sub.add_argument("--vary", action="append",
                     help="key.path=value1,value2,... (repeatable; the key 'config' trains each listed "
                          "config file instead; default: model.cell=lstm,peephole,cifg,gru)")
    sub.add_argument("--variant", action="append", default=[],
                     help="'NAME: key.path=value key.path=value': one variant that sets several keys "
                          "(repeatable; 'base:' is the config unchanged)")
    sub.add_argument("--seeds", help="train every variant once per seed, e.g. 1,2 (default: the config's)")
    sub.add_argument("--output", type=Path,
                     help="directory for compare.md, compare.json and dev_curves.png "
                          "(default: runs/<name>-compare/)")
    return parser


def _open_trained_run(args):
    from nmt.run import open_run

    chosen = args.run[0] if isinstance(args.run, list) else args.run  # translate: the first of an ensemble
    directory = Path(chosen) if chosen else load_config(args.config, args.overrides).run_dir
    run = open_run(directory, overrides=args.overrides)
    beam = getattr(args, "beam", None)
    if beam is not None and not 1 <= beam <= 100:
        raise NmtError(f"--beam: expected a value between 1 and 100, got {beam}")
    return run, beam or run.config.decode.beam_size


def cmd_train(args) -> None:
    config = load_config(args.config, args.overrides)
    prepare(config.data)
    quiet_tensorflow()
    from nmt.distribute import is_chief
    from nmt.evaluate import evaluate_run, print_report
    from nmt.quick import keep_for_quick_start
    from nmt.train import train
    from nmt.translate import make_translator
    from nmt.weights import load_model, weights_path

    run = train(config)
    if not is_chief(config.train.distribute):
        return  # the chief evaluates and reports
    model = load_model(run)
    keep_for_quick_start(run, "best", weights_path(run), model)  # the first `make translate` starts quickly
    translator = make_translator(run, model)
    print(f"evaluating the best checkpoint on {', '.join(config.data.test)} "
          f"(beam {config.decode.beam_size})", file=sys.stderr)
    print_report(evaluate_run(run, translator, config.decode.beam_size))


def cmd_train_distributed(args) -> int:
    config = load_config(args.config, args.overrides)
    prepare(config.data)  # once, before the workers start
    from nmt.distribute import launch_local_workers

    return launch_local_workers(args.config, args.overrides, args.workers,
                                Path(config.run_root) / f"{config.name}.workers")


def cmd_evaluate(args) -> None:
    run, beam = _open_trained_run(args)
    quiet_tensorflow()
    from nmt.evaluate import evaluate_run, print_report
    from nmt.translate import make_translator
    from nmt.weights import load_model

    print_report(evaluate_run(run, make_translator(run, load_model(run, args.weights)), beam))


def cmd_translate(args) -> None:
    run, beam = _open_trained_run(args)
    if args.input and Path(args.input).is_dir():
        raise NmtError(f"{args.input}: is a directory, expected a text file")
    if args.input and not Path(args.input).is_file():
        raise NmtError(f"{args.input}: input file not found")
    if args.output and not Path(args.output).parent.is_dir():
        raise NmtError(f"{args.output}: cannot write the output (No such file or directory)")
    if args.prefix_file and not Path(args.prefix_file).is_file():
        raise NmtError(f"{args.prefix_file}: prefix file not found")
    if args.prefix_file and args.tab_prefix:
        raise NmtError("--prefix-file and --tab-prefix: expected one of them, not both")
    if args.alignments and (args.nbest or args.scores or args.prefix_file or args.tab_prefix):
        raise NmtError("--alignments: expected on its own (or with --jsonl), not with --nbest, --scores "
                       "or a prefix")
    sampling = _sampling(args)
    if args.nbest and not 1 <= args.nbest <= beam:
        raise NmtError(f"--nbest: expected a value between 1 and the beam size ({beam}), got {args.nbest}")
    from nmt.translate import OutputFormat, repl, translate_stream
    from nmt.weights import weights_path

    if sampling:
        beam = 1
    output = OutputFormat(args.nbest, args.scores, args.jsonl, args.alignments)
    prefixed = bool(args.prefix_file or args.tab_prefix)
    interactive = args.input is None and sys.stdin.isatty() and output == OutputFormat() and not prefixed
    source = None if interactive else _open_input(args.input)
    head = [] if interactive else list(islice(source, QUICK_LINES + 1))  # how much input there is
    quick = None
    if ((interactive or len(head) <= QUICK_LINES) and not (args.run or [])[1:] and not sampling
            and output == OutputFormat() and not prefixed):  # scores always come from one implementation
        from nmt.quick import quick_start

        quick = quick_start(run, args.weights, weights_path(run, args.weights))
    loaded: list = []

    def tensorflow():
        if not loaded:
            if quick and interactive:
                print("(loading TensorFlow for this command: a few seconds, once)", file=sys.stderr)
            loaded.extend(_tensorflow_translator(run, args, sampling))
        return loaded

    if interactive:
        repl(*(quick or tensorflow()[::2]), beam, Path.home() / ".nmt_history", tensorflow)
        return
    try:
        sink = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    except OSError as error:
        raise NmtError(f"{args.output}: cannot write the output ({error.strerror})") from None
    prefixes = open(args.prefix_file, encoding="utf-8", errors="replace", newline="\n") if args.prefix_file else None
    with source:
        translate_stream(*(quick or tensorflow()[::2]), chain(head, source), sink, beam, output, prefixes,
                         args.tab_prefix)
    if prefixes:
        prefixes.close()
    if args.output:
        sink.close()


# Piped or file input of up to this many lines is translated without TensorFlow (nmt/quick.py)
# when the run allows it: NumPy, one sentence at a time, is done before TensorFlow would have
# loaded and translated them in batches (docs/speed.md has the measurements).
QUICK_LINES = 32


def _open_input(path: str | None):
    if path:
        return open(path, encoding="utf-8", errors="replace", newline="\n")
    return open(sys.stdin.fileno(), encoding="utf-8", errors="replace", newline="\n", closefd=False)


def _tensorflow_translator(run, args, sampling) -> tuple:
    """(run, model, translator) restored with TensorFlow, with an ensemble when several
    ``--run``; the restored weights are archived for the next quick start."""
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
    return run, model, make_translator(run, searched, sampling)


def _ensemble_members(run, directories: list[str]) -> list:
    """The runs after the first ``--run``, each checked to share its tokenizer."""
    from nmt.ensemble import check_same_tokenizer
    from nmt.run import open_run

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


def _read_lines(path: str) -> list[str]:
    if Path(path).is_dir():
        raise NmtError(f"{path}: is a directory, expected a text file")
    if not Path(path).is_file():
        raise NmtError(f"{path}: input file not found")
    with open(path, encoding="utf-8", errors="replace", newline="\n") as handle:
        return [line.rstrip("\r\n") for line in handle]


def cmd_serve(args) -> None:
    run, _ = _open_trained_run(args)
    for flag, value, low in (("--port", args.port, 1), ("--max-batch", args.max_batch, 1),
                             ("--max-lines", args.max_lines, 1), ("--max-body", args.max_body, 1024)):
        if value < low or (flag == "--port" and value > 65535):
            raise NmtError(f"{flag}: expected {'a port from 1 to 65535' if flag == '--port' else f'at least {low}'}, "
                           f"got {value}")
    if not 0 <= args.batch_wait_ms <= 1000:
        raise NmtError(f"--batch-wait-ms: expected 0 to 1000, got {args.batch_wait_ms}")
    quiet_tensorflow()
    from nmt.serve import ServeOptions, serve

    serve(run, args.weights, ServeOptions(args.host, args.port, args.batch_wait_ms / 1000, args.max_batch,
                                          args.max_lines, args.max_body, not args.no_batching))


def cmd_score(args) -> None:
    run, _ = _open_trained_run(args)
    sources, targets = _read_lines(args.source), _read_lines(args.target)
    if len(sources) != len(targets):
        raise NmtError(f"{args.target}: {len(targets)} translations for the {len(sources)} lines of "
                       f"{args.source}; expected one translation per source line")
    if args.output and not Path(args.output).parent.is_dir():
        raise NmtError(f"{args.output}: cannot write the output (No such file or directory)")
    quiet_tensorflow()
    from nmt.scoring import score_pairs, write_scores
    from nmt.weights import load_model

    scores = score_pairs(run, load_model(run, args.weights), sources, targets)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as sink:
            write_scores(scores, sink)
    else:
        write_scores(scores, sys.stdout)


def cmd_inspect(args) -> None:
    run, beam = _open_trained_run(args)
    if not args.text.strip():
        raise NmtError("--text: expected a sentence, got an empty string")
    quiet_tensorflow()
    from nmt.inspection import inspect_sentence
    from nmt.translate import make_translator
    from nmt.weights import load_model

    model = load_model(run, args.weights)
    output = Path(args.output) if args.output else run.directory / "inspect.png"
    print(inspect_sentence(run, model, make_translator(run, model), args.text, beam, output))
    print(f"plot written to {output}", file=sys.stderr)


def cmd_average(args) -> None:
    run, _ = _open_trained_run(args)
    quiet_tensorflow()
    from nmt.average import average_checkpoints

    average_checkpoints(run, args.last)


def cmd_export(args) -> None:
    run, beam = _open_trained_run(args)
    quiet_tensorflow()
    from nmt.export import export
    from nmt.weights import load_model

    base = Path(args.output) if args.output else run.directory / "export"
    print(export(run, load_model(run, args.weights), beam, base))


def cmd_prepare(args) -> None:
    if args.ship and not args.corpus:
        raise NmtError("--ship needs --corpus NAME: the corpus to rebuild and ship")
    prepare(load_config(args.config, args.overrides).data, args.corpus, args.ship)


def cmd_compare(args) -> None:
    from nmt.compare import parse_seeds, variant_configs

    base = load_config(args.config, args.overrides)
    root = Path(base.run_root) / f"{base.name}-compare"
    # every variant's config is validated, and every corpus built, before the first one trains
    configs = variant_configs(args.config, args.overrides,
                              args.vary or ([] if args.variant else ["model.cell=lstm,peephole,cifg,gru"]),
                              parse_seeds(args.seeds), root, args.variant)
    for config in configs.values():
        prepare(config.data)
    quiet_tensorflow()
    from nmt.compare import compare

    compare(configs, args.output or root)


def cmd_diagnose(args) -> None:
    if args.steps < 1 or args.every < 1:
        raise NmtError(f"--steps and --every: expected positive numbers, got {args.steps} and {args.every}")
    config = load_config(args.config, args.overrides)
    prepare(config.data)
    quiet_tensorflow()
    from nmt.diagnose import diagnose, write_report

    records = diagnose(config, args.steps, args.every, args.zero_output_bias)
    if args.output:
        write_report(records, args.output)


COMMANDS = {"train": cmd_train, "train-distributed": cmd_train_distributed, "translate": cmd_translate,
            "evaluate": cmd_evaluate,
            "prepare": cmd_prepare, "compare": cmd_compare, "diagnose": cmd_diagnose, "inspect": cmd_inspect,
            "average": cmd_average, "export": cmd_export, "score": cmd_score, "serve": cmd_serve}


def report_errors(command: Callable[[], int | None]) -> int:
    """Run ``command`` and turn a user error into one ``error:`` line and exit status 2
    (``NMT_DEBUG=1`` also prints its traceback); the scripts in benchmarks/ use it too."""
    try:
        return command() or 0
    except NmtError as error:
        if DEBUG:
            traceback.print_exc()
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def main(argv: list[str] | None = None) -> int:
    if not DEBUG:  # before anything can import TensorFlow
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    args = _parser().parse_args(argv)

    def command() -> int | None:
        parse_overrides(args.overrides)
        return COMMANDS[args.command](args)

    return report_errors(command)


if __name__ == "__main__":
    sys.exit(main())
