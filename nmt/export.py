"""A trained run as one self-contained TensorFlow SavedModel: raw strings in, translations out.

The SavedModel carries the weights, both sentencepiece models (as TensorFlow
Text ops, the same kernel ``nmt translate`` tokenizes with) and the search as
one graph.  Serving it needs TensorFlow and TensorFlow Text, nothing of this
project: ``tf.saved_model.load(path).signatures["serving_default"](text=...)``.

It follows TensorFlow Serving's layout, ``<base>/<version>/saved_model.pb``,
so ``<base>`` can be handed to a model server as is.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import tensorflow as tf

from nmt import protect_graph
from nmt.checkpoint import by_path
from nmt.config import search_settings
from nmt.errors import NmtError, first_line
from nmt.run import Run
from nmt.search import search
from nmt.vocab import BOS_ID, EOS_ID, PAD_ID

# A line of the characters Python's str.isspace() accepts is blank and stays blank.
BLANK = f"[{protect_graph.SPACE}]*"
# What str.splitlines() splits on: line breaks inside a translation become spaces.
LINE_BREAK = "\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]"


# A glossary rewrite is Python around the search (nmt.glossary); a SavedModel holds TensorFlow ops only.
UNGLOSSED_NOTE = ("note: the SavedModel applies no glossary (decode.glossary); nmt translate and nmt serve do "
                  "(docs/deploying.md#placeholders-markup-and-glossaries)")


class ExportedTranslator(tf.Module):
    """Tokenize, search and detokenize in one TensorFlow function, as ``translate_lines`` does;
    with ``decode.protect``, protected spans are taken out before and put back after, as
    ``nmt.protect`` does (``nmt.protect_graph``)."""

    def __init__(self, run: Run, model, beam: int):
        super().__init__()
        # tracked attributes become the SavedModel's objects; the Keras model itself stays outside
        self.weights = by_path(model.variables)
        self.source_tokenizer = run.src_vocab.tokenizer
        self.target_tokenizer = run.tgt_vocab.tokenizer
        settings = search_settings(run.config.decode)
        self._protect = run.config.decode.protect
        self._search = lambda source: search(model, source, beam, settings, batched=True,
                                             with_attention=self._protect)
        self._max_input_length = run.config.decode.max_input_length
        self.translate = tf.function(self._translate,
                                     input_signature=[tf.TensorSpec([None], tf.string, name="text")])

    def _translate(self, text):
        if self._protect:
            protected, span_counts = tf.map_fn(self._protected, text, fn_output_signature=(tf.string, tf.int32))
            source_text = tf.where(span_counts > 0, protected, text)
        else:
            source_text = text
        pieces = self.source_tokenizer.tokenize(source_text)[:, :self._max_input_length - 1]
        eos = tf.RaggedTensor.from_tensor(tf.fill([tf.shape(text)[0], 1], EOS_ID))
        source = tf.concat([pieces, eos], axis=1).to_tensor(PAD_ID)
        found = self._search(source)
        keep = ((found.tokens != PAD_ID) & (found.tokens != BOS_ID) & (found.tokens != EOS_ID))
        translations = self.target_tokenizer.detokenize(tf.ragged.boolean_mask(found.tokens, keep))
        translations = tf.strings.regex_replace(translations, f"(?:{LINE_BREAK})$", "")
        translations = tf.strings.regex_replace(translations, LINE_BREAK, " ")
        blank = tf.strings.regex_full_match(source_text, BLANK)  # a line of spans alone leaves nothing to translate
        translations = tf.where(blank, "", translations)
        if self._protect:  # only lines with spans need their alignment and a restore
            rows = tf.where(span_counts > 0)[:, 0]
            inputs = (text, translations, source, pieces.row_lengths(), found.tokens, found.attention)
            restored = tf.map_fn(self._restored, tuple(tf.gather(column, rows) for column in inputs),
                                 fn_output_signature=tf.string)
            translations = tf.tensor_scatter_nd_update(translations, rows[:, tf.newaxis], restored)
        return {"translations": translations, "scores": tf.where(blank, 0.0, found.scores)}

    @staticmethod
    def _protected(line):
        protected = protect_graph.protect(line)
        return protected["text"], tf.size(protected["span_texts"])

    def _restored(self, inputs):
        """One line's translation with its spans put back by the attention's word alignment."""
        line, translation, source, source_length, tokens, attention = inputs
        ends = tf.where(tokens == EOS_ID)[:, 0]
        output = tokens[:tf.cast(tf.reduce_min(tf.concat([ends, [tf.size(tokens, tf.int64)]], axis=0)), tf.int32)]
        output = tf.boolean_mask(output, output != PAD_ID)
        sources = protect_graph.word_alignment(self.source_tokenizer.id_to_string(source[:source_length]),
                                               self.target_tokenizer.id_to_string(output), attention)
        return protect_graph.restore(protect_graph.protect(line), translation, sources)


def next_version(base: Path) -> Path:
    """``base/<n+1>`` after the highest numbered version already there (TensorFlow Serving's rule)."""
    versions = [int(p.name) for p in base.glob("*") if p.is_dir() and p.name.isdigit()]
    return base / str(max(versions, default=0) + 1)


def export(run: Run, model, beam: int, base: Path) -> Path:
    """Write the SavedModel to a new version directory under ``base``; return that directory.

    It is written beside its final place and renamed, so a failed export leaves
    no half-written version for a model server to pick up.
    """
    if beam < 1:
        raise NmtError(f"--beam: expected a positive beam size, got {beam}")
    module = ExportedTranslator(run, model, beam)
    target = next_version(base)
    try:
        base.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=base))
    except OSError as error:
        raise NmtError(f"{base}: cannot create the export directory ({error.strerror})") from None
    started = time.perf_counter()
    try:
        tf.saved_model.save(module, str(staging),
                            signatures={"serving_default": module.translate.get_concrete_function()})
        staging.rename(target)
    except (OSError, tf.errors.OpError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise NmtError(f"{target}: cannot write the SavedModel ({first_line(error)})") from None
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    print(f"exported {run.directory} (beam {beam}) to {target}: {size / 1e6:.1f} MB "
          f"in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    if run.config.decode.glossary:
        print(UNGLOSSED_NOTE, file=sys.stderr)
    return target
