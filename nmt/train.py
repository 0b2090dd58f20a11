"""The training loop: teacher-forced cross-entropy, checkpoints, resume, validation by dev BLEU.

Everything about the loop's position (step, epoch, batch within the epoch,
elapsed time, best score) lives in the checkpoint next to the model and
optimizer, so a killed run continues where its last checkpoint left off and
sees the same batches in the same order.
"""

from __future__ import annotations

import math
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from nmt.config import Config, dump_config, load_config
from nmt.corpus import count_parallel, iter_parallel, parallel_paths, read_parallel
from nmt.errors import NmtError, first_line
from nmt.files import write_atomic
from nmt.machine import compute_precision
from nmt.meter import TrainingMeter, ValidationLog
from nmt.run import Run, create_run, open_run, parent_run


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


def training_pairs(config: Config):
    """The training corpus, streamed pair by pair."""
    return iter_parallel(config.data.train, config.data.src_lang, config.data.tgt_lang)


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
    from nmt.data import encode_to_disk, open_encoded

    config = run.config
    files = parallel_paths(config.data.train, config.data.src_lang, config.data.tgt_lang)
    fingerprint = {"files": [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files],
                   "tokenizers": [run.src_vocab.fingerprint, run.tgt_vocab.fingerprint],
                   "tokenized_by": "tensorflow_text",
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
    from nmt.weights import latest_checkpoint

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


def masked_cross_entropy(logits, targets, label_smoothing: float = 0.0):
    """Summed token cross-entropy over non-padding targets, and the number of such tokens.

    With label smoothing e the target distribution is (1 - e) on the reference
    token plus e spread uniformly over the vocabulary, whose cross-entropy is
    ``logsumexp(logits) - mean(logits)``.  The reference-token part is TensorFlow's
    fused softmax cross-entropy, which makes one pass over the [batch, time,
    vocabulary] logits and has its gradient ready from that same pass.
    """
    import tensorflow as tf

    from nmt.vocab import PAD_ID

    mask = tf.cast(tf.not_equal(targets, PAD_ID), tf.float32)
    logits = tf.cast(logits, tf.float32)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
    if label_smoothing:
        uniform = tf.reduce_logsumexp(logits, -1) - tf.reduce_mean(logits, -1)
        losses = (1 - label_smoothing) * losses + label_smoothing * uniform
    return tf.reduce_sum(losses * mask), tf.reduce_sum(mask)


# outcomes of a training batch
ACCUMULATED, APPLIED, SKIPPED = 0, 1, 2
STALL_RATIO = 0.9  # train.stall_steps updates in, a learning run's loss is below this x unigram entropy


class GradientAccumulator:
    """Sums of the gradients of a group of batches (``train.accumulate``), in the checkpoint.

    Each batch's gradient is of its mean token loss, so it is weighted by its token
    count here and the group's sum divided by the group's tokens: the update is the
    one of a single batch as large as the whole group.
    """

    def __init__(self, variables, strategy):
        import tensorflow as tf

        with strategy.scope():
            self.sums = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.loss = tf.Variable(0.0, trainable=False)
        self.tokens = tf.Variable(0.0, trainable=False)
        self.batches = tf.Variable(0, dtype=tf.int64, trainable=False)

    def variables(self) -> dict:
        return {"accumulated_gradients": self.sums, "accumulated_loss": self.loss,
                "accumulated_tokens": self.tokens, "accumulated_batches": self.batches}

    def is_last_batch(self, group_size: int) -> bool:
        """Whether the next batch completes the group."""
        return int(self.batches) + 1 >= group_size

    def add(self, loss_sum, gradients, tokens) -> None:
        for total, gradient in zip(self.sums, gradients):
            total.assign_add(gradient * tokens)
        self.loss.assign_add(loss_sum)
        self.tokens.assign_add(tokens)
        self.batches.assign_add(1)

    def totals(self):
        """The group's summed loss and the gradients of its mean token loss."""
        return self.loss.read_value(), [total / self.tokens for total in self.sums]

    def reset(self) -> None:
        import tensorflow as tf

        for total in self.sums:
            total.assign(tf.zeros_like(total))
        self.loss.assign(0.0)
        self.tokens.assign(0.0)
        self.batches.assign(0)


def _raise_interrupt(signum, frame) -> None:
    """SIGTERM (as sent by schedulers and `kill`) stops training like Ctrl-C: checkpoint first."""
    raise KeyboardInterrupt


def _format_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Trainer:
    """Owns the model, optimizer, checkpoints and the loop over epochs."""

    def __init__(self, run: Run, corpora: Corpora, strategy=None):
        import keras
        import tensorflow as tf

        from nmt.checkpoint import model_checkpoint, training_checkpoint
        from nmt.data import EncodedCorpus, epoch_size, plan_batches
        from nmt.distribute import is_chief
        from nmt.model import build_model
        from nmt.translate import make_translator

        self.run, self.config = run, run.config
        train_cfg = self.config.train
        self.strategy = strategy or tf.distribute.get_strategy()
        self.chief = is_chief(train_cfg.distribute)
        keras.utils.set_random_seed(self.config.seed)
        self.corpus = encoded_training_corpus(run, writer=self.chief)
        self.dev_sources, self.dev_references = corpora.dev
        self.dev_corpus = EncodedCorpus.from_lists(run.src_vocab.encode(self.dev_sources),
                                                   run.tgt_vocab.encode(self.dev_references))
        self.dev_batches = plan_batches(self.dev_corpus, train_cfg.batch_tokens, 0, 0)
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
        self.checkpoint = training_checkpoint(
            self.model, self.optimizer, step=self.step, epoch=self.epoch,
            batch_in_epoch=self.batch_in_epoch, elapsed=self.elapsed,
            best_score=self.best_score, bad_validations=self.bad_validations,
            halvings=self.halvings, **(self.accumulator.variables() if self.accumulator else {}))
        # every worker takes part in a save; only the chief's lands in the run directory
        self.scratch = None if self.chief else tempfile.TemporaryDirectory(prefix="nmt-worker-")
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, str(run.checkpoints if self.chief else Path(self.scratch.name, "ckpt")),
            max_to_keep=train_cfg.keep_checkpoints)
        self.best_manager = tf.train.CheckpointManager(
            model_checkpoint(self.model), str(run.best if self.chief else Path(self.scratch.name, "best")),
            max_to_keep=1)
        self.translator = make_translator(run, self.model, changing_weights=True)
        self.writer = (tf.summary.create_file_writer(str(run.directory / "tensorboard")) if self.chief
                       else tf.summary.create_noop_writer())
        self.batches_per_epoch = epoch_size(self.corpus, train_cfg.batch_tokens, self.config.seed, 0)
        self.steps_per_epoch = max(1, self.batches_per_epoch // train_cfg.accumulate)
        self.unigram_entropy = self.corpus.target_unigram_entropy()
        self.stall_checked = False
        batch_spec = [tf.TensorSpec([None, None], tf.int32)] * 3
        self.train_step = tf.function(self._train_step, input_signature=[
            *batch_spec, tf.TensorSpec([], tf.float64), tf.TensorSpec([], tf.float32),
            tf.TensorSpec([], tf.bool)])
        self.eval_step = tf.function(self._eval_step, input_signature=batch_spec)
        self.meter = TrainingMeter()
        self.validation_log = ValidationLog(run.directory / "validations.jsonl" if self.chief else None,
                                            self.writer)

    def _train_step(self, source, target_in, target_out, elapsed, learning_rate, last_of_group):
        """One batch at ``learning_rate``, split across the strategy's replicas.

        Without accumulation every batch is one update.  With ``train.accumulate``
        N, the batch's gradients are added to the group's sums and the update is
        applied with the last batch of the group (``last_of_group``).  Returns the
        summed loss, the number of target tokens, the outcome (ACCUMULATED,
        APPLIED, or SKIPPED when the loss or gradients were not finite) and the
        chief's ``elapsed`` seconds, so that every worker takes the same
        time-budget decision.
        """
        import tensorflow as tf

        from nmt.vocab import PAD_ID

        tokens = tf.reduce_sum(tf.cast(tf.not_equal(target_out, PAD_ID), tf.float32))
        replicas = self.strategy.num_replicas_in_sync
        variables = self.model.trainable_variables
        if replicas == 1:
            loss_sum, gradients = self._replica_gradients(source, target_in, target_out, tokens)
        else:
            per_replica = self.strategy.run(self._replica_shard,
                                            args=(source, target_in, target_out, tokens, elapsed))
            loss_sum, flat, elapsed = (self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                                       for value in per_replica)
            sizes = [tf.size(v) for v in variables]
            gradients = [tf.reshape(g, v.shape) for g, v in zip(tf.split(flat, sizes), variables)]
        if self.accumulator is None:
            return loss_sum, tokens, self._apply_if_finite(loss_sum, gradients, learning_rate), elapsed
        self.accumulator.add(loss_sum, gradients, tokens)

        def apply_group() -> tf.Tensor:
            group_loss, group_gradients = self.accumulator.totals()
            outcome = self._apply_if_finite(group_loss, group_gradients, learning_rate)
            self.accumulator.reset()
            return outcome

        return loss_sum, tokens, tf.cond(last_of_group, apply_group, lambda: tf.constant(ACCUMULATED)), elapsed

    def _apply_if_finite(self, loss_sum, gradients, learning_rate):
        """Apply ``gradients`` unless they or the loss are NaN or inf, which would poison every weight."""
        import tensorflow as tf

        finite = tf.math.is_finite(loss_sum) & tf.math.is_finite(tf.linalg.global_norm(gradients))

        def apply() -> tf.Tensor:
            self.optimizer.learning_rate = learning_rate
            self.optimizer.apply_gradients(zip(gradients, self.model.trainable_variables))
            return tf.constant(APPLIED)

        return tf.cond(finite, apply, lambda: tf.constant(SKIPPED))

    def _replica_gradients(self, source, target_in, target_out, global_tokens):
        """Summed loss of these sentences and the gradient of (that sum / all tokens of the batch)."""
        import tensorflow as tf

        with tf.GradientTape() as tape:
            logits = self.model((source, target_in), training=True)
            loss_sum, _ = masked_cross_entropy(logits, target_out, self.config.train.label_smoothing)
            loss = loss_sum / global_tokens
        return loss_sum, tape.gradient(loss, self.model.trainable_variables)

    def _replica_shard(self, source, target_in, target_out, global_tokens, elapsed):
        """Replica r of n: sentences r, r + n, ...; gradients flattened into one all-reduce."""
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        index, count = context.replica_id_in_sync_group, context.num_replicas_in_sync
        rows = tf.range(index, tf.shape(source)[0], count)
        loss_sum, gradients = self._replica_gradients(
            *(tf.gather(t, rows) for t in (source, target_in, target_out)), global_tokens)
        flat = tf.concat([tf.reshape(tf.convert_to_tensor(g), [-1]) for g in gradients], axis=0)
        chief_elapsed = tf.where(tf.equal(index, 0), elapsed, tf.zeros_like(elapsed))
        return loss_sum, flat, chief_elapsed

    def restore(self) -> None:
        """Continue from the chief's latest checkpoint (every worker reads the same one)."""
        import tensorflow as tf

        latest = tf.train.latest_checkpoint(str(self.run.checkpoints))
        if latest is None:
            if self.config.train.init_from:
                self._start_from(parent_run(self.config))
            return
        try:
            self.checkpoint.restore(latest).assert_consumed()
        except (ValueError, AssertionError, IndexError, tf.errors.OpError) as error:
            raise NmtError(f"{latest}: checkpoint does not fit the model in "
                           f"{self.run.directory / 'config.yaml'} ({first_line(error)})") from None
        print(f"resuming {self.run.directory} from step {int(self.step)} "
              f"(epoch {int(self.epoch) + 1}, batch {int(self.batch_in_epoch)})", file=sys.stderr)

    def _start_from(self, parent: Run) -> None:
        """Load the weights of ``train.init_from`` (its best checkpoint, else its latest); the
        optimizer, step counter and budget start afresh."""
        import tensorflow as tf

        from nmt.checkpoint import by_path
        from nmt.weights import weights_path

        path = weights_path(parent, "best")
        weights = {key: variable for key, variable in by_path(self.model.variables).items()
                   if not key.startswith("seed_generator")}  # dropout states are not weights
        try:
            tf.train.Checkpoint(model=weights).restore(path).assert_existing_objects_matched().expect_partial()
        except (ValueError, AssertionError, IndexError, tf.errors.OpError) as error:
            raise NmtError(f"train.init_from: {path} does not fit the model of this config "
                           f"({first_line(error)})") from None
        print(f"starting from the weights of {path}", file=sys.stderr)

    def save(self) -> None:
        """Write a checkpoint; TensorFlow writes it under a temporary name and updates the
        ``checkpoint`` index last, so a failed or killed save leaves the previous one current."""
        import tensorflow as tf

        try:
            self.manager.save(checkpoint_number=int(self.step))
        except (OSError, tf.errors.OpError) as error:
            raise NmtError(f"{self.run.checkpoints}: cannot write a checkpoint at step {int(self.step)} "
                           f"({first_line(error)}); the previous checkpoint "
                           f"({self.manager.latest_checkpoint or 'none'}) is intact") from None

    def learning_rate(self) -> float:
        """The rate of the next update, from the checkpointed step, time and halvings alone.

        ``elapsed`` is the chief's time after the previous update, the same on every worker."""
        from nmt.schedule import Budget, learning_rate

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

    def dev_loss(self) -> float:
        """Per-token cross-entropy on the dev set (without label smoothing)."""
        from nmt.data import make_arrays

        total, tokens = 0.0, 0.0
        for indices in self.dev_batches:
            loss_sum, count = self.eval_step(*make_arrays(self.dev_corpus, indices))
            total, tokens = total + float(loss_sum), tokens + float(count)
        return total / max(tokens, 1.0)

    def _eval_step(self, source, target_in, target_out):
        return masked_cross_entropy(self.model((source, target_in), training=False), target_out)

    def validate(self) -> float:
        """Dev loss and greedy dev BLEU; keeps the best model and counts validations without
        improvement (for ``train.patience`` and the plateau schedule)."""
        from nmt.evaluate import score
        from nmt.translate import translate_lines

        started = time.perf_counter()
        dev_loss = self.dev_loss()
        hypotheses = translate_lines(self.run, self.translator, self.dev_sources, beam=1)
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
            self.best_manager.save(checkpoint_number=int(self.step))
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
        import tensorflow as tf

        from nmt.data import epoch_dataset

        cfg = self.config.train
        self.restore()
        total = self.total_steps()
        replicas = self.strategy.num_replicas_in_sync
        group = (f" ({self.steps_per_epoch} updates of {cfg.accumulate} batches)"
                 if cfg.accumulate > 1 else "")
        if cfg.precision == "auto":
            print(f"train.precision auto: {compute_precision('auto')} on this CPU", file=sys.stderr)
        print(f"training {self.model.count_params():,} parameters on {len(self.corpus)} pairs, "
              f"{self.batches_per_epoch} batches per epoch{group}, up to {total} steps"
              f"{f', batches split across {replicas} replicas' if replicas > 1 else ''}", file=sys.stderr)
        validated_at = -1
        self.meter.pause_ended(new_window=True)
        previous_handler = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            while not self.out_of_budget():
                dataset = epoch_dataset(self.corpus, cfg.batch_tokens, self.config.seed,
                                        int(self.epoch), skip=int(self.batch_in_epoch))
                for source, target_in, target_out in dataset:
                    # training time so far, up to this step (the chief's, under multi_worker)
                    local = float(self.elapsed) + self.meter.seconds_since_tick()
                    rate = self.learning_rate()
                    last_of_group = self.accumulator is None or self.accumulator.is_last_batch(cfg.accumulate)
                    loss_sum, tokens, outcome, elapsed = self.train_step(
                        source, target_in, target_out, tf.constant(local, tf.float64),
                        tf.constant(rate, tf.float32), tf.constant(last_of_group))
                    self.elapsed.assign(float(elapsed))
                    loss_sum, tokens = float(loss_sum), float(tokens)
                    if outcome == SKIPPED:
                        self._nonfinite(loss_sum / tokens)
                    self.batch_in_epoch.assign_add(1)
                    if math.isfinite(loss_sum):
                        self.meter.count(loss_sum, tokens)
                    if outcome != APPLIED:
                        continue
                    self.step.assign_add(1)
                    step = int(self.step)
                    if step % cfg.log_every == 0:
                        loss, speed = self.meter.close_window()
                        self._log(loss, speed, total, rate)
                        self._check_stall(loss)
                    if step % cfg.checkpoint_every == 0:
                        self.save()
                        self.meter.pause_ended()  # saving is not training time
                    if cfg.validate_every and step % cfg.validate_every == 0:
                        self.validate()
                        validated_at = step
                        self.meter.pause_ended(new_window=True)
                    if self.out_of_budget():
                        break
                else:
                    self.epoch.assign_add(1)
                    self.batch_in_epoch.assign(0)
                    if not cfg.validate_every:
                        self.validate()
                        validated_at = int(self.step)
                    self.save()
                    self.meter.pause_ended(new_window=True)
                self.meter.pause_ended()  # setting up the next epoch's batches
        except KeyboardInterrupt:
            self.save()
            raise NmtError(f"interrupted at step {int(self.step)}; checkpoint saved in "
                           f"{self.run.checkpoints}; run the same command again to resume") from None
        finally:
            signal.signal(signal.SIGTERM, previous_handler)
        if validated_at != int(self.step):
            self.validate()
        self.save()
        print(f"training done at step {int(self.step)} after "
              f"{_format_duration(float(self.elapsed))}; best dev BLEU {float(self.best_score):.2f}",
              file=sys.stderr)

    def _nonfinite(self, loss: float) -> None:
        """A batch gave a NaN/inf loss or gradient (nothing was updated): stop or skip it."""
        where = f"step {int(self.step) + 1} (epoch {int(self.epoch) + 1}, batch {int(self.batch_in_epoch) + 1})"
        if self.config.train.nonfinite_loss == "skip":
            print(f"warning: non-finite loss ({loss}) at {where}; batch skipped "
                  f"(train.nonfinite_loss=skip)", file=sys.stderr)
            return
        latest = self.manager.latest_checkpoint or "none yet"
        raise NmtError(f"non-finite loss ({loss}) at {where}; stopped without saving, the last "
                       f"checkpoint ({latest}) is intact. Lower train.learning_rate or set "
                       f"train.nonfinite_loss=skip")

    def _log(self, loss: float, tokens_per_second: float, total: int, rate: float) -> None:
        import tensorflow as tf

        step = int(self.step)
        elapsed = float(self.elapsed)
        remaining = elapsed / max(step, 1) * max(total - step, 0)
        if self.config.train.max_minutes:
            remaining = min(remaining, self.config.train.max_minutes * 60 - elapsed)
        print(f"epoch {int(self.epoch) + 1} step {step}/{total} | loss {loss:.3f} | lr {rate:.3g} | "
              f"{tokens_per_second:,.0f} tok/s | {_format_duration(elapsed)} elapsed | "
              f"ETA {_format_duration(remaining)}", file=sys.stderr, flush=True)
        with self.writer.as_default(step=step):
            tf.summary.scalar("train/loss", loss)
            tf.summary.scalar("train/target_tokens_per_second", tokens_per_second)
            tf.summary.scalar("train/learning_rate", rate)


def train(config: Config) -> Run:
    """Train (resuming) as the chief or the only process, or as one of several workers."""
    from nmt.distribute import is_chief, make_strategy

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
