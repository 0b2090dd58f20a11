"""One training update: the loss, its gradients across replicas, gradient accumulation, and an
update that is skipped when the loss or gradients are not finite."""

from __future__ import annotations

import tensorflow as tf

from nmt.data import EncodedCorpus, make_arrays, plan_batches
from nmt.vocab import PAD_ID

# outcomes of a training batch
ACCUMULATED, APPLIED, SKIPPED = 0, 1, 2


def masked_cross_entropy(logits, targets, label_smoothing: float = 0.0):
    """Summed token cross-entropy over non-padding targets, and the number of such tokens.

    With label smoothing e the target distribution is (1 - e) on the reference
    token plus e spread uniformly over the vocabulary, whose cross-entropy is
    ``logsumexp(logits) - mean(logits)``.  The reference-token part is TensorFlow's
    fused softmax cross-entropy, which makes one pass over the [batch, time,
    vocabulary] logits and has its gradient ready from that same pass.
    """
    mask = tf.cast(tf.not_equal(targets, PAD_ID), tf.float32)
    logits = tf.cast(logits, tf.float32)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
    if label_smoothing:
        uniform = tf.reduce_logsumexp(logits, -1) - tf.reduce_mean(logits, -1)
        losses = (1 - label_smoothing) * losses + label_smoothing * uniform
    return tf.reduce_sum(losses * mask), tf.reduce_sum(mask)


class GradientAccumulator:
    """Sums of the gradients of a group of batches (``train.accumulate``), in the checkpoint.

    Each batch's gradient is of its mean token loss, so it is weighted by its token
    count here and the group's sum divided by the group's tokens: the update is the
    one of a single batch as large as the whole group.
    """

    def __init__(self, variables, strategy):
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
        for total, gradient in zip(self.sums, gradients, strict=True):
            total.assign_add(gradient * tokens)
        self.loss.assign_add(loss_sum)
        self.tokens.assign_add(tokens)
        self.batches.assign_add(1)

    def totals(self):
        """The group's summed loss and the gradients of its mean token loss."""
        return self.loss.read_value(), [total / self.tokens for total in self.sums]

    def reset(self) -> None:
        for total in self.sums:
            total.assign(tf.zeros_like(total))
        self.loss.assign(0.0)
        self.tokens.assign(0.0)
        self.batches.assign(0)


