"""Turning lines of text into translations with a trained run: batch and interactive."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from nmt import protect as protection
from nmt.alignment import hard_alignment, pharaoh
from nmt.config import search_settings
from nmt.data import pad
from nmt.errors import NmtError
from nmt.glossary import Glossary
from nmt.glossary import apply as apply_glossary
from nmt.interrupts import reliable_ctrl_c
from nmt.run import Run
from nmt.vocab import EOS_ID


def make_translator(run: Run, model, sampling=None, changing_weights: bool = False):
    """Compiled search for ``model`` with the run's decoding settings; ``sampling``
    (``nmt.search.Sampling``) draws tokens instead of searching; ``changing_weights`` for a
    model that trains between searches."""
    from nmt.search import Translator

    return Translator(model, search_settings(run.config.decode), sampling, changing_weights)


def encode_inputs(run: Run, lines: list[str], first_line: int) -> tuple[list[list[int]], list[int]]:
    """Source ids of every line (cut to ``decode.max_input_length`` with a warning naming the
    line, so one odd line cannot take unbounded time or memory) and the indices of the
    non-blank lines, shortest first, so each batch holds similar lengths."""
    limit = run.config.decode.max_input_length
    encoded = run.src_vocab.encode(lines)
    for index, ids in enumerate(encoded):
        if len(ids) > limit:
            print(f"warning: input line {first_line + index} has {len(ids) - 1} subword tokens; "
                  f"translating the first {limit - 1} (decode.max_input_length)", file=sys.stderr)
            encoded[index] = ids[:limit - 1] + ids[-1:]
    todo = [i for i, line in enumerate(lines) if line.strip()]
    todo.sort(key=lambda i: len(encoded[i]))
    return encoded, todo


def _prefix_ids(run: Run, prefixes: list[str] | None) -> list[list[int]] | None:
    """Target ids of each line's required start (no EOS); None when there are no prefixes."""
    if prefixes is None:
        return None
    return [ids[:-1] if text.strip() else [] for ids, text in zip(run.tgt_vocab.encode(prefixes), prefixes)]


def _padded_prefixes(prefix_ids: list[list[int]] | None, chunk: list[int]) -> np.ndarray | None:
    if prefix_ids is None:
        return None
    rows = [prefix_ids[i] for i in chunk]
    return pad(rows) if any(rows) else np.zeros((len(rows), 1), np.int32)


def decoded_texts(run: Run, output: np.ndarray) -> list[str]:
    # byte-fallback pieces can decode to line breaks; one input line, one output line
    return [" ".join(text.splitlines()) for text in run.tgt_vocab.decode(until_eos(output))]


def translate_lines(run: Run, translator, lines: list[str], beam: int, batch_size: int | None = None,
                    first_line: int = 1, prefixes: list[str] | None = None, protect: bool = False,
                    glossary: Glossary | None = None) -> list[str]:
    """Translations in input order; blank lines stay blank.  With ``prefixes`` (one per line,
    blank for none) each translation starts with its line's prefix and completes it.  For
    ``protect`` and ``glossary`` see ``scored_lines``."""
    found = scored_lines(run, translator, lines, beam, batch_size, first_line, prefixes, protect, glossary)
    return [text for text, _ in found]


def scored_lines(run: Run, translator, lines: list[str], beam: int, batch_size: int | None = None,
                 first_line: int = 1, prefixes: list[str] | None = None, protect: bool = False,
                 glossary: Glossary | None = None) -> list[tuple[str, float]]:
    """(translation, score) per line in input order; a blank line gives ("", 0.0).  The score
    is the log-probability (beam search: divided by the length penalty).  Without prefixes,
    a line that needs its word alignment is translated with it: with ``protect``, a line
    holding placeholders, markup, entities, URLs, numbers or access keys is translated
    without them and gets them back (``nmt.protect``); with a ``glossary``, its terms are
    put in their required form (``nmt.glossary``)."""
    if (protect or glossary) and prefixes is None:
        return _aligned_rewrites(run, translator, lines, beam, batch_size, first_line, protect, glossary)
    batch_size = batch_size or run.config.decode.batch_size
    encoded, todo = encode_inputs(run, lines, first_line)
    prefix_ids = _prefix_ids(run, prefixes)
    results = [("", 0.0)] * len(lines)
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        tokens, scores = translator.scored(pad([encoded[i] for i in chunk]), beam,
                                           _padded_prefixes(prefix_ids, chunk))
        for index, text, score in zip(chunk, decoded_texts(run, tokens), scores):
            results[index] = (text, float(score))
    return results


