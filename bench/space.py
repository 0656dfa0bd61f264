"""The shared Space's fairness, measured on the app as served (`python app.py`, the bundled model unless --model):

    python -m bench.space --out bench/space.json

- a demo request that would score about 76,000 tokens (the longest example at 510/16/1): its answer's time;
- a fresh long review's demo answer alone, and while an evaluation run scores (300 reviews, the default grid);
- a run whose API client goes away 10 s in: seconds until the server stops scoring and its CPU falls;
- Stop pressed in chromium during a 300-review run: seconds until the CPU falls, and the partial results shown;
- a visitor's 2,000-row upload (CSV, review/sentiment) at 510/510/1: refused before scoring or finished inside the
  run budget, its time, and fresh demo answers while it is checked.
The server's CPU is read with psutil (its process, every 0.1 s); "down" is under 20% of one core.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
import torch

from bench.browser import CHROMIUM, CHROMIUM_ARGS
from bench.load import free_port, start_app
from longbert.runtime import cpu_instruction_set, describe_device

RUN = ("300", "510/510/1,510/255/1", ["mean", "max"])


def cpu_down_after(server: psutil.Process, start: float, most: float = 30.0) -> float:
    """Seconds from start until the server's CPU is under 20% of a core for 0.3 s running."""
    quiet = 0
    while time.monotonic() - start < most:
        if server.cpu_percent(interval=0.1) < 20:
            quiet += 1
            if quiet == 3:
                return time.monotonic() - start - 0.3
        else:
            quiet = 0
    return float("inf")


def wait_for_run(client, most: float = 60.0) -> None:
    deadline = time.monotonic() + most
    while not client.predict(api_name="/runs") and time.monotonic() < deadline:
        time.sleep(0.2)


def demo_seconds(client, model: str, texts: list[str]) -> list[float]:
    """Seconds each fresh review's demo answer takes through the API (510/510/1, mean)."""
    times = []
    for text in texts:
        start = time.perf_counter()
        verdict = client.predict(text, model, 510, 510, 1, "mean", "fixed windows", api_name="/predict")[0]
        assert verdict.startswith("### "), verdict
        times.append(time.perf_counter() - start)
    return times


def measure_api(url: str, model: str, server: psutil.Process, longest: str) -> dict:
    from gradio_client import Client

    client = Client(url, verbose=False)
    start = time.perf_counter()
    refused = client.predict(longest, model, 510, 16, 1, "mean", "fixed windows", api_name="/predict")[0]
    row = {"costly_demo_s": round(time.perf_counter() - start, 3), "costly_demo_answer": refused}
    fresh = [f"Review {i}, never seen before. " + longest for i in range(6)]
    alone = demo_seconds(client, model, fresh[:3])
    job = client.submit(model, *RUN, api_name="/evaluate")
    wait_for_run(client)
    time.sleep(3)
    during = demo_seconds(client, model, fresh[3:])
    row |= {"demo_alone_s": [round(s, 3) for s in alone], "demo_during_run_s": [round(s, 3) for s in during],
            "demo_ratio": round(statistics.median(during) / statistics.median(alone), 2),
            "run_still_scoring_after_demos": bool(client.predict(api_name="/runs"))}  # fmt: skip
    job.cancel()
    deadline = time.monotonic() + 120
    while client.predict(api_name="/runs") and time.monotonic() < deadline:
        time.sleep(0.5)
    script = (f"from gradio_client import Client; Client({url!r}, verbose=False).predict({model!r}, *{RUN!r}, "
              "api_name='/evaluate')")  # fmt: skip
    gone = subprocess.Popen([sys.executable, "-c", script])
    wait_for_run(client)
    time.sleep(10)
    gone.kill()
    killed = time.monotonic()
    while client.predict(api_name="/runs") and time.monotonic() - killed < 30:
        time.sleep(0.1)
    row["client_gone_runs_zero_s"] = round(time.monotonic() - killed, 2)
    row["client_gone_cpu_down_s"] = round(cpu_down_after(server, killed), 2)
    return row


