"""longbert: classify texts of any length with any Hugging Face BERT-family sequence classifier.

The text's whole token sequence is cut into chunks, every chunk is scored, and the chunk
probabilities are pooled into one answer (the method of MIM Solutions' BELT, done for any model).
"""

from longbert.chunking import HEAD, HEAD_TAIL, TAIL, Chunking, Truncation, parse_strategy
from longbert.classifier import ChunkResult, ChunkScores, LongTextClassifier, Prediction
from longbert.errors import LongbertError
from longbert.pooling import POOLINGS, pool
from longbert.settings import Settings

__all__ = [
    "HEAD",
    "HEAD_TAIL",
    "POOLINGS",
    "TAIL",
    "ChunkResult",
    "ChunkScores",
    "Chunking",
    "LongTextClassifier",
    "LongbertError",
    "Prediction",
    "Settings",
    "Truncation",
    "parse_strategy",
    "pool",
]
