"""`make bench`: training and decoding speed of a config's model, against this CPU's matmul rate.

    .venv/bin/python benchmarks/bench.py --config configs/bench.yaml [--steps 40] [--output runs/bench] [key=value ...]


Everything is measured in one process, as medians over steady-state repetitions
after warm-up: the float32 (and bfloat16) rate of a large matrix multiply, the
training step's real target tokens/s and achieved GFLOP/s, decoding sentences/s
(greedy and beam 5, batch 1 and 64) on real sentences, peak resident memory,
and the time from starting ``nmt translate`` to its first translation (piped and REPL).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nmt.config import Config, ModelConfig
from nmt.errors import NmtError
from nmt.files import write_atomic
from nmt.machine import describe

MATMUL_SIZE = 2048
def matmul_gflops(dtype: str, repeats: int = 20) -> float:
    """Median GFLOP/s of a MATMUL_SIZE^3 matrix multiply in ``dtype``."""
    import tensorflow as tf

    a = tf.random.normal([MATMUL_SIZE, MATMUL_SIZE], dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(tf.transpose(a), dtype)
    multiply = tf.function(lambda: tf.reduce_sum(tf.cast(tf.matmul(a, b)[:1, :1], tf.float32)))
    multiply()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        multiply().numpy()
        times.append(time.perf_counter() - started)
    return 2 * MATMUL_SIZE ** 3 / statistics.median(times) / 1e9


def training_flops(config: ModelConfig, vocab: int, batch: int, source: int, target: int) -> float:
    """Floating-point operations of one training step on a padded batch: 2 per
    multiply-add of every matrix product, forward and backward (3x forward)."""
    from nmt.cells import CELLS  # after main's quiet TensorFlow import

    enc, dec, att, emb = config.encoder_units, config.decoder_units, config.attention_units, config.embedding_dim
    enc_gates = len(CELLS[config.encoder_cell or config.cell].gates)
    dec_gates = len(CELLS[config.decoder_cell or config.cell].gates)
    memory = 2 * enc
    macs = 0.0
    for layer in range(config.encoder_layers):
        inputs = emb if layer == 0 else memory
        macs += 2 * batch * source * (inputs + enc) * enc_gates * enc
    feed = memory if config.attention == "bahdanau" else att if config.input_feeding else 0
    for layer in range(config.decoder_layers):
        inputs = emb + feed if layer == 0 else dec
        macs += batch * target * (inputs + dec) * dec_gates * dec
    if config.attention in ("luong_concat", "bahdanau"):
        macs += batch * source * memory * att + batch * target * dec * att
        macs += batch * target * source * att  # v . tanh(...) for every (target, source) pair
    elif config.attention == "luong_general":
        macs += batch * source * memory * dec + batch * target * source * dec
    else:
        macs += batch * target * source * dec
    macs += batch * target * source * memory      # context vectors
    macs += batch * target * (memory + dec) * att  # attentional vector
    macs += batch * target * att * vocab           # output layer
    return 3 * 2 * macs


def _real_batches(trainer, count: int):
    """The first ``count`` batches of the run's first epoch, from the corpus the trainer tokenized."""
    from nmt.data import make_arrays, plan_batches

    train_cfg = trainer.config.train
    plan = plan_batches(trainer.corpus, train_cfg.batch_tokens, trainer.config.seed, 0)
    return [make_arrays(trainer.corpus, indices) for indices in plan[:count]]


def measure_training(trainer_step, batches, config: Config, vocab_size: int, warmup: int) -> dict:
    """Median real-target tokens/s and achieved GFLOP/s over the batches after ``warmup``."""
    import tensorflow as tf

    no_time = tf.constant(0.0, tf.float64)  # the step's elapsed-time input, unused here
    rate = tf.constant(config.train.learning_rate, tf.float32)
    update = tf.constant(True)  # every batch is one update (no train.accumulate)
    no_stop = tf.constant(0.0)  # no SIGTERM to pass on
    speeds, rates = [], []
    for index, (source, target_in, target_out) in enumerate(batches):
        started = time.perf_counter()
        loss, tokens, _, _, _ = trainer_step(source, target_in, target_out, no_time, rate, update, no_stop)
        float(loss)
        seconds = time.perf_counter() - started
        if index >= warmup:
            speeds.append(float(tokens) / seconds)
            rates.append(training_flops(config.model, vocab_size, *source.shape, target_in.shape[1])
                         / seconds / 1e9)
    return {"target_tokens_per_second": round(statistics.median(speeds)),
            "gflops": round(statistics.median(rates), 1), "steps_timed": len(speeds)}


