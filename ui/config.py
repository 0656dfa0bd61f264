"""The app's configuration, read from the environment once at start (a Space sets it in its settings).

LONGBERT_MODEL (default model: a directory or Hub id), LONGBERT_MODELS (more models for the picker,
comma-separated), LONGBERT_RESULTS (results directories shown on the dashboard, comma-separated; default: every
committed one), LONGBERT_IMDB (reviews for evaluation runs; default: the bundled sample), LONGBERT_PRECISION
(auto, fp32, bf16 or int8: the model quantized to int8 in ONNX Runtime, for CPUs without bf16),
LONGBERT_MAX_CHARS (longest review accepted, default 200,000), the budgets in tokens scored (chunks x their
lengths) of a demo request (LONGBERT_DEMO_TOKENS, 20,000), of setting B's request in compare mode
(LONGBERT_COMPARE_TOKENS, 20,000), of an evaluation run (LONGBERT_RUN_TOKENS, 400,000) and of an explanation
(LONGBERT_EXPLAIN_TOKENS, 60,000), the sessions kept (LONGBERT_SESSIONS, 100), LONGBERT_TOKENS_PER_S
(the rate time estimates assume until this server has measured its own, 1,400), LONGBERT_MAX_RUN_SETTINGS (most
settings one run may compare, default 64), a visitor's file (LONGBERT_MAX_UPLOAD_MB, 20; LONGBERT_MAX_UPLOAD_ROWS,
2,000), models from the Hub (LONGBERT_HUB_MODELS, on where SPACE_ID is set; LONGBERT_MAX_MODEL_MB, 600;
LONGBERT_MAX_MODELS loaded at once, 3; LONGBERT_HUB_LOADS per visitor an hour, 3), GRADIO_SERVER_NAME/PORT.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "eval" / "results"
# The default model's results on the full IMDB test split (the examples come from its disagreements).
FULL_SPLIT = RESULTS / "imdb-test"
CHUNK_RANGE = (16, 510)  # the chunk_size slider; stride and minimal_chunk_size go from 1 to its top
MAX_CHARS = int(os.environ.get("LONGBERT_MAX_CHARS", "200000"))
# The budgets, in tokens scored, sized from a free Space's CPU: the bundled model scores about 1,400 tokens/s on 2
# AVX2 cores in fp32 (bench/RESULTS.md), so a demo request is at most about 14 s there and a run about 5 minutes
# (on 2 AVX-512-BF16 cores, about 7,300 tokens/s: 3 s and 1 minute).
DEMO_TOKENS = int(os.environ.get("LONGBERT_DEMO_TOKENS", "20000"))
COMPARE_TOKENS = int(os.environ.get("LONGBERT_COMPARE_TOKENS", "20000"))
RUN_TOKENS = int(os.environ.get("LONGBERT_RUN_TOKENS", "400000"))
# An explanation re-scores a chunk per sentence (longbert.evidence): the longest example's costs 46,148 tokens at
# 510/510/1 (16x its prediction), about 3 s on 2 AVX-512-BF16 cores and 33 s at the AVX2 rate above.
EXPLAIN_TOKENS = int(os.environ.get("LONGBERT_EXPLAIN_TOKENS", "60000"))
# Page and API sessions whose state Gradio keeps (each about 1 MB: a copy of the page's component values); an API
# client never closes its session, so at Gradio's default of 10,000 the server grew about 30 MB a round of 30
# clients (bench/RESULTS.md). The oldest beyond this are dropped.
SESSIONS = int(os.environ.get("LONGBERT_SESSIONS", "100"))
TOKENS_PER_S = float(os.environ.get("LONGBERT_TOKENS_PER_S", "1400"))
# An evaluation run scores this many reviews at a time, so a Stop keeps whole reviews to show (partial results).
RUN_BLOCK_REVIEWS = 16
# A run whose page (or API client) has not been heard from for this long is stopped: the page went away.
GONE_AFTER_S = 3.0
# A visitor's own labelled file (the Evaluation tab): its size, the rows a run samples from it at most, and how long
# it and the results made from it are kept (they go when the page closes, and at the latest after this).
MAX_UPLOAD_MB = float(os.environ.get("LONGBERT_MAX_UPLOAD_MB", "20"))
MAX_UPLOAD_ROWS = int(os.environ.get("LONGBERT_MAX_UPLOAD_ROWS", "2000"))
KEEP_VISITOR_S = 3600.0
# Models from the Hub (on where SPACE_ID is set or LONGBERT_HUB_MODELS=1): their weights' size at most, how many
# models stay loaded at once (least recently used out), and how many Hub models one visitor may load an hour.
MAX_MODEL_MB = float(os.environ.get("LONGBERT_MAX_MODEL_MB", "600"))
MAX_MODELS = int(os.environ.get("LONGBERT_MAX_MODELS", "3"))
HUB_LOADS = int(os.environ.get("LONGBERT_HUB_LOADS", "3"))
# Settings one evaluation run may compare (chunkings x poolings + truncations): the default grid is 13.
MAX_RUN_SETTINGS = int(os.environ.get("LONGBERT_MAX_RUN_SETTINGS", "64"))


def hub_models() -> bool:
    """Whether visitors may name a model on the Hub: on a Space (SPACE_ID) or with LONGBERT_HUB_MODELS=1; off
    elsewhere (LONGBERT_HUB_MODELS=0 turns it off on a Space too)."""
    flag = os.environ.get("LONGBERT_HUB_MODELS")
    if flag is not None:
        return flag.strip().lower() in ("1", "true", "yes", "on")
    return bool(os.environ.get("SPACE_ID"))


def precision() -> str:
    """auto (bf16 where the hardware has it, else fp32), fp32, bf16 or int8 (ONNX Runtime, a CPU without bf16)."""
    return os.environ.get("LONGBERT_PRECISION", "auto")


def review_source() -> str:
    """Where evaluation runs draw their reviews from (LONGBERT_IMDB), else the bundled sample."""
    return os.environ.get("LONGBERT_IMDB", "sample")


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Two glibc malloc arenas for the whole server, as MALLOC_ARENA_MAX=2 would give (a Space cannot set it
    before the process starts). By default each thread that allocates gets an arena of its own, up to 8 per
    core: under load the request threads keep freed memory in many arenas and the server grew by about 20 MB a
    round of 30 long reviews without levelling off (bench/load.py); with two it stays flat, and is no slower."""
    if sys.platform.startswith("linux") and "MALLOC_ARENA_MAX" not in os.environ:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # -8 is M_ARENA_MAX


try:  # on ZeroGPU Spaces every handler that runs the model runs on the lent GPU; a no-op elsewhere
    import spaces

    gpu = spaces.GPU
except ImportError:

    def gpu(function):
        return function