def upload_file(directory: Path, rows: int = 2000) -> Path:
    """A visitor's CSV of `rows` IMDB test reviews (review, sentiment as names): the full split where
    LONGBERT_IMDB or ../shared has it, else the bundled sample's reviews, each repeat numbered."""
    import pandas as pd

    from longbert.data import load_imdb

    frame = load_imdb("test", "sample")
    for source in (os.environ.get("LONGBERT_IMDB"), "../shared/data/imdb"):
        if source and Path(source).exists():
            frame = load_imdb("test", source)
            break
    frame = frame.sample(rows, replace=len(frame) < rows, random_state=0).reset_index(drop=True)
    texts = [f"({i}) {t}" for i, t in enumerate(frame["text"])]
    sentiment = ["positive" if label == 1 else "negative" for label in frame["label"]]
    path = directory / "visitor-2000.csv"
    pd.DataFrame({"review": texts, "sentiment": sentiment}).to_csv(path, index=False)
    return path


def measure_upload(url: str, model: str, longest: str) -> dict:
    import tempfile

    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    with tempfile.TemporaryDirectory() as directory:
        path = upload_file(Path(directory))
        start = time.perf_counter()
        job = client.submit(handle_file(str(path)), "review", "sentiment", model, 2000, "510/510/1", ["mean"],
                            api_name="/evaluate_file")  # fmt: skip
        fresh = [f"Upload bench review {i}. " + longest for i in range(3)]
        during = demo_seconds(Client(url, verbose=False), model, fresh)
        note = job.result()[0]
        took = time.perf_counter() - start
        size_mb = path.stat().st_size / 2**20
    return {"upload_rows": 2000, "upload_mb": round(size_mb, 2),
            "upload_answer": note, "upload_s": round(took, 2),
            "upload_refused": note.startswith("This evaluation run would score"),
            "demo_during_upload_s": [round(s, 3) for s in during]}  # fmt: skip


def measure_stop(url: str, server: psutil.Process) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_role("tab", name="Evaluation").click()
        box = page.get_by_label(re.compile("^number input for reviews"))
        box.fill(RUN[0])
        box.press("Enter")
        page.get_by_role("button", name="Run on IMDB reviews").click()
        page.get_by_text(re.compile(r"Scoring: [\d,]+ of")).wait_for(timeout=60_000)
        time.sleep(12)
        page.get_by_role("button", name="Stop").click()
        pressed = time.monotonic()
        page.get_by_text("Stopping…").first.wait_for(timeout=2_000)
        acknowledged = time.monotonic() - pressed
        cpu = cpu_down_after(server, pressed)
        page.get_by_text(re.compile(r"partial results on the \d+ of \d+ reviews")).wait_for(timeout=30_000)
        note = page.get_by_text(re.compile(r"partial results on the")).first.inner_text()
        browser.close()
    return {"stop_acknowledged_s": round(acknowledged, 2), "stop_cpu_down_s": round(cpu, 2), "stop_note": note}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model directory (default: the bundled model)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    import pandas as pd

    from longbert.bundled import BUNDLED_MODEL_DIR
    from longbert.data import SAMPLE
    from ui.views import readable

    model = args.model or str(BUNDLED_MODEL_DIR)
    frame = pd.read_parquet(SAMPLE)
    longest = readable(frame.loc[frame["text"].str.len().idxmax(), "text"])
    port = free_port()
    process = start_app(port, {"LONGBERT_MODEL": model})
    url = f"http://127.0.0.1:{port}/"
    server = psutil.Process(process.pid)
    try:
        time.sleep(20)  # the examples are scored at start: the server measures its rate
        device = describe_device(torch.device("cpu"))
        result = {"device": device, "instruction_set": cpu_instruction_set(), "model": args.model or "longbert/model"}
        result |= measure_api(url, model, server, longest)
        result |= measure_stop(url, server)
        result |= measure_upload(url, model, longest)
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
