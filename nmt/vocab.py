"""Subword tokenization with sentencepiece, trained on the training split only.

Byte fallback means no input character is ever unknown: characters outside the
vocabulary become UTF-8 byte pieces and decode back to the same text.

Text is tokenized and detokenized by TensorFlow Text's sentencepiece op, the
same kernel an exported SavedModel carries, so training, ``nmt translate`` and
the export split text identically.  (The sentencepiece Python package only
trains the model: its newer version breaks ties between equally likely
segmentations differently, e.g. for "...." in some contexts.)
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from pathlib import Path

from nmt.config import TokenizerConfig
from nmt.errors import NmtError

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3


def train_sentencepiece(lines: Iterable[str], config: TokenizerConfig) -> bytes:
    """Train a sentencepiece model on a stream of lines; return its serialized bytes.

    Sentencepiece keeps at most ``input_sentence_size`` lines (a uniform sample
    of the stream), which bounds its memory on large corpora.
    """
    import sentencepiece as spm

    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(line for line in lines if line.strip()), model_writer=model,
            model_type=config.type, vocab_size=config.vocab_size,
            character_coverage=config.character_coverage, byte_fallback=True,
            pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
            hard_vocab_limit=False, input_sentence_size=1_000_000, shuffle_input_sentence=True,
            minloglevel=2, num_threads=2)
    except RuntimeError as error:
        raise NmtError(f"tokenizer: sentencepiece training failed: {str(error).strip()}") from None
    return model.getvalue()


def _tensorflow_tokenizer(model: bytes):
    """A TensorFlow Text tokenizer whose model resource survives TensorFlow's kernel cache.

    TensorFlow Text keeps the model in a resource owned by the op's kernel, and
    eager kernels are cached by their attributes: ``tf.random.set_seed`` (which
    every training run calls) clears that cache and frees the model under
    every tokenizer made before.  Naming the resource after the model's hash
    keeps it in the resource manager, where later kernels find it again.
    """
    import tensorflow as tf
    import tensorflow_text
    from tensorflow_text.python.ops import sentencepiece_tokenizer as ops

    class SharedModel(ops._SentencepieceModelResource):
        def _create_resource(self):
            return ops.gen_sentencepiece_tokenizer.sentencepiece_op(model=self._model,
                                                                   shared_name=self._name)

    tokenizer = tensorflow_text.SentencepieceTokenizer(model=model, out_type=tf.int32)
    tokenizer._model_resource = SharedModel(model, f"sentencepiece_{fingerprint(model)[:16]}")
    return tokenizer


def fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SubwordVocab:
    """A sentencepiece model: text <-> ids, with EOS appended to every encoding."""

    def __init__(self, path: Path):
        import sentencepiece as spm

        try:
            self.data = path.read_bytes()
        except FileNotFoundError:
            raise NmtError(f"{path}: tokenizer model not found") from None
        self.path = path
        self.processor = spm.SentencePieceProcessor()
        try:  # checks the file, with a readable error, before TensorFlow sees it
            self.processor.LoadFromSerializedProto(self.data)
        except (RuntimeError, OSError):
            raise NmtError(f"{path}: not a sentencepiece model") from None
        self._tokenizer = None

    @property
    def tokenizer(self):
        """The TensorFlow Text op, made on first use (importing TensorFlow is slow)."""
        if self._tokenizer is None:
            self._tokenizer = _tensorflow_tokenizer(self.data)
        return self._tokenizer

    @property
    def size(self) -> int:
        return self.processor.GetPieceSize()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.data)

    def encode(self, lines: list[str]) -> list[list[int]]:
        import tensorflow as tf

        if not lines:
            return []
        ids = self.tokenizer.tokenize(tf.constant(list(lines), tf.string)).to_list()
        return [row + [EOS_ID] for row in ids]

    def decode(self, ids: list[list[int]]) -> list[str]:
        import tensorflow as tf

        if not ids:
            return []
        clean = [[i for i in row if i not in (PAD_ID, BOS_ID, EOS_ID)] for row in ids]
        ragged = tf.RaggedTensor.from_row_lengths(
            tf.constant([i for row in clean for i in row], tf.int32), [len(row) for row in clean])
        texts = self.tokenizer.detokenize(ragged).numpy()
        return [text.decode("utf-8", "replace") for text in texts]

    def pieces(self, line: str) -> list[str]:
        return [self.piece(i) for i in self.encode([line])[0][:-1]]

    def piece(self, piece_id: int) -> str:
        return self.processor.IdToPiece(piece_id)
