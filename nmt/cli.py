"""The ``nmt`` command: train, translate, score, evaluate, inspect, average, export, compare, prepare, diagnose.

Every command takes ``--config FILE`` and ``key.path=value`` overrides.  User
errors print one line (``error: ...``) and exit with status 2; nothing else
reaches the terminal as a traceback.  This module only declares the arguments;
``nmt/commands.py`` and ``nmt/translate_command.py`` carry the commands out.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from nmt import commands, translate_command
from nmt.config import parse_overrides
from nmt.process import DEBUG, report_errors
from nmt.weights import WEIGHTS

DEFAULT_CONFIG = "configs/default.yaml"
RUN_HELP = "run directory (default: <run_root>/<name> from --config); overrides then apply to the run's own config"


def _train_distributed(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--workers", type=int, default=2, help="number of worker processes (default 2)")
    sub.add_argument("--restarts", type=int, default=0,
                     help="start the workers again after a preemption (exit status 75) or a lost worker (76), "
                          "up to this many times (default 0)")


def _weights(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--weights", choices=WEIGHTS, default="best",
                     help="best on dev (default), latest training checkpoint, or averaged (written by `nmt average`)")


def _run_and_beam(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--run", help=RUN_HELP)
    sub.add_argument("--beam", type=int, help="beam size (default decode.beam_size)")
    _weights(sub)


def _translate(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--run", action="append",
                     help=f"{RUN_HELP}. Repeat it for an ensemble: the runs' log-probabilities are "
                          "averaged at every step (same tokenizer)")
    sub.add_argument("--beam", type=int, help="beam size (default decode.beam_size)")
    _weights(sub)
    sub.add_argument("--input", help="file to translate (default: stdin or the REPL)")
    sub.add_argument("--output", help="file to write (default: stdout)")
    sub.add_argument("--nbest", type=int, default=0,
                     help="write the N best translations of each line (N <= beam) as rows "
                          "'line, rank, score, translation' separated by tabs")
    sub.add_argument("--scores", action="store_true",
                     help="write 'score<TAB>translation' (log-probability; beam search: divided by the length penalty)")
    sub.add_argument("--jsonl", action="store_true", help="write one JSON object per input line instead of text")
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
                     help="write 'translation<TAB>alignment': source-target word index pairs (0-based) "
                          "from the attention")
    sub.add_argument("--prefix-file", help="each translation starts with the same line of this "
                                           "file and completes it (a blank line: no prefix)")
    sub.add_argument("--tab-prefix", action="store_true",
                     help="input lines are 'source<TAB>prefix': complete each prefix")
    sub.add_argument("--glossary", help="TSV of 'source term<TAB>target term': each term found in a line is "
                                        "translated in that form (default: decode.glossary)")
    sub.add_argument("--po", help="a gettext catalog: fill its empty translations (marked fuzzy; an entry whose "
                                  "translation would change a placeholder stays empty), write it to --output "
                                  "or stdout, everything else kept byte for byte")


def _export(sub: argparse.ArgumentParser) -> None:
    _run_and_beam(sub)
    sub.add_argument("--output",
                     help="base directory; each export adds the next numbered version (default: <run>/export)")


def _average(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--run", help=RUN_HELP)
    sub.add_argument("--last", type=int, default=5, help="how many of the newest checkpoints to average (default 5)")


def _score(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--run", help=RUN_HELP)
    _weights(sub)
    sub.add_argument("--source", required=True, help="source sentences, one per line")
    sub.add_argument("--target", required=True, help="their translations, line by line")
    sub.add_argument("--output", help="file to write (default: stdout); one line per pair: "
                                      "total log-probability, per token, token count")


def _inspect(sub: argparse.ArgumentParser) -> None:
    _run_and_beam(sub)
    sub.add_argument("--text", required=True, help="the source sentence")
    sub.add_argument("--output", help="PNG to write (default: <run>/inspect.png)")


def _serve(sub: argparse.ArgumentParser) -> None:
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
    sub.add_argument("--glossary", help="TSV of 'source term<TAB>target term' applied to every translation "
                                        "(default: decode.glossary)")


def _prepare(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--corpus", help="recipe to build into data/<corpus>/ instead, e.g. debian-de-en "
                     "(a shipped corpus is rebuilt from its packages and compared with the shipped files)")
    sub.add_argument("--ship", action="store_true",
                     help="with --corpus: rebuild it and make the result the shipped, compressed files")


def _diagnose(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--steps", type=int, default=400, help="training steps (default 400)")
    sub.add_argument("--every", type=int, default=50, help="measure every N steps (default 50)")
    sub.add_argument("--zero-output-bias", action="store_true",
                     help="start the output bias at zero (the stall docs/training.md describes)")
    sub.add_argument("--output", type=Path, help="also write the measurements as JSON lines here")


def _compare(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--vary", action="append",
                     help="key.path=value1,value2,... (repeatable; the key 'config' trains each listed "
                          "config file instead; default: model.cell=lstm,peephole,cifg,gru)")
    sub.add_argument("--variant", action="append", default=[],
                     help="'NAME: key.path=value key.path=value': one variant that sets several keys "
                          "(repeatable; 'base:' is the config unchanged)")
    sub.add_argument("--seeds", help="train every variant once per seed, e.g. 1,2 (default: the config's)")
    sub.add_argument("--output", type=Path,
                     help="directory for compare.md, compare.json and dev_curves.png (default: runs/<name>-compare/)")


def _no_arguments(sub: argparse.ArgumentParser) -> None:
    """Only --config and the overrides."""


# name: (help, declares the command's own arguments, carries it out)
SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable]] = {
    "train": ("prepare data if missing, train (resuming), evaluate the best model", _no_arguments, commands.train),
    "train-distributed": ("train with N local workers on 127.0.0.1 (MultiWorkerMirroredStrategy), "
                          "to try multi-worker training", _train_distributed, commands.train_distributed),
    "translate": ("translate a file, stdin, or interactively", _translate, translate_command.translate),
    "evaluate": ("BLEU/chrF/TER of the best checkpoint on the test sets", _run_and_beam, commands.evaluate),
    "inspect": ("plot encoder gate activations and attention for one sentence", _inspect, commands.inspect),
    "score": ("the log-probability of given translations (forced decoding)", _score, commands.score),
    "export": ("write the run as a self-contained TensorFlow SavedModel", _export, commands.export),
    "average": ("average the weights of the last N training checkpoints", _average, commands.average),
    "serve": ("serve translations over HTTP (JSON API, TF Serving's predict, a web page)", _serve, commands.serve),
    "prepare": ("build a corpus (default: the one in data.corpus) unless it is built", _prepare, commands.prepare),
    "diagnose": ("train a config briefly and measure why it does or does not learn", _diagnose, commands.diagnose),
    "compare": ("train once per variant of a config key and compare them", _compare, commands.compare),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nmt", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, declare, _) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--config", default=DEFAULT_CONFIG, help=f"YAML file (default {DEFAULT_CONFIG})")
        sub.add_argument("overrides", nargs="*", metavar="key.path=value",
                         help="override a config value, e.g. train.max_steps=100")
        declare(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    if not DEBUG:  # before anything can import TensorFlow
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    args = _parser().parse_args(argv)

    def command() -> int | None:
        parse_overrides(args.overrides)
        return SUBCOMMANDS[args.command][2](args)

    return report_errors(command)


if __name__ == "__main__":
    sys.exit(main())
