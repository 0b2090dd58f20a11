"""`nmt serve`: translations over HTTP, with dynamic batching, metrics and a web page.

The server is aiohttp: one well-kept asyncio library that is both the HTTP server and
its test client, with request size limits built in, so no separate ASGI server is
needed.  The model loads in a background thread after the port is open, so
``GET /healthz`` answers at once ("loading", then "ok").

Dynamic batching: every translation request goes into one queue.  The batcher takes
what arrives within ``batch_wait`` seconds of the first request (up to
``max_batch`` sentences), sorts the sentences by length (``scored_lines`` does) and
decodes them together on one worker thread, then answers each request with its own
lines.  While a batch is decoded, the next one gathers.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from nmt.data import pad
from nmt.glossary import Glossary, Term, script_problem, vocabulary_scripts
from nmt.translate import decoded_texts, encode_inputs, make_translator, nbest_lines, scored_lines, until_eos
from nmt.weights import load_model

MAX_BEAM = 16  # each beam size traces its own search graph once; larger beams gain nothing here
PAGE = Path(__file__).with_name("page.html")


class BadRequest(Exception):
    """A client error: the HTTP status and one line saying what was expected."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    batch_wait: float = 0.005    # seconds to gather requests into one batch
    max_batch: int = 256         # sentences per decoder batch at most
    max_lines: int = 1000        # sentences per request at most
    max_body: int = 1 << 20      # bytes per request body at most
    batching: bool = True        # False: one request at a time (for comparison)


class Engine:
    """The loaded run: searches on one thread, since TensorFlow runs one graph at a time best here."""

    def __init__(self, run, model, translator, glossary: Glossary | None = None):
        self.run, self.model, self.translator, self.glossary = run, model, translator, glossary
        self.scripts = vocabulary_scripts(run.src_vocab), vocabulary_scripts(run.tgt_vocab)

    def with_terms(self, terms: tuple[tuple[str, str], ...]) -> Glossary | None:
        """The server's glossary with a request's own terms added (a request's term wins)."""
        if not terms:
            return self.glossary
        own = [Term(tuple(source.lower().split()), target) for source, target in terms]
        return Glossary([*(Term(s, t) for s, t in (self.glossary.terms if self.glossary else {}).items()), *own])

    def translate(self, lines: list[str], beam: int, nbest: int,
                  terms: tuple[tuple[str, str], ...] = ()) -> list[list[tuple[str, float]]]:
        if nbest > 1:
            return nbest_lines(self.run, self.translator, lines, beam, nbest)
        found = scored_lines(self.run, self.translator, lines, beam, protect=self.run.config.decode.protect,
                             glossary=self.with_terms(terms))
        return [[one] for one in found]

    def attention(self, sentence: str, beam: int) -> dict:
        """The translation of one sentence with its attention [target, source] and both sides' pieces."""
        source = encode_inputs(self.run, [sentence], 1)[0][0]
        tokens, attention = self.translator.with_attention(pad([source]), beam)
        output = until_eos(tokens)[0]
        return {"translation": decoded_texts(self.run, tokens)[0],
                "source_pieces": [self.run.src_vocab.piece(i) for i in source[:-1]],
                "target_pieces": [self.run.tgt_vocab.piece(i) for i in output if i],
                "attention": [[round(float(w), 4) for w in row[:len(source) - 1]]
                              for row in attention[0][:len(output)]]}

    def complete(self, sentence: str, prefix: str, beam: int) -> list[str]:
        found = nbest_lines(self.run, self.translator, [sentence], beam, beam, prefixes=[prefix])[0]
        return list(dict.fromkeys(text for text, _ in found if text))


@dataclass
class _Job:
    lines: list[str]
    beam: int
    nbest: int
    done: asyncio.Future
    terms: tuple[tuple[str, str], ...] = ()  # the request's own glossary


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self):
        self.requests = Counter("nmt_requests", "HTTP requests answered", ["path", "status"],
                                registry=self.registry)
        self.sentences = Counter("nmt_sentences", "sentences translated", registry=self.registry)
        self.latency = Histogram("nmt_request_seconds", "time from request to answer", ["path"],
                                 buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
                                 registry=self.registry)
        self.batch = Histogram("nmt_batch_sentences", "sentences per decoder batch",
                               buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=self.registry)