def first_translation(run_dir: Path, sentence: str, terminal: bool = False) -> float:
    """Seconds from starting ``nmt translate`` in a new process to its first translation:
    of piped input, or typed into the REPL (on a pseudo-terminal) as soon as it prompts."""
    command = [sys.executable, "-m", "nmt.cli", "translate", "--run", str(run_dir)]
    started = time.perf_counter()
    if terminal:
        import pexpect

        child = pexpect.spawn(command[0], command[1:], encoding="utf-8", timeout=300)
        try:
            child.expect(r"\w+> ")
            child.sendline(sentence)
            child.expect(r"\w+> ")
        except pexpect.ExceptionPexpect:
            raise NmtError(f"nmt translate (REPL) failed in the benchmark: {child.before.strip()[-200:]}") from None
        seconds = time.perf_counter() - started
        child.close(force=True)
        return seconds
    result = subprocess.run(command, input=sentence + "\n", capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["no message"]
        raise NmtError(f"nmt translate failed in the benchmark: {lines[-1]}")
    return seconds


def first_translation_times(run_dir: Path, sentence: str, starts: int = 5) -> dict:
    """The first start (TensorFlow restores the checkpoint and archives it for NumPy), then the
    median of ``starts`` quick starts, piped and in the REPL (see nmt/quick.py)."""
    without_archive = first_translation(run_dir, sentence)
    piped = [first_translation(run_dir, sentence) for _ in range(starts)]
    repl = [first_translation(run_dir, sentence, terminal=True) for _ in range(starts)]
    return {"first_start_tensorflow": round(without_archive, 2), "piped": round(statistics.median(piped), 2),
            "repl": round(statistics.median(repl), 2), "starts": starts}


def peer_shapes(config: Config, run) -> dict:
    """What ``joeynmt_side.py`` needs to build JoeyNMT's model as ours and decode as ours."""
    model = config.model
    return {"vocab": run.tgt_vocab.size, "embedding_dim": model.embedding_dim,
            "encoder_units": model.encoder_units, "encoder_layers": model.encoder_layers,
            "decoder_units": model.decoder_units, "decoder_layers": model.decoder_layers,
            "dropout": model.dropout, "ratio": config.decode.max_length_ratio,
            "offset": config.decode.max_length_offset}


def save_for_peer(path: Path, config: Config, run, batches, sentences: list[str], warmup: int) -> None:
    """The exact batches and sentences measured here, as token ids, for ``joeynmt_side.py``."""
    shapes = {**peer_shapes(config, run), "warmup": warmup}
    arrays = {f"train_src_{i}": source for i, (source, _, _) in enumerate(batches)}
    arrays.update({f"train_tgt_{i}": target_out for i, (_, _, target_out) in enumerate(batches)})
    arrays.update({f"decode_{i}": np.array(ids, np.int32)
                   for i, ids in enumerate(run.src_vocab.encode(sentences))})
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, shapes=json.dumps(shapes), train_count=len(batches), decode_count=len(sentences),
             **arrays)


