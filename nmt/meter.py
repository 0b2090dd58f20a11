"""Bookkeeping around the training loop: the training clock, throughput and the validation log.

The clock counts training only: time spent saving checkpoints, validating or
setting up an epoch's batches is left out, so ``train.max_minutes`` and the
cosine schedule see the same budget whatever the validation settings.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import tensorflow as tf


class TrainingMeter:
    """Training seconds between updates, and loss and target tokens/s per progress window."""

    def __init__(self) -> None:
        now = time.perf_counter()
        self._tick = now
        self._window_start, self._window_loss, self._window_tokens = now, 0.0, 0.0
        self._speeds: list[float] = []  # tokens/s of each window since the last validation
        self._loss_since_validation, self._tokens_since_validation = 0.0, 0.0

    def seconds_since_tick(self) -> float:
        """Training time since the previous call (or since the last pause ended)."""
        now = time.perf_counter()
        seconds, self._tick = now - self._tick, now
        return seconds

    def count(self, loss_sum: float, tokens: float) -> None:
        """One applied update's summed loss and target tokens."""
        self._window_loss += loss_sum
        self._window_tokens += tokens
        self._loss_since_validation += loss_sum
        self._tokens_since_validation += tokens

    def close_window(self) -> tuple[float, float]:
        """Mean loss and target tokens/s of the updates since the last window closed."""
        speed = self._window_tokens / (time.perf_counter() - self._window_start)
        loss = self._window_loss / max(self._window_tokens, 1.0)
        self._speeds.append(speed)
        self._start_window()
        return loss, speed

    def pause_ended(self, new_window: bool = False) -> None:
        """Time from here on is training again (after a save, a validation or epoch setup);
        ``new_window`` also starts a fresh progress window, so the pause is not in its speed."""
        self._tick = time.perf_counter()
        if new_window:
            self._start_window()

    def since_validation(self) -> tuple[float | None, float | None]:
        """Mean training loss and median window tokens/s since the last call; then resets."""
        tokens = self._tokens_since_validation
        loss = self._loss_since_validation / tokens if tokens else None
        speed = statistics.median(self._speeds) if self._speeds else None
        self._speeds.clear()
        self._loss_since_validation, self._tokens_since_validation = 0.0, 0.0
        return loss, speed

    def _start_window(self) -> None:
        self._window_start, self._window_loss, self._window_tokens = time.perf_counter(), 0.0, 0.0


def format_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def log_progress(writer, epoch: int, step: int, total: int, loss: float, tokens_per_second: float,
                 rate: float, elapsed: float, max_minutes: float | None) -> None:
    """One progress line on stderr (with the time left) and its scalars in TensorBoard."""
    remaining = elapsed / max(step, 1) * max(total - step, 0)
    if max_minutes:
        remaining = min(remaining, max_minutes * 60 - elapsed)
    print(f"epoch {epoch} step {step}/{total} | loss {loss:.3f} | lr {rate:.3g} | "
          f"{tokens_per_second:,.0f} tok/s | {format_duration(elapsed)} elapsed | "
          f"ETA {format_duration(remaining)}", file=sys.stderr, flush=True)
    with writer.as_default(step=step):
        tf.summary.scalar("train/loss", loss)
        tf.summary.scalar("train/target_tokens_per_second", tokens_per_second)
        tf.summary.scalar("train/learning_rate", rate)


class ValidationLog:
    """Where each validation goes: ``validations.jsonl`` (chief only), TensorBoard, stderr."""

    def __init__(self, path: Path | None, writer) -> None:
        self.path, self.writer = path, writer

    def write(self, record: dict, improved: bool, seconds: float, example: str) -> None:
        if self.path is not None:
            with open(self.path, "a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")
        with self.writer.as_default(step=record["step"]):
            tf.summary.scalar("dev/loss", record["dev_loss"])
            tf.summary.scalar("dev/bleu", record["dev_bleu"])
            tf.summary.scalar("dev/chrf", record["dev_chrf"])
        print(f"validation at step {record['step']}: dev loss {record['dev_loss']:.3f} "
              f"BLEU {record['dev_bleu']:.2f} chrF {record['dev_chrf']:.2f} ({seconds:.1f}s)"
              f"{' *best*' if improved else ''} e.g. {example!r}", file=sys.stderr)
