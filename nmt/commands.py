"""What each ``nmt`` subcommand does, given its parsed arguments (``nmt translate`` is in
``nmt/translate_command.py``).

Each checks its arguments first, so a user error ends in one line before TensorFlow loads;
then it imports the TensorFlow-based modules it needs (``nmt/process.py`` says why here).
"""

from __future__ import annotations

import sys
from pathlib import Path

from data_prep.recipes import prepare as prepare_corpus
from nmt.config import load_config
from nmt.errors import NmtError
from nmt.glossary import glossary_for_run
from nmt.process import quiet_tensorflow
from nmt.run import Run, open_run


def open_trained_run(args) -> tuple[Run, int]:
    """The run named by ``--run`` (the first of an ensemble) or by the config, and the beam
    size to search with."""
    chosen = args.run[0] if isinstance(args.run, list) else args.run
    directory = Path(chosen) if chosen else load_config(args.config, args.overrides).run_dir
    run = open_run(directory, overrides=args.overrides)
    beam = getattr(args, "beam", None)
    if beam is not None and not 1 <= beam <= 100:
        raise NmtError(f"--beam: expected a value between 1 and 100, got {beam}")
    return run, beam or run.config.decode.beam_size


def train(args) -> None:
    config = load_config(args.config, args.overrides)
    prepare_corpus(config.data)
    quiet_tensorflow()
    from nmt.distribute import is_chief
    from nmt.evaluate import evaluate_run, print_report
    from nmt.quick import keep_for_quick_start
    from nmt.train import train as train_run
    from nmt.translate import make_translator
    from nmt.weights import load_model, weights_path

    run = train_run(config)
    if not is_chief(config.train.distribute):
        return  # the chief evaluates and reports
    model = load_model(run)
    keep_for_quick_start(run, "best", weights_path(run), model)  # the first `make translate` starts quickly
    print(f"evaluating the best checkpoint on {', '.join(config.data.test)} "
          f"(beam {config.decode.beam_size})", file=sys.stderr)
    print_report(evaluate_run(run, make_translator(run, model), config.decode.beam_size))


def train_distributed(args) -> int:
    config = load_config(args.config, args.overrides)
    prepare_corpus(config.data)  # once, before the workers start
    from nmt.distribute import launch_local_workers

    return launch_local_workers(args.config, args.overrides, args.workers,
                                Path(config.run_root) / f"{config.name}.workers", args.restarts,
                                grace=config.train.worker_timeout + 30)  # time to notice a lost peer


def evaluate(args) -> None:
    run, beam = open_trained_run(args)
    quiet_tensorflow()
    from nmt.evaluate import evaluate_run, print_report
    from nmt.translate import make_translator
    from nmt.weights import load_model

    print_report(evaluate_run(run, make_translator(run, load_model(run, args.weights)), beam))


def check_text_file(path: str) -> None:
    """An input file the user named exists and is not a directory."""
    if Path(path).is_dir():
        raise NmtError(f"{path}: is a directory, expected a text file")
    if not Path(path).is_file():
        raise NmtError(f"{path}: input file not found")


def read_lines(path: str) -> list[str]:
    check_text_file(path)
    with open(path, encoding="utf-8", errors="replace", newline="\n") as handle:
        return [line.rstrip("\r\n") for line in handle]


def check_writable(path: str | None) -> None:
    if path and not Path(path).parent.is_dir():
        raise NmtError(f"{path}: cannot write the output (No such file or directory)")


def serve(args) -> None:
    run, _ = open_trained_run(args)
    for flag, value, low in (("--port", args.port, 1), ("--max-batch", args.max_batch, 1),
                             ("--max-lines", args.max_lines, 1), ("--max-body", args.max_body, 1024)):
        if value < low or (flag == "--port" and value > 65535):
            raise NmtError(f"{flag}: expected {'a port from 1 to 65535' if flag == '--port' else f'at least {low}'}, "
                           f"got {value}")
    if not 0 <= args.batch_wait_ms <= 1000:
        raise NmtError(f"--batch-wait-ms: expected 0 to 1000, got {args.batch_wait_ms}")
    quiet_tensorflow()
    from nmt.serve import ServeOptions
    from nmt.serve import serve as serve_run

    glossary = glossary_for_run(run, args.glossary or run.config.decode.glossary)
    serve_run(run, args.weights, ServeOptions(args.host, args.port, args.batch_wait_ms / 1000, args.max_batch,
                                              args.max_lines, args.max_body, not args.no_batching), glossary)


def score(args) -> None:
    run, _ = open_trained_run(args)
    sources, targets = read_lines(args.source), read_lines(args.target)
    if len(sources) != len(targets):
        raise NmtError(f"{args.target}: {len(targets)} translations for the {len(sources)} lines of "
                       f"{args.source}; expected one translation per source line")
    check_writable(args.output)
    quiet_tensorflow()
    from nmt.scoring import score_pairs, write_scores
    from nmt.weights import load_model

    scores = score_pairs(run, load_model(run, args.weights), sources, targets)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as sink:
            write_scores(scores, sink)
    else:
        write_scores(scores, sys.stdout)


def inspect(args) -> None:
    run, beam = open_trained_run(args)
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


def average(args) -> None:
    run, _ = open_trained_run(args)
    quiet_tensorflow()
    from nmt.average import average_checkpoints

    average_checkpoints(run, args.last)


def export(args) -> None:
    run, beam = open_trained_run(args)
    quiet_tensorflow()
    from nmt.export import export as export_run
    from nmt.weights import load_model

    base = Path(args.output) if args.output else run.directory / "export"
    print(export_run(run, load_model(run, args.weights), beam, base))


def prepare(args) -> None:
    if args.ship and not args.corpus:
        raise NmtError("--ship needs --corpus NAME: the corpus to rebuild and ship")
    prepare_corpus(load_config(args.config, args.overrides).data, args.corpus, args.ship)


def compare(args) -> None:
    from nmt.compare import parse_seeds, variant_configs

    base = load_config(args.config, args.overrides)
    root = Path(base.run_root) / f"{base.name}-compare"
    # every variant's config is validated, and every corpus built, before the first one trains
    configs = variant_configs(args.config, args.overrides,
                              args.vary or ([] if args.variant else ["model.cell=lstm,peephole,cifg,gru"]),
                              parse_seeds(args.seeds), root, args.variant)
    for config in configs.values():
        prepare_corpus(config.data)
    quiet_tensorflow()
    from nmt.compare import compare as compare_variants

    compare_variants(configs, args.output or root)


def diagnose(args) -> None:
    if args.steps < 1 or args.every < 1:
        raise NmtError(f"--steps and --every: expected positive numbers, got {args.steps} and {args.every}")
    config = load_config(args.config, args.overrides)
    prepare_corpus(config.data)
    quiet_tensorflow()
    from nmt.diagnose import diagnose as diagnose_config
    from nmt.diagnose import write_report

    records = diagnose_config(config, args.steps, args.every, args.zero_output_bias)
    if args.output:
        write_report(records, args.output)
