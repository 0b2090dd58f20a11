"""The JoeyNMT side of `make bench-peer` and `make decode-peer`: the same model shapes on the same batches.

Run with the Python of ``.venv-peer`` (PyTorch + JoeyNMT 2.3, no TensorFlow):

    .venv-peer/bin/python benchmarks/joeynmt_side.py runs/bench/batches.npz runs/bench/peer.json
    .venv-peer/bin/python benchmarks/joeynmt_side.py --trained runs/decode-peer.pt decode.npz peer.json

``batches.npz`` is written by ``bench.py``: the training batches it timed and the
sentences it decoded, as token ids, with the model shapes.  This script builds
JoeyNMT's recurrent encoder-decoder (LSTM, additive attention with input feeding,
which is JoeyNMT's "bahdanau" decoder) with those shapes, times its training
steps and its greedy and beam-5 search exactly as ``bench.py`` times ours, and
writes the medians as JSON.

With ``--trained WEIGHTS`` (``decode_peer.py``) it first trains the model on every
batch of the file in order, one update each, and keeps the weights in WEIGHTS (a
later call reuses them), then translates the file's sentences with greedy and beam-5
search at batch 1 and 64 and writes the hypotheses (our token ids) and sentences/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from joeynmt.batch import Batch
from joeynmt.model import build_model
from joeynmt.search import search
from joeynmt.vocabulary import Vocabulary

# Our ids are PAD 0, UNK 1, BOS 2, EOS 3; JoeyNMT's are UNK 0, PAD 1, BOS 2, EOS 3.
SPECIALS = SimpleNamespace(unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                           unk_id=0, pad_id=1, bos_id=2, eos_id=3, sep_token=None, lang_tags=[])


def joey_ids(ids: np.ndarray) -> np.ndarray:
    return np.where(ids == 0, 1, np.where(ids == 1, 0, ids))


def model_for(shapes: dict):
    vocab = Vocabulary([f"piece{i}" for i in range(4, int(shapes["vocab"]))], SPECIALS)
    cfg = {
        "encoder": {"type": "recurrent", "rnn_type": "lstm", "hidden_size": int(shapes["encoder_units"]),
                    "num_layers": int(shapes["encoder_layers"]), "bidirectional": True,
                    "dropout": float(shapes["dropout"]),
                    "embeddings": {"embedding_dim": int(shapes["embedding_dim"])}},
        "decoder": {"type": "recurrent", "rnn_type": "lstm", "hidden_size": int(shapes["decoder_units"]),
                    "num_layers": int(shapes["decoder_layers"]), "attention": "bahdanau",
                    "input_feeding": True, "init_hidden": "bridge", "dropout": float(shapes["dropout"]),
                    "embeddings": {"embedding_dim": int(shapes["embedding_dim"])}},
    }
    model = build_model(cfg, vocab, vocab)
    model.loss_function = ("crossentropy", 0.0)
    return model, vocab


def make_batch(source: np.ndarray, target: np.ndarray | None) -> tuple[Batch, list[int]]:
    """A JoeyNMT batch, and for each input row its row in the batch; ``target`` is BOS +
    sentence + EOS (JoeyNMT shifts it itself)."""
    src = torch.from_numpy(joey_ids(source)).long()
    lengths = (src != SPECIALS.pad_id).sum(1)
    trg = torch.from_numpy(joey_ids(target)).long() if target is not None else None
    batch = Batch(src, lengths, None, trg, None, torch.arange(len(src)), torch.device("cpu"),
                  SPECIALS.pad_id, SPECIALS.eos_id, is_train=target is not None)
    rows = batch.sort_by_src_length()  # JoeyNMT's packed RNN input wants longest first
    return batch, rows


def unbucketed(batches: list[tuple[np.ndarray, np.ndarray]], seed: int = 1):
    """The same sentence pairs re-batched in random order, as without length bucketing:
    each batch takes pairs until its padded size would pass the original token budget."""
    def rows(matrix):
        return [row[row != 0] for row in matrix]
    pairs = [pair for source, target in batches for pair in zip(rows(source), rows(target))]
    budget = max(source.size for source, _ in batches)
    np.random.default_rng(seed).shuffle(pairs)
    result, chunk, longest = [], [], 0
    for pair in pairs:
        longest_with = max(longest, len(pair[0]), len(pair[1]))
        if chunk and longest_with * (len(chunk) + 1) > budget:
            result.append(chunk)
            chunk, longest_with = [], max(len(pair[0]), len(pair[1]))
        chunk.append(pair)
        longest = longest_with
    result.append(chunk)
    return [tuple(pad([p[side] for p in chunk]) for side in (0, 1)) for chunk in result]


def pad(rows: list[np.ndarray]) -> np.ndarray:
    out = np.zeros((len(rows), max(len(r) for r in rows)), np.int32)
    for index, row in enumerate(rows):
        out[index, :len(row)] = row
    return out


def time_training(model, batches, warmup: int) -> dict:
    optimizer = torch.optim.Adam(model.parameters(), lr=0.003)
    model.train()
    speeds = []
    for index, (source, target_out) in enumerate(batches):
        full = np.concatenate([np.full((len(target_out), 1), 2, np.int32), target_out], axis=1)
        started = time.perf_counter()
        batch, _ = make_batch(source, full)
        loss = model(return_type="loss", **vars(batch))[0]
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        seconds = time.perf_counter() - started
        if index >= warmup:
            speeds.append(batch.ntokens / seconds)
    return {"target_tokens_per_second": round(statistics.median(speeds)), "steps_timed": len(speeds)}


def translate(model, chunk: list[np.ndarray], beam: int, ratio: float, offset: int) -> list[list[int]]:
    """Hypotheses (our ids, up to EOS) for the sentences of ``chunk``, in their order; the
    length limit is ours: ``ratio`` x the longest source + ``offset``."""
    source = pad(chunk)
    limit = int(np.ceil(source.shape[1] * ratio)) + offset
    batch, rows = make_batch(source, None)
    output = joey_ids(search(model, batch, limit, beam if beam > 1 else 0, 1.0)[0])
    hypotheses = []
    for row in rows:
        ids = list(output[row])
        hypotheses.append(ids[:ids.index(SPECIALS.eos_id)] if SPECIALS.eos_id in ids else ids)
    return hypotheses


def timed_translation(model, sentences: list[np.ndarray], beam: int, batch_size: int, ratio: float,
                      offset: int) -> tuple[list[list[int]], float]:
    """The hypotheses and sentences/s, after one untimed warm-up batch."""
    model.eval()
    translate(model, sentences[:batch_size], beam, ratio, offset)
    started = time.perf_counter()
    hypotheses = []
    for start in range(0, len(sentences), batch_size):
        hypotheses += translate(model, sentences[start:start + batch_size], beam, ratio, offset)
    return hypotheses, len(sentences) / (time.perf_counter() - started)


def train_on(model, batches, learning_rate: float, clip_norm: float) -> dict:
    """One update per batch, in order, as ours trains: Adam, the loss averaged over the
    batch's target tokens, gradients clipped to ``clip_norm``."""
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    model.train()
    tokens, started = 0, time.perf_counter()
    for step, (source, target_out) in enumerate(batches, 1):
        full = np.concatenate([np.full((len(target_out), 1), 2, np.int32), target_out], axis=1)
        batch, _ = make_batch(source, full)
        loss = model(return_type="loss", **vars(batch))[0] / batch.ntokens
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        tokens += int(batch.ntokens)
        if step % 50 == 0 or step == len(batches):
            print(f"JoeyNMT step {step}/{len(batches)} | loss {loss.item():.3f} | "
                  f"{tokens / (time.perf_counter() - started):,.0f} tok/s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - started
    return {"steps": len(batches), "seconds": round(seconds, 1),
            "target_tokens_per_second": round(tokens / seconds)}


def trained_comparison(data, shapes: dict, weights: Path) -> dict:
    """Train on every batch (unless ``weights`` exist), keep the weights, translate every sentence."""
    model, _ = model_for(shapes)
    results = {"peer": f"JoeyNMT 2.3 (PyTorch {torch.__version__})", "threads": torch.get_num_threads()}
    if weights.exists():
        model.load_state_dict(torch.load(weights))
    else:
        batches = [(data[f"train_src_{i}"], data[f"train_tgt_{i}"]) for i in range(int(data["train_count"]))]
        results["training"] = train_on(model, batches, float(shapes["learning_rate"]), float(shapes["clip_norm"]))
        torch.save(model.state_dict(), weights)
    sentences = [data[f"decode_{i}"] for i in range(int(data["decode_count"]))]
    decoding = {}
    with torch.no_grad():
        for beam in (1, 5):
            for batch, count in ((1, int(shapes["batch1_sentences"])), (64, len(sentences))):
                hypotheses, speed = timed_translation(model, sentences[:count], beam, batch,
                                                      shapes["ratio"], shapes["offset"])
                decoding[f"beam{beam}_batch{batch}"] = {"sentences_per_second": round(speed, 2),
                                                        "hypotheses": [[int(i) for i in h] for h in hypotheses]}
    results["decoding"] = decoding
    return results


def timing_on_the_same_batches(data, shapes: dict) -> dict:
    """`make bench-peer`: training and decoding speed of an untrained model."""
    model, _ = model_for(shapes)
    batches = [(data[f"train_src_{i}"], data[f"train_tgt_{i}"]) for i in range(int(data["train_count"]))]
    results = {"peer": "JoeyNMT 2.3 (PyTorch " + torch.__version__ + ")",
               "threads": torch.get_num_threads(),
               "training_float32": time_training(model, batches, int(shapes["warmup"])),
               "training_float32_unbucketed": time_training(model, unbucketed(batches), int(shapes["warmup"]))}
    sentences = [data[f"decode_{i}"] for i in range(int(data["decode_count"]))]
    decoding = {}
    with torch.no_grad():
        for beam in (1, 5):
            for batch, count in ((1, 32), (64, len(sentences))):
                decoding[f"beam{beam}_batch{batch}"] = round(timed_translation(
                    model, sentences[:count], beam, batch, shapes["ratio"], shapes["offset"])[1], 1)
    results["decode_sentences_per_second"] = decoding
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="JoeyNMT on the batches and sentences of a .npz file")
    parser.add_argument("batches", help="the .npz file written by bench.py or decode_peer.py")
    parser.add_argument("output", help="JSON file for the results")
    parser.add_argument("--trained", metavar="WEIGHTS",
                        help="train on every batch first (or load WEIGHTS if present), then translate")
    args = parser.parse_args()
    torch.manual_seed(1)
    data = np.load(args.batches)
    shapes = json.loads(str(data["shapes"]))
    results = (trained_comparison(data, shapes, Path(args.trained)) if args.trained
               else timing_on_the_same_batches(data, shapes))
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