class Batcher:
    """Gathers concurrent translation requests into decoder batches (see the module docstring)."""

    def __init__(self, options: ServeOptions, metrics: Metrics):
        self.options, self.metrics = options, metrics
        self.queue: asyncio.Queue[_Job] = asyncio.Queue()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nmt-search")
        self.engine: Engine | None = None

    async def submit(self, lines: list[str], beam: int, nbest: int,
                     terms: tuple[tuple[str, str], ...] = ()) -> list[list[tuple[str, float]]]:
        job = _Job(lines, beam, nbest, asyncio.get_running_loop().create_future(), terms)
        self.queue.put_nowait(job)
        return await job.done

    async def call(self, function: Callable, *args) -> Any:
        """Run ``function`` on the search thread (between batches)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)

    async def run(self) -> None:
        while True:
            jobs = [await self.queue.get()]
            if self.options.batching:
                await asyncio.sleep(self.options.batch_wait)
                size = len(jobs[0].lines)
                while not self.queue.empty() and size < self.options.max_batch:
                    jobs.append(self.queue.get_nowait())
                    size += len(jobs[-1].lines)
            groups: dict[tuple, list[_Job]] = {}
            for job in jobs:
                groups.setdefault((job.beam, job.nbest, job.terms), []).append(job)
            for (beam, nbest, terms), group in groups.items():
                await self._decode(group, beam, nbest, terms)

    async def _decode(self, group: list[_Job], beam: int, nbest: int, terms: tuple) -> None:
        lines = [line for job in group for line in job.lines]
        self.metrics.batch.observe(len(lines))
        try:
            results = await self.call(self.engine.translate, lines, beam, nbest, terms)
        except Exception as error:  # answer every waiting request, keep serving
            for job in group:
                if not job.done.done():
                    job.done.set_exception(error)
            return
        start = 0
        for job in group:
            if not job.done.done():
                job.done.set_result(results[start:start + len(job.lines)])
            start += len(job.lines)


OPTIONS = web.AppKey("options", ServeOptions)
NAME = web.AppKey("name", str)
METRICS = web.AppKey("metrics", Metrics)
STATE = web.AppKey("state", dict)
BATCHER = web.AppKey("batcher", Batcher)
BATCH_TASK = web.AppKey("batch_task", asyncio.Task)
LOAD_TASK = web.AppKey("load_task", asyncio.Task)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json_body(request: web.Request) -> Any:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BadRequest(413, f"request body larger than the limit of {request.app[OPTIONS].max_body:,} "
                              f"bytes (--max-body)") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(400, f"request body: invalid UTF-8 at byte {error.start}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise BadRequest(400, f"request body: invalid JSON ({error.msg} at line {error.lineno} "
                              f"column {error.colno})") from None


def _integer(body: dict, key: str, default: int, low: int, high: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(400, f"{key}: expected an integer from {low} to {high}, got {json.dumps(value)}")
    return value


def _lines(value: Any, key: str, limit: int) -> list[str]:
    if not isinstance(value, list) or not value:
        raise BadRequest(400, f"{key}: expected a non-empty list of strings")
    if len(value) > limit:
        raise BadRequest(413, f"{key}: {len(value):,} lines, more than the limit of {limit:,} per request "
                              f"(--max-lines)")
    for index, line in enumerate(value):
        if not isinstance(line, str):
            raise BadRequest(400, f"{key}[{index}]: expected a string, got {json.dumps(line)[:40]}")
    return value


def _terms(body: dict, engine: Engine) -> tuple[tuple[str, str], ...]:
    """A request's ``glossary``: [[source term, target term], ...] (default: none of its own)."""
    value = body.get("glossary", [])
    if not isinstance(value, list):
        raise BadRequest(400, "glossary: expected a list of [source term, target term] pairs")
    terms = []
    for index, pair in enumerate(value):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) and t.strip() for t in pair)):
            raise BadRequest(400, f"glossary[{index}]: expected [source term, target term], got "
                                  f"{json.dumps(pair)[:60]}")
        problem = script_problem(pair[0].strip(), pair[1].strip(), *engine.scripts)
        if problem:
            raise BadRequest(400, f"glossary[{index}]: {problem}")
        terms.append((pair[0].strip(), pair[1].strip()))
    return tuple(terms)