class TrainStep:
    """The compiled update ``step(source, target_in, target_out, elapsed, learning_rate,
    last_of_group, stop)``, split across the strategy's replicas.

    Without accumulation every batch is one update.  With ``train.accumulate`` N, the
    batch's gradients are added to the group's sums and the update is applied with the
    last batch of the group (``last_of_group``).  Returns the summed loss, the number of
    target tokens, the outcome (ACCUMULATED, APPLIED, or SKIPPED when the loss or gradients
    were not finite), the chief's ``elapsed`` seconds, so that every worker takes the
    same time-budget decision, and the sum of the workers' ``stop`` flags (1 on a worker
    that received SIGTERM), so that every worker stops after the same update.
    """

    def __init__(self, model, optimizer, strategy, accumulator: GradientAccumulator | None,
                 label_smoothing: float):
        self.model, self.optimizer, self.strategy = model, optimizer, strategy
        self.accumulator, self.label_smoothing = accumulator, label_smoothing
        batch = [tf.TensorSpec([None, None], tf.int32)] * 3
        self._compiled = tf.function(self._step, input_signature=[
            *batch, tf.TensorSpec([], tf.float64), tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.bool),
            tf.TensorSpec([], tf.float32)])

    def __call__(self, source, target_in, target_out, elapsed, learning_rate, last_of_group, stop):
        return self._compiled(source, target_in, target_out, elapsed, learning_rate, last_of_group, stop)

    def _step(self, source, target_in, target_out, elapsed, learning_rate, last_of_group, stop):
        tokens = tf.reduce_sum(tf.cast(tf.not_equal(target_out, PAD_ID), tf.float32))
        variables = self.model.trainable_variables
        if self.strategy.num_replicas_in_sync == 1:
            loss_sum, gradients = self.replica_gradients(source, target_in, target_out, tokens)
        else:
            per_replica = self.strategy.run(self._replica_shard,
                                            args=(source, target_in, target_out, tokens, elapsed, stop))
            loss_sum, flat, elapsed, stop = (self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                                             for value in per_replica)
            sizes = [tf.size(v) for v in variables]
            gradients = [tf.reshape(g, v.shape) for g, v in zip(tf.split(flat, sizes), variables, strict=True)]
        if self.accumulator is None:
            return loss_sum, tokens, self._apply_if_finite(loss_sum, gradients, learning_rate), elapsed, stop
        self.accumulator.add(loss_sum, gradients, tokens)

        def apply_group() -> tf.Tensor:
            group_loss, group_gradients = self.accumulator.totals()
            outcome = self._apply_if_finite(group_loss, group_gradients, learning_rate)
            self.accumulator.reset()
            return outcome

        outcome = tf.cond(last_of_group, apply_group, lambda: tf.constant(ACCUMULATED))
        return loss_sum, tokens, outcome, elapsed, stop

    def _apply_if_finite(self, loss_sum, gradients, learning_rate):
        """Apply ``gradients`` unless they or the loss are NaN or inf, which would poison every weight."""
        finite = tf.math.is_finite(loss_sum) & tf.math.is_finite(tf.linalg.global_norm(gradients))

        def apply() -> tf.Tensor:
            self.optimizer.learning_rate = learning_rate
            self.optimizer.apply_gradients(zip(gradients, self.model.trainable_variables, strict=True))
            return tf.constant(APPLIED)

        return tf.cond(finite, apply, lambda: tf.constant(SKIPPED))

    def replica_gradients(self, source, target_in, target_out, global_tokens):
        """Summed loss of these sentences and the gradient of (that sum / all tokens of the batch)."""
        with tf.GradientTape() as tape:
            logits = self.model((source, target_in), training=True)
            loss_sum, _ = masked_cross_entropy(logits, target_out, self.label_smoothing)
            loss = loss_sum / global_tokens
        return loss_sum, tape.gradient(loss, self.model.trainable_variables)

    def _replica_shard(self, source, target_in, target_out, global_tokens, elapsed, stop):
        """Replica r of n: sentences r, r + n, ...; gradients flattened into one all-reduce."""
        context = tf.distribute.get_replica_context()
        index, count = context.replica_id_in_sync_group, context.num_replicas_in_sync
        rows = tf.range(index, tf.shape(source)[0], count)
        loss_sum, gradients = self.replica_gradients(
            *(tf.gather(t, rows) for t in (source, target_in, target_out)), global_tokens)
        flat = tf.concat([tf.reshape(tf.convert_to_tensor(g), [-1]) for g in gradients], axis=0)
        chief_elapsed = tf.where(tf.equal(index, 0), elapsed, tf.zeros_like(elapsed))
        return loss_sum, flat, chief_elapsed, stop


class DevLoss:
    """A model's per-token cross-entropy on a fixed corpus (without label smoothing)."""

    def __init__(self, model, corpus: EncodedCorpus, batch_tokens: int):
        self.model, self.corpus = model, corpus
        self.batches = plan_batches(corpus, batch_tokens, 0, 0)
        self._compiled = tf.function(self._losses, input_signature=[tf.TensorSpec([None, None], tf.int32)] * 3)

    def __call__(self) -> float:
        total, tokens = 0.0, 0.0
        for indices in self.batches:
            loss_sum, count = self._compiled(*make_arrays(self.corpus, indices))
            total, tokens = total + float(loss_sum), tokens + float(count)
        return total / max(tokens, 1.0)

    def _losses(self, source, target_in, target_out):
        return masked_cross_entropy(self.model((source, target_in), training=False), target_out)
