"""Running a recurrent cell over a padded batch of sequences, forwards or backwards."""

from __future__ import annotations

import tensorflow as tf

from nmt.cells import RecurrentCell


def run_recurrence(cell: RecurrentCell, inputs: tf.Tensor, mask: tf.Tensor,
                   initial_state=None, reverse: bool = False):
    """Run ``cell`` over ``inputs`` [batch, time, dim] with a padding ``mask``.

    The input projections of all time steps are one matmul before the loop.
    Padding must sit at the end of each row.  Padded steps carry the state
    unchanged, so the returned final state is the one after each row's last real
    token.  With ``reverse`` each row is read backwards within its own length.
    Returns ``(outputs [batch, time, units], final_state)``.
    """
    lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    projected = cell.project(inputs)
    if reverse:
        projected = tf.reverse_sequence(projected, lengths, seq_axis=1, batch_axis=0)
    if initial_state is None:
        initial_state = cell.zero_state(tf.shape(inputs)[0])
    time_major = tf.transpose(projected, [1, 0, 2])
    step_mask = tf.transpose(mask)[:, :, None]

    def body(state, elements):
        projected_t, mask_t = elements
        _, new_state = cell.step(projected_t, state)
        return tuple(tf.where(mask_t, new, old) for new, old in zip(new_state, state))

    states = tf.scan(body, (time_major, step_mask), initializer=tuple(initial_state))
    outputs = tf.transpose(states[0], [1, 0, 2])
    if reverse:
        outputs = tf.reverse_sequence(outputs, lengths, seq_axis=1, batch_axis=0)
    final_state = tuple(s[-1] for s in states)
    return outputs, final_state
