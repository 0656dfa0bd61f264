"""A model whose answer is known: each output's logit is the mean, over a chunk's tokens, of a weight per word.

It stands in for a trained classifier where a test must know which sentence should drive the answer
(longbert.evidence): 'great' pushes POSITIVE up, 'terrible' pushes it down, other words count 0."""

from __future__ import annotations

import torch
from transformers import BertConfig
from transformers.modeling_outputs import SequenceClassifierOutput


class KeywordModel(torch.nn.Module):
    """logits[:, c] = mean over real tokens of weights[token, c] (special tokens included, padding not)."""

    def __init__(self, weights: torch.Tensor, config: BertConfig):
        super().__init__()
        self.weights = torch.nn.Parameter(weights.float(), requires_grad=False)
        self.config = config
        self.rows = 0  # chunks scored, counted by every forward pass

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_) -> SequenceClassifierOutput:
        self.rows += len(input_ids)
        mask = attention_mask.float().unsqueeze(-1)
        logits = (self.weights[input_ids] * mask).sum(1) / mask.sum(1)
        return SequenceClassifierOutput(logits=logits)


def keyword_model(tokenizer, words: dict[str, list[float]], labels: list[str], problem_type: str) -> KeywordModel:
    """A KeywordModel over the tokenizer's vocabulary: words maps a word (one token) to its weight per output."""
    weights = torch.zeros(len(tokenizer), len(labels))
    for word, weight in words.items():
        weights[tokenizer.convert_tokens_to_ids(word)] = torch.tensor(weight)
    config = BertConfig(vocab_size=len(tokenizer), max_position_embeddings=512, num_labels=len(labels),
                        id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)},
                        problem_type=problem_type)  # fmt: skip
    return KeywordModel(weights, config)
