"""longbert on a Ray cluster: a predictor for Ray Data, a Dataset-to-Dataset function, and the actor pool of
`longbert predict --ray`.

Each actor loads the model once and scores whole batches of documents with the same code as one
process (collection.prediction_columns: chunks of many documents packed into token-budgeted
batches), so the answers equal a single-process run's. A part whose actor dies (killed, or its node
lost) goes to an actor still alive, so a lost actor or node costs a retry, not the job; the run
finishes on the capacity left. `--ray local` starts a cluster that listens on 127.0.0.1 only. Ray is
the optional extra `ray` (`pip install -e ".[ray]"`); nothing else in longbert imports it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import socket
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from longbert.collection import prediction_columns
from longbert.errors import LongbertError, Unreachable, first_line
from longbert.files import cache_dir, write_text_atomic

if TYPE_CHECKING:
    import pandas as pd
    import ray.data

# Ray Data's actors: restart a dead actor and retry its tasks, as often as it takes.
FAULT_TOLERANT = {"max_restarts": -1, "max_task_retries": -1}
# Ray reads this when it is imported: off, a cluster started here takes 127.0.0.1 as its node's address (as Ray
# does on macOS and Windows), and every process of it listens on loopback only.
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def _ray():
    try:
        import ray
    except ImportError:
        raise LongbertError('--ray needs Ray: pip install "longbert[ray]"') from None
    return ray


class Predictor:
    """A long-text classifier for one Ray actor: `ds.map_batches(Predictor, fn_constructor_kwargs=...,
    batch_format="pandas")` adds the prediction columns to each batch; `columns` serves the actor pool.

    model, strategy (a Strategy or its name, such as "510/255/1"), pooling, device and precision are
    LongTextClassifier's; text_column names the texts; chunks adds every chunk's outputs and spans; explain adds
    each sentence's evidence (longbert.evidence)."""

    def __init__(
        self,
        model: str | None = None,
        strategy=None,
        pooling: str | None = None,
        *,
        text_column: str = "text",
        chunks: bool = False,
        device: str | None = None,
        precision: str = "auto",
        explain: bool = False,
    ):
        from longbert.chunking import parse_strategy
        from longbert.classifier import LongTextClassifier

        self.classifier = LongTextClassifier.from_pretrained(model, device=device, precision=precision)
        self.strategy = parse_strategy(strategy) if isinstance(strategy, str) else strategy
        self.pooling = pooling
        self.text_column = text_column
        self.chunks = chunks
        self.explain = explain

    def columns(self, number: int, ids: list, texts: list) -> tuple[int, dict, dict]:
        """(number, the prediction columns of these documents, the engine that answered): one part of a collection."""
        columns = prediction_columns(self.classifier, ids, texts, self.strategy, self.pooling, self.chunks,
                                     self.explain)  # fmt: skip
        return number, columns, {"engine": self.classifier.engine}

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        ids = batch.index.tolist()
        _, columns, _ = self.columns(0, ids, batch[self.text_column].tolist())
        out = batch.copy()
        for name, values in columns.items():
            if name != "id":
                out[name] = values
        return out

    def pid(self) -> int:
        """The actor's process id (tests kill it)."""
        import os

        return os.getpid()


def default_gpus() -> float:
    """GPUs per actor: 1 where the cluster has GPUs, else 0."""
    return 1.0 if _ray().cluster_resources().get("GPU", 0) > 0 else 0.0


