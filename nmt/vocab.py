"""Subword tokenization with sentencepiece, trained on the training split only.

Byte fallback means no input character is ever unknown: characters outside the
vocabulary become UTF-8 byte pieces and decode back to the same text.
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
        try:
            self.processor.LoadFromSerializedProto(self.data)
        except (RuntimeError, OSError):
            raise NmtError(f"{path}: not a sentencepiece model") from None

    @property
    def size(self) -> int:
        return self.processor.GetPieceSize()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.data)

    def encode(self, lines: list[str]) -> list[list[int]]:
        return [ids + [EOS_ID] for ids in self.processor.EncodeAsIds(list(lines))]

    def decode(self, ids: list[list[int]]) -> list[str]:
        clean = [[i for i in row if i not in (PAD_ID, BOS_ID, EOS_ID)] for row in ids]
        return self.processor.DecodeIds(clean)

    def pieces(self, line: str) -> list[str]:
        return self.processor.EncodeAsPieces(line)