def _aligned_rewrites(run: Run, translator, lines: list[str], beam: int, batch_size: int | None,
                      first_line: int, protect: bool, glossary: Glossary | None) -> list[tuple[str, float]]:
    """Lines with protected spans or glossary terms translated with their alignment and
    rewritten; the others as they are."""
    protected = [protection.protect(line) if protect else protection.Protected(line, [], set()) for line in lines]
    matches = [glossary.matches(found.text.split()) if glossary else [] for found in protected]
    rewritten = [index for index, found in enumerate(protected) if found.spans or matches[index]]
    plain = ["" if found.spans or terms else line for found, terms, line in zip(protected, matches, lines)]
    results = scored_lines(run, translator, plain, beam, batch_size, first_line)
    aligned = _aligned_search(run, translator, [protected[index].text for index in rewritten], beam, batch_size,
                              first_line)
    for index, (text, score, pairs) in zip(rewritten, aligned):
        if matches[index]:
            text, pairs = apply_glossary(matches[index], text, pairs)
        results[index] = (protection.restore(protected[index], text, pairs), score)
    return results


def nbest_lines(run: Run, translator, lines: list[str], beam: int, count: int, batch_size: int | None = None,
                first_line: int = 1, prefixes: list[str] | None = None) -> list[list[tuple[str, float]]]:
    """The ``count`` best (translation, score) of every line, best first, in input order; a
    blank line gives ``count`` empty translations scored 0."""
    batch_size = batch_size or run.config.decode.batch_size
    encoded, todo = encode_inputs(run, lines, first_line)
    prefix_ids = _prefix_ids(run, prefixes)
    results = [[("", 0.0)] * count for _ in lines]
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        tokens, scores = translator.nbest(pad([encoded[i] for i in chunk]), beam,
                                          _padded_prefixes(prefix_ids, chunk))
        for row, index in enumerate(chunk):
            texts = decoded_texts(run, tokens[row, :count])
            results[index] = list(zip(texts, scores[row, :count].tolist()))
    return results


def aligned_lines(run: Run, translator, lines: list[str], beam: int, batch_size: int | None = None,
                  first_line: int = 1) -> list[tuple[str, list[tuple[int, int]]]]:
    """(translation, word alignment) per line in input order (see ``nmt.alignment``)."""
    return [(text, pairs) for text, _, pairs in _aligned_search(run, translator, lines, beam, batch_size, first_line)]


def _aligned_search(run: Run, translator, lines: list[str], beam: int, batch_size: int | None,
                    first_line: int) -> list[tuple[str, float, list[tuple[int, int]]]]:
    batch_size = batch_size or run.config.decode.batch_size
    encoded, todo = encode_inputs(run, lines, first_line)
    results: list[tuple[str, float, list[tuple[int, int]]]] = [("", 0.0, [])] * len(lines)
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        tokens, scores, attention = translator.scored_with_attention(pad([encoded[i] for i in chunk]), beam)
        outputs = until_eos(tokens)
        for row, (index, text) in enumerate(zip(chunk, decoded_texts(run, tokens))):
            source_pieces = [run.src_vocab.piece(i) for i in encoded[index][:-1]]
            target_pieces = [run.tgt_vocab.piece(i) for i in outputs[row] if i]
            pairs = hard_alignment(attention[row], source_pieces, target_pieces)
            results[index] = (text, float(scores[row]), pairs)
    return results


