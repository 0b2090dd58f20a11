"""Load test of `nmt serve` on loopback: CLIENTS concurrent clients send single-sentence
requests for SECONDS to a server with dynamic batching and for SECONDS to one answering a
request at a time; latency percentiles, sentences/s, errors and the servers' memory.

    .venv/bin/python benchmarks/load_test.py --run runs/ding-de-en --output docs/serve [--beam 1]

Both servers run side by side and take turns in ROUNDS alternated rounds (SECONDS / ROUNDS
each), so a shared machine whose speed drifts during the test slows both alike; the
throughput ratio is the median of the rounds' ratios.  It starts and stops the servers
itself, talks only to 127.0.0.1 and ends after 2 x SECONDS plus start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nmt.files import write_atomic  # noqa: E402
from nmt.machine import describe  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def start(run: str, batching: bool) -> tuple[subprocess.Popen, str, dict]:
    """Start a server; the seconds until /healthz answered (any status) and until the first translation."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "nmt.cli", "serve", "--run", run, "--port", str(port),
                               *([] if batching else ["--no-batching"])], cwd=REPO,
                              stderr=subprocess.DEVNULL)
    timings = {}
    async with aiohttp.ClientSession() as session:
        while "first_translation_seconds" not in timings:
            if server.poll() is not None:
                raise SystemExit(f"error: the server for {run} stopped (exit {server.returncode})")
            try:
                async with session.get(url + "/healthz") as answer:
                    timings.setdefault("healthz_seconds", round(time.perf_counter() - started, 2))
                    if answer.status == 200:
                        async with session.post(url + "/v1/translate", json={"text": ["Guten Morgen."]}) as first:
                            await first.json()
                            timings["first_translation_seconds"] = round(time.perf_counter() - started, 2)
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    return server, url, timings


SERVERS = (("dynamic batching", True), ("one request at a time", False))


