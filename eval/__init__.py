"""Evaluation harness: truncation against chunking with every pooling, on IMDB, side by side."""