def until_eos(output: np.ndarray) -> list[list[int]]:
    rows = []
    for row in output.tolist():
        rows.append(row[:row.index(EOS_ID)] if EOS_ID in row else row)
    return rows


# Lines read before translating: sorting this many by length (instead of one batch's worth)
# lets each batch hold sentences of nearly equal length, so far less padding is decoded.
BATCHES_PER_BLOCK = 32


@dataclass(frozen=True)
class OutputFormat:
    """What ``translate_stream`` writes per input line: the translation alone (one line),
    with its score (``score<TAB>translation``) or its word alignment
    (``translation<TAB>alignment``), or the ``nbest`` best as
    ``line<TAB>rank<TAB>score<TAB>translation`` rows; ``jsonl`` writes one JSON object per
    input line instead."""

    nbest: int = 0
    scores: bool = False
    jsonl: bool = False
    alignments: bool = False


def translate_stream(run: Run, translator, source: TextIO, sink: TextIO, beam: int,
                     output: OutputFormat = OutputFormat(), prefixes: TextIO | None = None,
                     tab_prefix: bool = False, glossary: Glossary | None = None) -> int:
    """Translate ``source`` in blocks of lines; exactly one output line (or one group of
    ``nbest`` rows) per input line.  A translation starts with the same line of
    ``prefixes``, or with what follows a TAB in the input line when ``tab_prefix``; a
    ``glossary``'s terms take their required form."""
    block_size = run.config.decode.batch_size * BATCHES_PER_BLOCK
    block: list[str] = []
    starts: list[str] | None = [] if prefixes is not None or tab_prefix else None
    count = 0
    for line in source:
        text = line.rstrip("\r\n")
        if tab_prefix:
            text, _, start = text.partition("\t")
            starts.append(start)
        elif prefixes is not None:
            start = prefixes.readline()
            if not start:
                raise NmtError(f"{prefixes.name}: ends after {count + len(block)} prefixes, before the input "
                               f"does; expected one prefix per input line")
            starts.append(start.rstrip("\r\n"))
        block.append(text)
        if len(block) == block_size:
            count += _flush(run, translator, block, sink, beam, count + 1, output, starts, glossary)
            block, starts = [], (None if starts is None else [])
    if block:
        count += _flush(run, translator, block, sink, beam, count + 1, output, starts, glossary)
    return count


def _flush(run: Run, translator, block: list[str], sink: TextIO, beam: int, first_line: int,
           output: OutputFormat, prefixes: list[str] | None = None, glossary: Glossary | None = None) -> int:
    where = {"first_line": first_line, "prefixes": prefixes}
    rewrite = {"protect": run.config.decode.protect, "glossary": glossary}
    if output.nbest:
        for line, hypotheses in enumerate(nbest_lines(run, translator, block, beam, output.nbest, **where),
                                          start=first_line):
            if output.jsonl:
                ranked = [{"rank": rank, "score": round(score, 6), "translation": text}
                          for rank, (text, score) in enumerate(hypotheses, start=1)]
                sink.write(json.dumps({"line": line, "nbest": ranked}, ensure_ascii=False) + "\n")
            else:
                for rank, (text, score) in enumerate(hypotheses, start=1):
                    sink.write(f"{line}\t{rank}\t{score:.6f}\t{text}\n")
    elif output.alignments:
        for line, (text, pairs) in enumerate(aligned_lines(run, translator, block, beam, first_line=first_line),
                                             start=first_line):
            if output.jsonl:
                sink.write(json.dumps({"line": line, "translation": text, "alignment": pairs},
                                      ensure_ascii=False) + "\n")
            else:
                sink.write(f"{text}\t{pharaoh(pairs)}\n")
    elif output.scores or output.jsonl:
        found = scored_lines(run, translator, block, beam, **rewrite, **where)
        for line, (text, score) in enumerate(found, start=first_line):
            if output.jsonl:
                record = {"line": line, "translation": text, **({"score": round(score, 6)} if output.scores else {})}
                sink.write(json.dumps(record, ensure_ascii=False) + "\n")
            else:
                sink.write(f"{score:.6f}\t{text}\n")
    else:
        for text in translate_lines(run, translator, block, beam, **rewrite, **where):
            sink.write(text + "\n")
    sink.flush()
    return len(block)