def _string(body: dict, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise BadRequest(400, f"{key}: expected a string")
    return value


def _object(body: Any) -> dict:
    if not isinstance(body, dict):
        raise BadRequest(400, "request body: expected a JSON object")
    return body


def _ready(request: web.Request) -> Batcher:
    batcher = request.app[BATCHER]
    if batcher.engine is None:
        raise BadRequest(503, "the model is still loading; GET /healthz says when it is ready")
    return batcher


def _default_beam(request: web.Request) -> int:
    return min(request.app[BATCHER].engine.run.config.decode.beam_size, MAX_BEAM)


async def translate(request: web.Request) -> web.Response:
    batcher = _ready(request)
    body = _object(await _json_body(request))
    lines = _lines(body.get("text"), "text", request.app[OPTIONS].max_lines)
    beam = _integer(body, "beam", _default_beam(request), 1, MAX_BEAM)
    nbest = _integer(body, "nbest", 1, 1, beam)
    results = await batcher.submit(lines, beam, nbest, _terms(body, batcher.engine))
    request.app[METRICS].sentences.inc(len(lines))
    answer = []
    for found in results:
        item = {"translation": found[0][0], "score": round(found[0][1], 6)}
        if nbest > 1:
            item["nbest"] = [{"translation": text, "score": round(score, 6)} for text, score in found]
        answer.append(item)
    return web.json_response({"translations": answer})


async def predict(request: web.Request) -> web.Response:
    """TensorFlow Serving's REST ``predict``, with the outputs of ``nmt export``'s signature."""
    name, _, verb = request.match_info["spec"].partition(":")
    model = request.app[NAME]
    if name != model or verb != "predict":
        raise BadRequest(404, f"Servable not found for request: {name}:{verb} (this server has "
                              f"{model}:predict)")
    batcher = _ready(request)
    body = _object(await _json_body(request))
    limit = request.app[OPTIONS].max_lines
    if "instances" in body:
        lines = _lines(body["instances"], "instances", limit)
    elif isinstance(body.get("inputs"), dict):
        lines = _lines(body["inputs"].get("text"), "inputs.text", limit)
    else:
        lines = _lines(body.get("inputs"), "inputs", limit)
    results = [found[0] for found in await batcher.submit(lines, _default_beam(request), 1)]
    request.app[METRICS].sentences.inc(len(lines))
    if "instances" in body:
        return web.json_response({"predictions": [{"translations": t, "scores": s} for t, s in results]})
    return web.json_response({"outputs": {"translations": [t for t, _ in results],
                                          "scores": [s for _, s in results]}})


async def attention(request: web.Request) -> web.Response:
    batcher = _ready(request)
    body = _object(await _json_body(request))
    sentence = _string(body, "text")
    beam = _integer(body, "beam", _default_beam(request), 1, MAX_BEAM)
    if not sentence.strip():
        return web.json_response({"translation": "", "source_pieces": [], "target_pieces": [], "attention": []})
    return web.json_response(await batcher.call(batcher.engine.attention, sentence, beam))


async def complete(request: web.Request) -> web.Response:
    batcher = _ready(request)
    body = _object(await _json_body(request))
    sentence, prefix = _string(body, "text"), _string(body, "prefix")
    beam = _integer(body, "beam", _default_beam(request), 1, MAX_BEAM)
    if not sentence.strip():
        return web.json_response({"completions": []})
    return web.json_response({"completions": await batcher.call(batcher.engine.complete, sentence, prefix, beam)})


async def healthz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if state["error"]:
        return web.json_response({"status": "failed", "error": state["error"]}, status=500)
    if request.app[BATCHER].engine is None:
        return web.json_response({"status": "loading"}, status=503)
    return web.json_response({"status": "ok", "model": request.app[NAME]})


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(request.app[METRICS].registry),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


async def page(request: web.Request) -> web.Response:
    return web.FileResponse(PAGE)


@web.middleware
async def errors_as_json(request: web.Request, handler) -> web.StreamResponse:
    """Every error is JSON ``{"error": "one line"}``, counted, and the server keeps serving."""
    started = time.perf_counter()
    try:
        response = await handler(request)
    except BadRequest as error:
        response = _error(error.status, str(error))
    except web.HTTPException as error:
        reason = {404: f"no such path: {request.path}",
                  405: f"{request.method} is not allowed on {request.path}"}.get(error.status, error.reason)
        response = _error(error.status, reason)
    except Exception as error:  # a failed search must not take the server down
        print(f"error: {request.path}: {type(error).__name__}: {error}", file=sys.stderr)
        response = _error(500, f"internal error while answering {request.path}")
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "other"
    metrics_ = request.app[METRICS]
    metrics_.requests.labels(route, str(response.status)).inc()
    metrics_.latency.labels(route).observe(time.perf_counter() - started)
    return response


def make_app(name: str, load: Callable[[], Engine], options: ServeOptions = ServeOptions()) -> web.Application:
    """The application; ``load`` builds the Engine on a thread once the server runs."""
    app = web.Application(middlewares=[errors_as_json], client_max_size=options.max_body)
    app[OPTIONS], app[NAME], app[METRICS] = options, name, Metrics()
    app[STATE] = {"error": None}
    app.router.add_get("/", page)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/v1/translate", translate)
    app.router.add_post("/v1/attention", attention)
    app.router.add_post("/v1/complete", complete)
    app.router.add_post("/v1/models/{spec}", predict)

    async def start(app: web.Application) -> None:
        batcher = Batcher(options, app[METRICS])
        app[BATCHER] = batcher
        app[BATCH_TASK] = asyncio.create_task(batcher.run())
        app[LOAD_TASK] = asyncio.create_task(_load(app, batcher, load))

    async def stop(app: web.Application) -> None:
        for task in (BATCH_TASK, LOAD_TASK):
            app[task].cancel()
        app[BATCHER].executor.shutdown(wait=False, cancel_futures=True)

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


async def _load(app: web.Application, batcher: Batcher, load: Callable[[], Engine]) -> None:
    await asyncio.sleep(0.2)  # the port opens first: /healthz answers "loading" meanwhile
    started = time.perf_counter()
    try:
        engine = await batcher.call(load)
    except Exception as error:
        app[STATE]["error"] = str(error)
        print(f"error: cannot load the model: {error}", file=sys.stderr)
        return
    batcher.engine = engine
    print(f"model loaded and warmed up in {time.perf_counter() - started:.1f} s; ready", file=sys.stderr, flush=True)


def loader(run, weights: str, glossary=None) -> Callable[[], Engine]:
    """Load the run's model and trace the default search once, so the first request is fast."""
    def load() -> Engine:
        model = load_model(run, weights)
        engine = Engine(run, model, make_translator(run, model), glossary)
        engine.translate(["Hallo."], min(run.config.decode.beam_size, MAX_BEAM), 1)
        return engine
    return load


def serve(run, weights: str, options: ServeOptions, glossary=None) -> None:
    app = make_app(run.directory.name, loader(run, weights, glossary), options)
    print(f"serving {run.directory} on http://{options.host}:{options.port}/ (loading the model; "
          f"GET /healthz says when it is ready)", file=sys.stderr, flush=True)
    web.run_app(app, host=options.host, port=options.port, print=None, handle_signals=True)