def default_cpus(actors: int, gpus: float) -> float:
    """CPUs per actor: 1 beside a GPU; on CPUs alone an equal share of the cluster's, so that torch's threads
    (Ray sets OMP_NUM_THREADS to this) use every core without oversubscribing them."""
    if gpus > 0:
        return 1.0
    return float(max(1, int(_ray().cluster_resources().get("CPU", 1)) // actors))


def predict_dataset(
    dataset: ray.data.Dataset,
    model: str | None = None,
    strategy=None,
    pooling: str | None = None,
    *,
    actors: int = 1,
    gpus_per_actor: float | None = None,
    batch_size: int = 1_000,
    text_column: str = "text",
    chunks: bool = False,
    precision: str = "auto",
) -> ray.data.Dataset:
    """The dataset with the prediction columns added (label / labels / value, probabilities, num_tokens,
    num_chunks, error; chunk_outputs and chunk_spans with chunks), scored by `actors` Predictor actors."""
    gpus = default_gpus() if gpus_per_actor is None else gpus_per_actor
    kwargs = {"model": model, "strategy": strategy, "pooling": pooling, "text_column": text_column, "chunks": chunks,
              "precision": precision}  # fmt: skip
    return dataset.map_batches(
        Predictor, fn_constructor_kwargs=kwargs, concurrency=actors, num_gpus=gpus, batch_size=batch_size,
        batch_format="pandas", **FAULT_TOLERANT,
    )  # fmt: skip


CONNECT_S = 60.0  # how long joining a cluster may take before it is given up, in one line
_RECORDS = "ray-local"  # under longbert's cache: the processes of each --ray local cluster, by its driver's PID


def is_loopback(host: str) -> bool:
    """Whether a host names this machine's loopback interface."""
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    return host == "localhost"


@contextlib.contextmanager
def cluster(address: str, timeout: float = CONNECT_S) -> Iterator[None]:
    """Ray for one run: 'local' starts a fresh cluster of this process's own on 127.0.0.1 (never one on record in
    /tmp/ray or RAY_ADDRESS) and shuts it down after; HOST:PORT, ray://... or 'auto' joins one, a loopback host
    with this driver on 127.0.0.1 too (Ray would otherwise take the host's own address). A connect is bounded by
    timeout and fails in one line naming the address and what Ray said. Processes of a --ray local cluster whose
    driver was killed (SIGKILL leaves Ray's agents running) are ended by the next --ray local run. Where Ray is
    already initialized in this process (an API caller's), that cluster is used and left running."""
    if address == "local" and "ray" not in sys.modules:
        os.environ.update(LOOPBACK)  # read when Ray is imported
    ray = _ray()
    if ray.is_initialized():
        yield
        return
    if address == "local":
        end_orphans()
    _join(ray, address, timeout)
    record = _record_processes() if address == "local" else None
    try:
        yield
    finally:
        ray.shutdown()
        if record is not None:
            record.unlink(missing_ok=True)


def _join(ray, address: str, timeout: float) -> None:
    """ray.init for an address, Ray's own lines held back, any failure one LongbertError line."""
    options: dict = {"log_to_driver": False, "include_dashboard": False}
    host = None
    if address == "local":
        options["_node_ip_address"] = "127.0.0.1"
    elif address not in ("auto",) and not address.startswith("ray://"):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise LongbertError(f"--ray {address!r}: give 'local', 'auto', HOST:PORT or ray://HOST:PORT")
        if is_loopback(host):
            options["_node_ip_address"] = "127.0.0.1"
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=min(timeout, 10)).close()
        except OSError as error:
            raise LongbertError(f"cannot join the Ray cluster at {address}: {error.strerror or error}") from None
    os.environ.setdefault("RAY_gcs_rpc_server_connect_timeout_s", str(max(1, int(timeout))))
    with _held_stderr() as held:
        try:
            with _deadline(timeout):
                ray.init(address=address, **options)
        except TimeoutError:
            raise Unreachable(f"cannot join the Ray cluster at {address}: no answer within {timeout:g} s"
                              f"{_said(held)}") from None  # fmt: skip
        except Exception as error:  # Ray raises ConnectionError, RuntimeError (versions), auth errors and more
            raise LongbertError(f"cannot join the Ray cluster at {address}: {first_line(error)}{_said(held)}") from None


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """TimeoutError in the main thread after seconds (where signals can be set: elsewhere no bound)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(*_):
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _held_stderr() -> Iterator[Path]:
    """Ray's lines (its C++ core writes to file descriptor 2) go to a file while it connects, read for errors."""
    with tempfile.NamedTemporaryFile(prefix="longbert-ray-", suffix=".log") as log:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            yield Path(log.name)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _said(log: Path) -> str:
    """What Ray said last that reads as a failure, as ' (Ray: ...)', or nothing."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    failing = [line for line in lines if any(w in line.lower() for w in ("fail", "error", "auth", "version"))]
    if not failing:
        return ""
    said = failing[-1].split("] ", 1)[-1].split(" -- ", 1)[-1]
    return f" (Ray: {said[:200]})"


def _record_processes() -> Path | None:
    """Write down this run's Ray processes (PIDs and start times), so a run after a killed one can end them."""
    try:
        import psutil
    except ImportError:
        return None
    me = psutil.Process()
    processes = [{"pid": p.pid, "started": p.create_time()} for p in me.children(recursive=True)]
    record = cache_dir(_RECORDS) / f"{me.pid}.json"
    with contextlib.suppress(OSError):
        record.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(record, json.dumps({"driver": {"pid": me.pid, "started": me.create_time()},
                                              "processes": processes}))  # fmt: skip
        return record
    return None


def end_orphans() -> list[int]:
    """End the Ray processes of earlier --ray local runs whose driver is gone (killed), by the PIDs and start times
    those runs recorded; returns the PIDs ended."""
    try:
        import psutil
    except ImportError:
        return []

    def alive(entry: dict) -> psutil.Process | None:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(entry["pid"])
            if abs(process.create_time() - entry["started"]) < 1:
                return process
        return None

    ended = []
    for record in sorted(cache_dir(_RECORDS).glob("*.json")):
        with contextlib.suppress(OSError, ValueError, KeyError):
            found = json.loads(record.read_text())
            if alive(found["driver"]) is not None:
                continue  # that run is still going
            left = [p for p in map(alive, found["processes"]) if p is not None]
            for process in left:
                with contextlib.suppress(psutil.Error):
                    process.kill()
                    ended.append(process.pid)
            psutil.wait_procs(left, timeout=10)
            record.unlink(missing_ok=True)
    return ended


def actor_parts(
    actors: int, gpus_per_actor: float | None, cpus_per_actor: float | None = None, **predictor: object
) -> Callable[[Iterator[tuple]], Iterator[tuple]]:
    """map_parts for collection.score_collection: parts scored by a pool of Predictor actors, at most one part in
    flight per actor (so memory stays bounded), results as they finish. A part whose actor dies goes back in the
    queue for the actors still alive (a new actor is started only when none is left), so losing an actor or a
    node costs a retry and the run finishes on the capacity left."""
    ray = _ray()
    if actors < 1:
        raise LongbertError(f"--actors must be a positive integer, got {actors}")
    gpus = default_gpus() if gpus_per_actor is None else gpus_per_actor
    cpus = default_cpus(actors, gpus) if cpus_per_actor is None else cpus_per_actor
    remote = ray.remote(Predictor).options(num_gpus=gpus, num_cpus=cpus, max_restarts=0, max_task_retries=0)

    def run(parts: Iterator[tuple]) -> Iterator[tuple]:
        idle = [remote.remote(**predictor) for _ in range(actors)]
        queue: deque[tuple] = deque()
        flying: dict = {}  # object ref -> (actor, part)
        parts = iter(parts)
        while True:
            while idle and (queue or (part := next(parts, None)) is not None):
                actor, part = idle.pop(), queue.popleft() if queue else part
                flying[actor.columns.remote(*part)] = (actor, part)
            if not flying:
                return
            (ref,), _ = ray.wait(list(flying), num_returns=1)
            actor, part = flying.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError:  # the actor, or its node, is gone: its part goes to another
                queue.append(part)
                if not idle and not flying:
                    idle.append(remote.remote(**predictor))
                continue
            idle.append(actor)
            yield result

    return run