HELP = """Type a sentence and press Enter to translate it.
  :beam N        use beam search with N hypotheses (1 = greedy)
  :show [TEXT]   plot encoder gates and attention for TEXT (default: the last sentence)
  :prefix TEXT   the best completions of the last translation that start with TEXT
                 (your own start of it); also :p TEXT
  :help          show this help
  :quit          leave (Ctrl-D and Ctrl-C work too)"""


COMPLETIONS = 3  # completions :prefix shows (more with a wider beam)


def show_completions(run: Run, translator, sentence: str, prefix: str, beam: int) -> None:
    """The distinct best completions of ``prefix`` as a translation of ``sentence``, numbered,
    with how long the search took."""
    started = time.perf_counter()
    found = nbest_lines(run, translator, [sentence], beam, beam, prefixes=[prefix])[0]
    elapsed = time.perf_counter() - started
    seen: list[str] = []
    for text, _ in found:
        if text and text not in seen:
            seen.append(text)
    for rank, text in enumerate(seen, start=1):
        print(f"  {rank}. {text}")
    print(f"({elapsed * 1000:.0f} ms)", file=sys.stderr)


def _repl_translation(run: Run, translator, line: str, beam: int, tensorflow, glossary: Glossary | None) -> str:
    """A line with protected spans or glossary terms needs the word alignment, which
    TensorFlow's search gives."""
    protect = run.config.decode.protect and protection.has_spans(line)
    if protect or glossary:
        restored = tensorflow()
        return translate_lines(restored.run, restored.translator, [line], beam, protect=protect, glossary=glossary)[0]
    return translate_lines(run, translator, [line], beam)[0]


def repl(run: Run, translator, beam: int, history_file: Path, tensorflow, glossary: Glossary | None = None) -> None:
    """Interactive translation with line editing and history.  Lines go to ``translator``;
    :prefix and :show need the TensorFlow model, which ``tensorflow()`` returns as
    ``(run, model, translator)`` (loading it on first use when ``translator`` is NumPy's)."""
    import readline

    with contextlib.suppress(OSError):
        readline.read_history_file(history_file)
    print(f"nmt {run.config.data.src_lang}->{run.config.data.tgt_lang} ({run.directory}), "
          f"beam {beam}. :help for commands.", file=sys.stderr)
    last = ""
    with reliable_ctrl_c():  # Ctrl-C leaves even when readline missed it
        try:
            while True:
                try:
                    line = input(f"{run.config.data.src_lang}> ").strip()
                except EOFError:
                    print(file=sys.stderr)
                    break
                if not line:
                    continue
                if line.startswith(":"):
                    command, _, argument = line.partition(" ")
                    if command in (":quit", ":q", ":exit"):
                        break
                    if command == ":help":
                        print(HELP)
                    elif command == ":beam" and argument.strip().isdigit() and 1 <= int(argument) <= 100:
                        beam = int(argument)
                        print(f"beam size {beam}")
                    elif command in (":prefix", ":p") and last:
                        full_run, _, full_translator = tensorflow()
                        show_completions(full_run, full_translator, last, argument.strip(), max(beam, COMPLETIONS))
                    elif command == ":show" and (argument.strip() or last):
                        full = tensorflow()  # before nmt.inspection, which imports TensorFlow
                        from nmt.inspection import inspect_sentence

                        path = run.directory / "inspect.png"
                        inspect_sentence(*full, argument.strip() or last, beam, path)
                        print(f"gates and attention plotted to {path}")
                    else:
                        print(f"unknown command {line!r}; :help lists the commands")
                    continue
                print(_repl_translation(run, translator, line, beam, tensorflow, glossary))
                last = line
        except KeyboardInterrupt:
            print(file=sys.stderr)
        finally:
            with contextlib.suppress(OSError):
                readline.write_history_file(history_file)
