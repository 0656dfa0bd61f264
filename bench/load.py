"""Load rounds against the app: many concurrent demo requests, the server's memory after each round.

    python -m bench.load --rounds 6 --clients 30 --out bench/load.json

Starts `app.py` in its own process (the bundled model unless --model), sends --clients concurrent
/predict requests a round with long texts (IMDB reviews joined to 2,000-8,500 tokens), checks every
answer against the first round's, and records the server's resident memory (VmRSS) after each round,
so growth that does not level off (a leak) shows.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """A process's resident memory in MB, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def start_app(port: int, env: dict, cwd: Path = ROOT, timeout: float = 180) -> subprocess.Popen:
    """`python app.py` in cwd on a port, once it answers HTTP; env adds to (or, as None, removes from) ours."""
    merged = {**os.environ, "GRADIO_SERVER_PORT": str(port), **env}
    merged = {k: v for k, v in merged.items() if v is not None}
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (open as long as the server: a pipe nobody reads would block it)
    server = subprocess.Popen([sys.executable, "app.py"], cwd=cwd, env=merged, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"the app exited while starting: {log.read()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            return server
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"the app did not start in {timeout:.0f} s") from None
            time.sleep(0.5)


def long_reviews(n: int, low: int, high: int) -> list[str]:
    """n texts of low..high tokens (about 4.3 characters a token), joined from the shipped IMDB sample."""
    import pandas as pd

    from longbert.data import SAMPLE

    reviews = pd.read_parquet(SAMPLE)["text"].tolist()
    texts, start = [], 0
    for i in range(n):
        want = int((low + (high - low) * i / max(n - 1, 1)) * 4.3)
        parts = []
        while sum(map(len, parts)) < want:
            parts.append(reviews[start % len(reviews)])
            start += 1
        texts.append(" ".join(parts)[:want])
    return texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model directory (default: the bundled model)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--out", type=Path, help="write the rounds as JSON here")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server, e.g. MALLOC_ARENA_MAX=2")
    args = parser.parse_args(argv)
    from gradio_client import Client

    from longbert.bundled import BUNDLED_MODEL_DIR

    model = args.model or str(BUNDLED_MODEL_DIR)
    port = free_port()
    server = start_app(port, {"LONGBERT_MODEL": model, **dict(item.split("=", 1) for item in args.env)})
    url = f"http://127.0.0.1:{port}/"
    texts = long_reviews(args.clients, 2_000, 8_500)
    expected: dict[int, str] = {}
    rounds = [{"round": 0, "rss_mb": rss_mb(server.pid)}]
    print(f"started: {rounds[0]['rss_mb']:.0f} MB", file=sys.stderr)

    engines: set[str] = set()

    def one(i: int) -> tuple[int, str, float]:
        start = time.perf_counter()
        verdict = Client(url, verbose=False).predict(texts[i], model, 510, 510, 1, "mean", "fixed windows",
                                                     api_name="/predict")[0]  # fmt: skip
        if said := re.search(r"\(([^()]+)\)\.$", verdict.strip()):  # the timing line names the engine
            engines.add(said.group(1))
        return i, verdict.splitlines()[0], time.perf_counter() - start

    try:
        for number in range(1, args.rounds + 1):
            with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
                answers = list(pool.map(one, range(args.clients)))
            errors = [verdict for _, verdict, _ in answers if not verdict.startswith("### ")]
            for i, verdict, _ in answers:
                if verdict.startswith("### "):
                    expected.setdefault(i, verdict)
            changed = sum(expected.get(i, verdict) != verdict for i, verdict, _ in answers)
            latencies = sorted(a[2] for a in answers)
            p95 = latencies[int(0.95 * (len(latencies) - 1))]
            row = {"round": number, "rss_mb": rss_mb(server.pid), "errors": errors[:3], "changed": changed,
                   "p50_s": statistics.median(latencies), "p95_s": p95}  # fmt: skip
            rounds.append(row)
            print(json.dumps(row), file=sys.stderr)
    finally:
        server.terminate()
        server.wait(timeout=30)
    from longbert.runtime import cpu_instruction_set

    result = {"clients": args.clients, "model": model, "env": args.env, "engines": sorted(engines),
              "instruction_set": cpu_instruction_set(), "rounds": rounds}  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
