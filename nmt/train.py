"""The training loop: teacher-forced cross-entropy, checkpoints, resume, validation by dev BLEU.

Everything about the loop's position (step, epoch, batch within the epoch,
elapsed time, best score) lives in the checkpoint next to the model and
optimizer, so a killed run continues where its last checkpoint left off and
sees the same batches in the same order.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import keras
import tensorflow as tf

from nmt.checkpoint import RunCheckpoints
from nmt.config import Config, dump_config, load_config
from nmt.corpus import count_parallel, iter_parallel, parallel_paths, read_parallel
from nmt.data import EncodedCorpus, encode_to_disk, epoch_dataset, epoch_size, open_encoded
from nmt.distribute import cluster_task, is_chief, make_strategy
from nmt.errors import NmtError
from nmt.evaluate import score
from nmt.files import write_atomic
from nmt.machine import compute_precision
from nmt.meter import TrainingMeter, ValidationLog, format_duration, log_progress
from nmt.model import build_model
from nmt.preemption import Heartbeat, Preempted, PreemptionNotice, worker_lost
from nmt.protect import training_text
from nmt.run import Run, create_run, open_run, parent_run
from nmt.schedule import Budget, learning_rate
from nmt.step import APPLIED, SKIPPED, DevLoss, GradientAccumulator, TrainStep
from nmt.translate import make_translator, translate_lines
from nmt.weights import latest_checkpoint, weights_path

STALL_RATIO = 0.9  # train.stall_steps updates in, a learning run's loss is below this x unigram entropy


@dataclass
class Corpora:
    train_pairs: int  # the training corpus itself is streamed from its files, never held
    dev: tuple[list[str], list[str]]


def read_corpora(config: Config) -> Corpora:
    """Check every file the run will need, before anything is written; keep only dev."""
    data = config.data
    train_pairs = count_parallel(data.train, data.src_lang, data.tgt_lang)
    for prefix in data.test:
        count_parallel(prefix, data.src_lang, data.tgt_lang)
    return Corpora(train_pairs, read_parallel(data.dev, data.src_lang, data.tgt_lang))


def as_trained(config: Config, pairs: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """The pairs as the model learns from them: with ``decode.protect`` both sides lose their
    placeholders, markup, numbers and access keys, as the lines it translates will."""
    if not config.decode.protect:
        return iter(pairs)
    return ((training_text(src), training_text(tgt)) for src, tgt in pairs)


def training_pairs(config: Config) -> Iterator[tuple[str, str]]:
    """The training corpus, streamed pair by pair, as the model learns from it."""
    return as_trained(config, iter_parallel(config.data.train, config.data.src_lang, config.data.tgt_lang))


def training_side(config: Config, side: str):
    """One side ("src" or "tgt") of the training corpus, streamed, blank lines left out."""
    index = 0 if side == "src" else 1
    return (pair[index] for pair in training_pairs(config) if pair[index].strip())


def encoded_training_corpus(run: Run, writer: bool = True):
    """The training corpus as memory-mapped token ids, tokenized on first use.

    The ids are cached in the run directory and remade when the corpus files,
    the tokenizer or ``data.max_length`` change.  Only one process writes them
    (``writer``, the chief in multi-worker training); the others wait for them.
    """
    config = run.config
    files = parallel_paths(config.data.train, config.data.src_lang, config.data.tgt_lang)
    fingerprint = {"files": [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files],
                   "tokenizers": [run.src_vocab.fingerprint, run.tgt_vocab.fingerprint],
                   "tokenized_by": "tensorflow_text", "protected": config.decode.protect,
                   "max_length": config.data.max_length}
    directory = run.directory / "encoded" / "train"
    corpus = open_encoded(directory, fingerprint)
    if corpus is None and not writer:
        corpus = _wait_for(lambda: open_encoded(directory, fingerprint),
                           f"the chief to tokenize the training corpus into {directory}")
    if corpus is None:
        print(f"tokenizing the training corpus into {directory}", file=sys.stderr)
        dropped = encode_to_disk(training_pairs(config), run.src_vocab, run.tgt_vocab,
                                 config.data.max_length, directory, fingerprint)
        if dropped:
            print(f"skipping {dropped} training pairs with an empty side or longer than "
                  f"{config.data.max_length} tokens (data.max_length)", file=sys.stderr)
        corpus = open_encoded(directory, fingerprint)
    if not len(corpus):
        raise NmtError(f"{config.data.train}: no training pair within "
                       f"data.max_length={config.data.max_length} tokens")
    return corpus


def _wait_for(ready, what: str, timeout: float = 3600.0):
    """Poll ``ready()`` until it returns something (for non-chief workers)."""
    print(f"waiting for {what}", file=sys.stderr)
    deadline = time.monotonic() + timeout
    while (found := ready()) is None:
        if time.monotonic() > deadline:
            raise NmtError(f"gave up after {timeout:.0f}s waiting for {what}")
        time.sleep(1.0)
    return found


def _check_accumulation_kept(config: Config) -> None:
    """Refuse to switch gradient accumulation on or off in a run that has checkpoints: those of
    ``train.accumulate`` above 1 hold the gradient sums of an unfinished group, those of 1 do not,
    so neither restores into the other."""
    stored = load_config(config.run_dir / "config.yaml").train.accumulate
    wanted = config.train.accumulate
    if (stored > 1) != (wanted > 1) and latest_checkpoint(config.run_dir / "checkpoints"):
        raise NmtError(f"{config.run_dir}: its checkpoints were written with train.accumulate={stored}, "
                       f"the config now says {wanted}; accumulation cannot be switched on or off in a run: "
                       f"keep train.accumulate={stored} or use a new name")


def prepare_run(config: Config, corpora: Corpora) -> Run:
    """Open the existing run (checking it is compatible) or create a new one."""
    if config.run_dir.exists():
        run = open_run(config.run_dir, config)
        _check_accumulation_kept(config)
        write_atomic(config.run_dir / "config.yaml", dump_config(config))
        return run
    parent = parent_run(config) if config.train.init_from else None
    if parent:
        print(f"starting from {parent.directory} (train.init_from): its tokenizer, and its "
              f"weights once training begins", file=sys.stderr)
    else:
        print(f"training the {config.tokenizer.type} tokenizer ({config.tokenizer.vocab_size} pieces) "
              f"on {corpora.train_pairs} training pairs", file=sys.stderr)
    create_run(config, lambda side: training_side(config, side), tokenizer_from=parent)
    return open_run(config.run_dir, config)


def _heartbeat(run: Run):
    """Under multi_worker, the watch that stops this worker when a peer is lost."""
    if run.config.train.distribute != "multi_worker":
        return contextlib.nullcontext()
    _, index, addresses = cluster_task()
    return Heartbeat(run.directory / "workers", index, addresses, run.config.train.worker_timeout)


class _StopAgreed(Exception):
    """Some worker received SIGTERM, and every worker learned it with the same update."""


class Trainer:
    """Owns the model, optimizer, checkpoints and the loop over epochs."""

    def __init__(self, run: Run, corpora: Corpora, strategy=None):
        self.run, self.config = run, run.config
        train_cfg = self.config.train
        self.strategy = strategy or tf.distribute.get_strategy()
        self.chief = is_chief(train_cfg.distribute)
        keras.utils.set_random_seed(self.config.seed)
        self.corpus = encoded_training_corpus(run, writer=self.chief)
        self.dev_sources, self.dev_references = corpora.dev
        with self.strategy.scope():  # weights and optimizer slots mirrored on every replica
            self.model = build_model(run.src_vocab.size, run.tgt_vocab.size, self.config.model,
                                     compute_precision(train_cfg.precision))
            self.optimizer = keras.optimizers.Adam(train_cfg.learning_rate,
                                                   global_clipnorm=train_cfg.clip_norm or None)
            self.optimizer.build(self.model.trainable_variables)
            self.model.decoder.start_from_unigram(self.corpus.target_log_frequencies(run.tgt_vocab.size))
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.batch_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.elapsed = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self.best_score = tf.Variable(-1.0, dtype=tf.float64, trainable=False)
        self.bad_validations = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.halvings = tf.Variable(0, dtype=tf.int64, trainable=False)  # of the plateau schedule
        self.accumulator = (GradientAccumulator(self.model.trainable_variables, self.strategy)
                            if train_cfg.accumulate > 1 else None)
        counters = {"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                    "elapsed": self.elapsed, "best_score": self.best_score,
                    "bad_validations": self.bad_validations, "halvings": self.halvings,
                    **(self.accumulator.variables() if self.accumulator else {})}
        self.checkpoints = RunCheckpoints(run, self.model, self.optimizer, counters, self.chief,
                                          train_cfg.keep_checkpoints)
        self.train_step = TrainStep(self.model, self.optimizer, self.strategy, self.accumulator,
                                    train_cfg.label_smoothing)
        dev_pairs = [*as_trained(self.config, zip(self.dev_sources, self.dev_references))]
        self.dev_loss = DevLoss(self.model, EncodedCorpus.from_lists(run.src_vocab.encode([s for s, _ in dev_pairs]),
                                                                     run.tgt_vocab.encode([t for _, t in dev_pairs])),
                                train_cfg.batch_tokens)
        self.translator = make_translator(run, self.model, changing_weights=True)
        self.writer = (tf.summary.create_file_writer(str(run.directory / "tensorboard")) if self.chief
                       else tf.summary.create_noop_writer())
        self.batches_per_epoch = epoch_size(self.corpus, train_cfg.batch_tokens, self.config.seed, 0)
        self.notice, self.stop_agreed = PreemptionNotice(), False  # SIGTERM, on any worker
        self.steps_per_epoch = max(1, self.batches_per_epoch // train_cfg.accumulate)
        self.unigram_entropy = self.corpus.target_unigram_entropy()
        self.stall_checked = False
        self.validated_at = -1  # the step of the latest validation
        self.meter = TrainingMeter()
        self.validation_log = ValidationLog(run.directory / "validations.jsonl" if self.chief else None,
                                            self.writer)

    def restore(self) -> None:
        """Continue from the latest checkpoint, or start from ``train.init_from``'s weights."""
        if self.checkpoints.restore_latest():
            print(f"resuming {self.run.directory} from step {int(self.step)} "
                  f"(epoch {int(self.epoch) + 1}, batch {int(self.batch_in_epoch)})", file=sys.stderr)
        elif self.config.train.init_from:
            path = weights_path(parent_run(self.config), "best")  # its best checkpoint, else its latest
            self.checkpoints.start_from(path)
            print(f"starting from the weights of {path}", file=sys.stderr)

    def save(self) -> None:
        self.checkpoints.save(int(self.step))

    def learning_rate(self) -> float:
        """The rate of the next update, from the checkpointed step, time and halvings alone.

        ``elapsed`` is the chief's time after the previous update, the same on every worker."""
        cfg = self.config.train
        budget = Budget(self.total_steps(), cfg.max_minutes * 60 if cfg.max_minutes else None)
        return learning_rate(cfg.schedule, cfg.learning_rate, int(self.step) + 1,
                             warmup_steps=cfg.warmup_steps, min_rate=cfg.min_learning_rate,
                             halvings=int(self.halvings), elapsed_seconds=float(self.elapsed),
                             budget=budget)

    def total_steps(self) -> int:
        planned = self.config.train.max_epochs * self.steps_per_epoch
        return min(planned, self.config.train.max_steps or planned)

    def out_of_budget(self) -> bool:
        cfg = self.config.train
        return (int(self.epoch) >= cfg.max_epochs
                or cfg.max_steps is not None and int(self.step) >= cfg.max_steps
                or cfg.max_minutes is not None and float(self.elapsed) >= cfg.max_minutes * 60
                or cfg.patience is not None and int(self.bad_validations) >= cfg.patience)

    def validate(self) -> float:
        """Dev loss and greedy dev BLEU; keeps the best model and counts validations without
        improvement (for ``train.patience`` and the plateau schedule)."""
        started = time.perf_counter()
        dev_loss = self.dev_loss()
        hypotheses = translate_lines(self.run, self.translator, self.dev_sources, beam=1,
                                     protect=self.config.decode.protect)
        scores = score(hypotheses, self.dev_references)
        bleu = scores["BLEU"]["score"]
        train_loss, speed = self.meter.since_validation()
        record = {"step": int(self.step), "elapsed_seconds": round(float(self.elapsed), 2),
                  "train_loss": round(train_loss, 4) if train_loss is not None else None,
                  "unigram_entropy": round(self.unigram_entropy, 4),
                  "learning_rate": float(f"{self.learning_rate():.4g}"),
                  "dev_loss": round(dev_loss, 4), "dev_bleu": bleu, "dev_chrf": scores["chrF"]["score"],
                  "train_tokens_per_second": round(speed, 1) if speed is not None else None}
        improved = bleu > float(self.best_score)
        if improved:
            self.best_score.assign(bleu)
            self.bad_validations.assign(0)
            self.checkpoints.save_best(int(self.step))
        else:
            self.bad_validations.assign_add(1)
        self.validation_log.write(record, improved, time.perf_counter() - started, hypotheses[0])
        if not improved:
            self._halve_on_plateau()
        return bleu

    def _halve_on_plateau(self) -> None:
        """The plateau schedule: halve the rate after every ``plateau_patience`` validations
        in a row without a better dev BLEU."""
        cfg = self.config.train
        if cfg.schedule == "plateau" and int(self.bad_validations) % cfg.plateau_patience == 0:
            self.halvings.assign_add(1)
            print(f"dev BLEU has not improved for {int(self.bad_validations)} validations: "
                  f"learning rate halved to {self.learning_rate():.3g}", file=sys.stderr)

    def _check_stall(self, loss: float) -> None:
        """Once ``stall_steps`` updates are done: is the loss clearly below the unigram level?

        A model that ignores the source settles at the entropy of the target tokens'
        frequencies; every run that learns is far below it by then (docs/training.md)."""
        cfg = self.config.train
        if self.stall_checked or int(self.step) < cfg.stall_steps:
            return
        self.stall_checked = True
        if loss < STALL_RATIO * self.unigram_entropy:
            return
        message = (f"training loss {loss:.3f} at step {int(self.step)} is not clearly below the "
                   f"target side's unigram entropy ({self.unigram_entropy:.3f}): the model has not "
                   f"learned to use the source. Likely fix: lower train.learning_rate (now "
                   f"{cfg.learning_rate:g}) or warm it up (train.warmup_steps)")
        if cfg.on_stall == "stop":
            self.save()
            raise NmtError(f"{message}; stopped (train.on_stall=stop), checkpoint saved in "
                           f"{self.run.checkpoints}")
        print(f"warning: {message} (train.on_stall=warn)", file=sys.stderr)

    def fit(self) -> None:
        """Train until the budget in ``train.*`` is used up, validating and checkpointing."""
        self.restore()
        self._announce()
        self.meter.pause_ended(new_window=True)
        with self.notice, _heartbeat(self.run):
            try:
                while not self.out_of_budget():
                    self._train_epoch()
                    self.meter.pause_ended()  # setting up the next epoch's batches
            except _StopAgreed:
                self.save()  # every worker, at the same update
                raise Preempted(f"preempted (SIGTERM) at step {int(self.step)}; checkpoint saved in "
                                f"{self.run.checkpoints}; run the same command again to resume") from None
            except KeyboardInterrupt:
                self.save()
                raise NmtError(f"interrupted at step {int(self.step)}; checkpoint saved in "
                               f"{self.run.checkpoints}; run the same command again to resume") from None
            except (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError,
                    tf.errors.InternalError) as error:
                if self.config.train.distribute != "multi_worker":
                    raise
                raise worker_lost(error, cluster_task()[2]) from None
        if self.validated_at != int(self.step):
            self.validate()
        self.save()
        print(f"training done at step {int(self.step)} after "
              f"{format_duration(float(self.elapsed))}; best dev BLEU {float(self.best_score):.2f}",
              file=sys.stderr)

    def _announce(self) -> None:
        cfg = self.config.train
        replicas = self.strategy.num_replicas_in_sync
        group = f" ({self.steps_per_epoch} updates of {cfg.accumulate} batches)" if cfg.accumulate > 1 else ""
        if cfg.precision == "auto":
            print(f"train.precision auto: {compute_precision('auto')} on this CPU", file=sys.stderr)
        print(f"training {self.model.count_params():,} parameters on {len(self.corpus)} pairs, "
              f"{self.batches_per_epoch} batches per epoch{group}, up to {self.total_steps()} steps"
              f"{f', batches split across {replicas} replicas' if replicas > 1 else ''}", file=sys.stderr)

    def _train_epoch(self) -> None:
        """The rest of the current epoch (from ``batch_in_epoch``), or up to the end of the budget."""
        cfg = self.config.train
        dataset = epoch_dataset(self.corpus, cfg.batch_tokens, self.config.seed, int(self.epoch),
                                skip=int(self.batch_in_epoch))
        for batch in dataset:
            rate = self.learning_rate()
            if self._train_batch(batch, rate) == APPLIED:
                self._after_update(rate)
                if self.out_of_budget():
                    return
            if self.stop_agreed:
                raise _StopAgreed
        self.epoch.assign_add(1)
        self.batch_in_epoch.assign(0)
        if not cfg.validate_every:
            self.validate()
            self.validated_at = int(self.step)
        self.save()
        self.meter.pause_ended(new_window=True)

    def _train_batch(self, batch, rate: float) -> int:
        """One batch through the compiled step; returns its outcome."""
        local = float(self.elapsed) + self.meter.seconds_since_tick()  # the chief's under multi_worker
        last_of_group = self.accumulator is None or self.accumulator.is_last_batch(self.config.train.accumulate)
        loss_sum, tokens, outcome, elapsed, stop = self.train_step(
            *batch, tf.constant(local, tf.float64), tf.constant(rate, tf.float32), tf.constant(last_of_group),
            tf.constant(float(self.notice.requested)))
        self.elapsed.assign(float(elapsed))
        self.stop_agreed = float(stop) > 0
        loss_sum, tokens = float(loss_sum), float(tokens)
        if outcome == SKIPPED:
            self._nonfinite(loss_sum / tokens)
        self.batch_in_epoch.assign_add(1)
        if math.isfinite(loss_sum):
            self.meter.count(loss_sum, tokens)
        return int(outcome)

    def _after_update(self, rate: float) -> None:
        """Count the update; log, checkpoint and validate when their turn has come."""
        cfg = self.config.train
        self.step.assign_add(1)
        step = int(self.step)
        if step % cfg.log_every == 0:
            loss, speed = self.meter.close_window()
            log_progress(self.writer, int(self.epoch) + 1, step, self.total_steps(), loss, speed, rate,
                         float(self.elapsed), cfg.max_minutes)
            self._check_stall(loss)
        if step % cfg.checkpoint_every == 0:
            self.save()
            self.meter.pause_ended()  # saving is not training time
        if cfg.validate_every and step % cfg.validate_every == 0:
            self.validate()
            self.validated_at = step
            self.meter.pause_ended(new_window=True)

    def _nonfinite(self, loss: float) -> None:
        """A batch gave a NaN/inf loss or gradient (nothing was updated): stop or skip it."""
        where = f"step {int(self.step) + 1} (epoch {int(self.epoch) + 1}, batch {int(self.batch_in_epoch) + 1})"
        if self.config.train.nonfinite_loss == "skip":
            print(f"warning: non-finite loss ({loss}) at {where}; batch skipped "
                  f"(train.nonfinite_loss=skip)", file=sys.stderr)
            return
        latest = self.checkpoints.latest.latest_checkpoint or "none yet"
        raise NmtError(f"non-finite loss ({loss}) at {where}; stopped without saving, the last "
                       f"checkpoint ({latest}) is intact. Lower train.learning_rate or set "
                       f"train.nonfinite_loss=skip")


def train(config: Config) -> Run:
    """Train (resuming) as the chief or the only process, or as one of several workers."""
    strategy = make_strategy(config.train.distribute)  # before any other TensorFlow op
    corpora = read_corpora(config)
    if is_chief(config.train.distribute):
        run = prepare_run(config, corpora)
    else:  # the chief creates the run directory; a renamed, complete one appears
        _wait_for(lambda: config.run_dir if (config.run_dir / "meta.json").exists() else None,
                  f"the chief to create {config.run_dir}")
        run = open_run(config.run_dir, config)
    Trainer(run, corpora, strategy).fit()
    return run