async def load(url: str, sentences: list[str], clients: int, seconds: float, pid: int, beam: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    memory: list[float] = [resident_mib(pid)]
    deadline = time.perf_counter() + seconds

    async def client(session: aiohttp.ClientSession, rng: random.Random) -> None:
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            try:
                request = {"text": [rng.choice(sentences)], "beam": beam}
                async with session.post(url + "/v1/translate", json=request) as answer:
                    body = await answer.json()
                    if answer.status != 200 or len(body.get("translations", [])) != 1:
                        errors.append(f"{answer.status}: {body}")
                        continue
            except aiohttp.ClientError as error:
                errors.append(str(error))
                continue
            latencies.append(time.perf_counter() - sent)

    async def sample_memory() -> None:
        while time.perf_counter() < deadline:
            await asyncio.sleep(5)
            memory.append(resident_mib(pid))

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        began = time.perf_counter()
        await asyncio.gather(sample_memory(), *(client(session, random.Random(i)) for i in range(clients)))
        elapsed = time.perf_counter() - began
    memory.append(resident_mib(pid))
    return {"requests": len(latencies) + len(errors), "errors": len(errors), "first_errors": errors[:3],
            "seconds": elapsed, "latencies": latencies,
            "sentences_per_second": round(len(latencies) / elapsed, 2),
            "memory_mib": [round(m, 1) for m in memory]}


def merge(rounds: list[dict]) -> dict:
    """One server's rounds as one measurement: summed counts, latency over all requests,
    memory over the whole test, and the sentences/s of each round."""
    latencies = sorted(latency for r in rounds for latency in r["latencies"])
    seconds = sum(r["seconds"] for r in rounds)
    return {"requests": sum(r["requests"] for r in rounds), "errors": sum(r["errors"] for r in rounds),
            "first_errors": [e for r in rounds for e in r["first_errors"]][:3],
            "sentences_per_second": round(len(latencies) / seconds, 2),
            "round_sentences_per_second": [r["sentences_per_second"] for r in rounds],
            "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
            "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1) if latencies else None,
            "memory_mib": [m for r in rounds for m in r["memory_mib"]]}


async def main_async(args) -> dict:
    sentences = [line for line in Path(args.sentences).read_text(encoding="utf-8").splitlines() if line.strip()]
    results = {"machine": describe(), "run": args.run, "clients": args.clients, "seconds": args.seconds,
               "rounds": args.rounds, "beam": args.beam}
    servers = {}
    try:
        for name, batching in SERVERS:
            print(f"{name}: starting the server", file=sys.stderr, flush=True)
            servers[name] = await start(args.run, batching)
        rounds: dict[str, list[dict]] = {name: [] for name, _ in SERVERS}
        for index in range(args.rounds):
            for name, _ in SERVERS:
                server, url, _ = servers[name]
                print(f"round {index + 1}/{args.rounds}, {name}: {args.clients} clients for "
                      f"{args.seconds / args.rounds:g} s", file=sys.stderr, flush=True)
                rounds[name].append(await load(url, sentences, args.clients, args.seconds / args.rounds,
                                               server.pid, args.beam))
    finally:
        for server, _, _ in servers.values():
            server.terminate()
            server.wait(30)
    for name, _ in SERVERS:
        results[name] = {**servers[name][2], **merge(rounds[name])}
        print(f"{name}: {json.dumps(results[name])}", file=sys.stderr, flush=True)
    ratios = [b["sentences_per_second"] / max(s["sentences_per_second"], 1e-9)
              for b, s in zip(rounds["dynamic batching"], rounds["one request at a time"])]
    results["round_ratios"] = [round(r, 2) for r in ratios]
    results["throughput_ratio"] = round(statistics.median(ratios), 2)
    return results


def markdown(results: dict) -> str:
    machine = results["machine"]
    onednn = "on" if machine.get("onednn") else "off"
    lines = [f"Load test of `nmt serve` ({results['clients']} concurrent clients, {results['seconds']:g} s of "
             f"single-sentence requests per server in {results['rounds']} alternated rounds, beam "
             f"{results['beam']}, loopback) on {machine['cpu']} "
             f"({machine['cores']} cores), TensorFlow {machine['tensorflow']} (oneDNN {onednn}), "
             f"commit {machine['commit']}, "
             f"{machine['date']}; "
             f"run `{results['run']}`.", "",
             "| server | requests | errors | sentences/s | p50 latency | p99 latency "
             "| memory (MiB) start / end / max | /healthz after | first translation after |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    for name in ("dynamic batching", "one request at a time"):
        r = results[name]
        memory = r["memory_mib"]
        lines.append(f"| {name} | {r['requests']:,} | {r['errors']} | {r['sentences_per_second']} | {r['p50_ms']} ms "
                     f"| {r['p99_ms']} ms | {memory[0]} / {memory[-1]} / {max(memory)} | {r['healthz_seconds']} s "
                     f"| {r['first_translation_seconds']} s |")
    rounds = " / ".join(f"{b:g} : {s:g}" for b, s in zip(results["dynamic batching"]["round_sentences_per_second"],
                                                     results["one request at a time"]["round_sentences_per_second"]))
    lines += ["", f"Throughput with dynamic batching: {results['throughput_ratio']}x that of one request "
                  f"at a time (median of the rounds' ratios {', '.join(f'{r:g}' for r in results['round_ratios'])}; "
                  f"sentences/s per round, batching : one at a time, {rounds}).", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a trained run directory")
    parser.add_argument("--sentences", default=str(REPO / "data" / "ding-de-en" / "test.de"),
                        help="sentences to send, one per line (default: the shipped test set)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=4, help="alternated rounds per server (default 4)")
    parser.add_argument("--beam", type=int, default=5, help="beam size of every request (default 5)")
    parser.add_argument("--output", help="directory for load.json and load.md")
    args = parser.parse_args()
    if args.rounds < 1 or args.seconds <= 0 or args.clients < 1:
        parser.error("--rounds, --seconds and --clients must be positive")
    results = asyncio.run(main_async(args))
    print(markdown(results))
    if args.output:
        Path(args.output).mkdir(parents=True, exist_ok=True)
        stem = f"load-beam{args.beam}"
        write_atomic(Path(args.output) / f"{stem}.json", json.dumps(results, indent=2) + "\n")
        write_atomic(Path(args.output) / f"{stem}.md", markdown(results))
    errors = results["dynamic batching"]["errors"] + results["one request at a time"]["errors"]
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