def bench(config: Config, output: Path, steps: int = 40, warmup: int = 8) -> dict:
    """Run every measurement; write ``bench.json`` and ``bench.md`` to ``output``."""
    import keras

    from nmt.compare import timed_translation
    from nmt.corpus import read_parallel
    from nmt.train import Trainer, prepare_run, read_corpora
    from nmt.translate import make_translator

    keras.utils.set_random_seed(config.seed)
    results: dict = {"config": str(config.name), "machine": describe()}
    results["matmul_gflops"] = {dtype: round(matmul_gflops(dtype), 1) for dtype in ("float32", "bfloat16")}
    with tempfile.TemporaryDirectory() as scratch:
        config = dataclasses.replace(config, run_root=scratch)
        corpora = read_corpora(config)
        run = prepare_run(config, corpora)
        trainer = Trainer(run, corpora)
        batches = _real_batches(trainer, steps + warmup)
        sentences = read_parallel(config.data.test[0], config.data.src_lang, config.data.tgt_lang)[0][:512]
        save_for_peer(output / "batches.npz", config, run, batches, sentences, warmup)
        training = measure_training(trainer.train_step, batches, config, run.tgt_vocab.size, warmup)
        training["fraction_of_matmul"] = round(training["gflops"] / results["matmul_gflops"]["float32"], 3)
        results["training_float32"] = training
        trainer.save()
        mixed_run = dataclasses.replace(
            run, config=dataclasses.replace(config, train=dataclasses.replace(config.train, precision="bfloat16")))
        mixed = measure_training(Trainer(mixed_run, corpora).train_step, batches, config, run.tgt_vocab.size,
                                 warmup)
        mixed["fraction_of_matmul"] = round(mixed["gflops"] / results["matmul_gflops"]["bfloat16"], 3)
        results["training_bfloat16"] = mixed
        translator = make_translator(run, trainer.model)
        decoding = {}
        for beam in (1, 5):
            for batch, count in ((1, 32), (64, 512)):
                decoding[f"beam{beam}_batch{batch}"] = round(
                    timed_translation(run, translator, sentences[:count], beam, batch)[1], 1)
        results["decode_sentences_per_second"] = decoding
        results["seconds_to_first_translation"] = first_translation_times(run.directory, sentences[0])
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    output.mkdir(parents=True, exist_ok=True)
    write_atomic(output / "bench.json", json.dumps(results, indent=2) + "\n")
    write_atomic(output / "bench.md", markdown(results))
    return results


def markdown(results: dict) -> str:
    training = results["training_float32"]
    decode = results["decode_sentences_per_second"]
    first = results["seconds_to_first_translation"]
    rows = [
        ("matmul 2048^3 float32 / bfloat16, GFLOP/s",
         f"{results['matmul_gflops']['float32']} / {results['matmul_gflops']['bfloat16']}"),
        ("training, float32: target tokens/s", f"{training['target_tokens_per_second']:,}"),
        ("training, float32: achieved GFLOP/s (share of float32 matmul)",
         f"{training['gflops']} ({training['fraction_of_matmul']:.0%})"),
        ("training, bfloat16: target tokens/s",
         f"{results['training_bfloat16']['target_tokens_per_second']:,}"),
        ("training, bfloat16: achieved GFLOP/s (share of bfloat16 matmul)",
         f"{results['training_bfloat16']['gflops']} ({results['training_bfloat16']['fraction_of_matmul']:.0%})"),
        ("greedy decoding, sentences/s (batch 1 / 64)", f"{decode['beam1_batch1']} / {decode['beam1_batch64']}"),
        ("beam 5 decoding, sentences/s (batch 1 / 64)", f"{decode['beam5_batch1']} / {decode['beam5_batch64']}"),
        ("seconds from start to first translation: piped / REPL (median of "
         f"{first['starts']} starts); the very first start (TensorFlow)",
         f"{first['piped']} / {first['repl']}; {first['first_start_tensorflow']}"),
        ("peak resident memory, MB", f"{results['peak_rss_mb']:,}"),
    ]
    return "| measurement | value |\n| --- | ---: |\n" + "".join(f"| {a} | {b} |\n" for a, b in rows)


def main() -> int:
    from data_prep.recipes import prepare
    from nmt.config import load_config
    from nmt.process import quiet_tensorflow, report_errors

    parser = argparse.ArgumentParser(description="training and decoding speed of a config's model on this CPU")
    parser.add_argument("--config", default="configs/bench.yaml", help="experiment YAML (default configs/bench.yaml)")
    parser.add_argument("--output", default="runs/bench", help="directory for bench.json and bench.md")
    parser.add_argument("--steps", type=int, default=40, help="timed training steps (after 8 warm-up steps)")
    parser.add_argument("overrides", nargs="*", help="key.path=value config overrides")
    args = parser.parse_args()

    def command() -> None:
        config = load_config(args.config, args.overrides)
        if args.steps < 1:
            raise NmtError(f"--steps: expected a positive number, got {args.steps}")
        prepare(config.data)
        quiet_tensorflow()
        print(f"benchmarking {config.name} ({args.steps} timed training steps)", file=sys.stderr)
        bench(config, Path(args.output), steps=args.steps)
        print((Path(args.output) / "bench.md").read_text(encoding="utf-8"))

    return report_errors(command)


if __name__ == "__main__":
    sys.exit(main())
