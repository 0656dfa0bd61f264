"""longbert: classify texts of any length with any Hugging Face BERT-family sequence model.

The pipeline has three public stages: chunk (a strategy cuts each encoded text into windows),
score (a Scorer runs the chunks through the model) and pool (the task type's activation and
pooling turn chunk outputs into one answer per text). LongTextClassifier composes them.
"""

from longbert.chunking import HEAD, HEAD_TAIL, TAIL, Chunking, Chunks, Sentences, Truncation, chunk, parse_strategy
from longbert.classifier import LongTextClassifier
from longbert.errors import LongbertError
from longbert.pooling import POOLINGS, ChunkResult, ChunkScores, Prediction, pool, predictions
from longbert.runtime import Runtime, runtime_for
from longbert.scoring import ModelScorer, Scorer
from longbert.settings import Settings
from longbert.tasks import (
    MULTI_LABEL,
    REGRESSION,
    SINGLE_LABEL,
    MultiLabel,
    Regression,
    SingleLabel,
    Task,
    register_task,
    task_for,
)

__all__ = [
    "HEAD",
    "HEAD_TAIL",
    "MULTI_LABEL",
    "POOLINGS",
    "REGRESSION",
    "SINGLE_LABEL",
    "TAIL",
    "ChunkResult",
    "ChunkScores",
    "Chunking",
    "Chunks",
    "LongTextClassifier",
    "LongbertError",
    "ModelScorer",
    "MultiLabel",
    "Prediction",
    "Regression",
    "Runtime",
    "Scorer",
    "Sentences",
    "Settings",
    "SingleLabel",
    "Task",
    "Truncation",
    "chunk",
    "parse_strategy",
    "pool",
    "predictions",
    "register_task",
    "runtime_for",
    "task_for",
]
