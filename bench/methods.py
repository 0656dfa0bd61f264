"""The three ways of scoring long texts that the benchmark compares; each returns probabilities [n_texts, n_classes].

All use 510-token chunks with stride 510 and keep every chunk, and pool the mean of the chunk
logits (BELT's pooling), so their answers must agree.
"""

from __future__ import annotations

import numpy as np
import torch

CHUNK = 510


def article_loop(model, tokenizer, texts: list[str], device: torch.device) -> np.ndarray:
    """The article's way: tokenize one text, pad each of its chunks to 512, one fp32 forward pass per text."""
    cls, sep, pad = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    out = []
    with torch.no_grad():
        for text in texts:
            ids = tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"] or []
            chunks = [ids[i : i + CHUNK] for i in range(0, max(len(ids), 1), CHUNK)]
            input_ids = torch.full((len(chunks), CHUNK + 2), pad)
            mask = torch.zeros((len(chunks), CHUNK + 2), dtype=torch.long)
            for row, chunk in enumerate(chunks):
                input_ids[row, : len(chunk) + 2] = torch.tensor([cls, *chunk, sep])
                mask[row, : len(chunk) + 2] = 1
            logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
            out.append(logits.float().mean(0).softmax(-1).cpu().numpy())
    return np.stack(out)


class _LogitsNetwork(torch.nn.Module):
    """BELT calls network(input_ids, attention_mask) -> logits; its own head is hard-coded to 768 wide."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def belt(model, tokenizer, texts: list[str], device: torch.device, batch_size: int = 16) -> np.ndarray:
    """BELT (belt-nlp 1.1.0): BertClassifierWithPooling.predict_scores on the same weights."""
    from belt_nlp.bert_classifier_with_pooling import BertClassifierWithPooling

    classifier = BertClassifierWithPooling(
        num_labels=model.config.num_labels,
        batch_size=batch_size,
        learning_rate=0.0,
        epochs=0,
        chunk_size=CHUNK,
        stride=CHUNK,
        minimal_chunk_length=1,
        pooling_strategy="mean",
        tokenizer=tokenizer,
        neural_network=_LogitsNetwork(model),
        device=str(device),
    )
    return classifier.predict_scores(texts).float().cpu().numpy()


def longbert(classifier, texts: list[str], batch_tokens: int | None = None, prefetch: bool = True) -> np.ndarray:
    """longbert: all texts' chunks sorted by length in token-budgeted batches (bf16 on CUDA)."""
    from longbert import Chunking

    predictions = classifier.predict(
        texts, Chunking(CHUNK, CHUNK, 1), "logit_mean", batch_tokens=batch_tokens, prefetch=prefetch
    )
    return np.array([p.probabilities for p in predictions])


def longbert_serial(classifier, texts: list[str], batch_tokens: int | None = None) -> np.ndarray:
    """longbert with each group tokenized only after the previous one is scored (no overlap), for comparison."""
    return longbert(classifier, texts, batch_tokens, prefetch=False)
