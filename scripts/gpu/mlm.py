"""Within-task pretraining (#17): continue masked-language-model training of a base encoder on IMDB *training* texts.

    python scripts/gpu/mlm.py --base BASE --data DIR --out OUT/mlm [--epochs 3 --lr 5e-5 --limit N]

Reviews are tokenized as longbert reads them (markup blanked), cut into whole-review chunks of 510 tokens
(the chunk stage, 510/510/1), and 15% of each chunk's tokens masked afresh every epoch (transformers'
DataCollatorForLanguageModeling). A seeded 5% of the training reviews is held out; the checkpoint with
the lowest held-out MLM loss is kept (never the test texts). OUT gets the encoder (fp32, for `longbert train
--model OUT`), its tokenizer and mlm.json: the recipe, steps and the validation history. Runs wherever longbert
imports (from the repository root: PYTHONPATH=. where longbert is not installed).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from longbert import Chunking, chunk
from longbert.data import load_imdb
from longbert.encoding import backend_tokenizer, encode_texts, special_tokens
from longbert.runtime import describe_device, resolve_device, software_versions


def chunk_ids(tokenizer, texts: list[str], size: int) -> list[list[int]]:
    """Whole-review chunks of at most `size` content tokens, with the tokenizer's special tokens around each."""
    backend = backend_tokenizer(tokenizer)
    special = special_tokens(backend, tokenizer.pad_token_id)
    chunks = chunk(encode_texts(backend, texts, clean_markup=True, spans=False), Chunking(size, size, 1), size)
    return [[*special.prefix, *ids.tolist(), *special.suffix] for ids in chunks.ids]


def batches(items: list[list[int]], batch_size: int, rng: random.Random | None) -> list[list[list[int]]]:
    """Batches of chunks: shuffled for training (rng), in order for validation."""
    order = list(range(len(items)))
    if rng is not None:
        rng.shuffle(order)
    return [[items[i] for i in order[s : s + batch_size]] for s in range(0, len(order), batch_size)]


def mlm_loss(model, collator, batch: list[list[int]], device: torch.device, dtype: torch.dtype | None) -> torch.Tensor:
    inputs = collator([{"input_ids": ids} for ids in batch])
    inputs = {k: v.to(device) for k, v in inputs.items()}
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        return model(**inputs).loss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="base encoder: a directory or Hub id")
    parser.add_argument("--data", default="imdb", help="a directory of train.parquet, 'sample', or the Hub")
    parser.add_argument("--out", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=32, help="chunks per step")
    parser.add_argument("--chunk-size", type=int, default=510)
    parser.add_argument("--mask", type=float, default=0.15, help="share of tokens masked")
    parser.add_argument("--limit", type=int, help="use the first N training reviews (a dry run)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from transformers import AutoModelForMaskedLM, AutoTokenizer, DataCollatorForLanguageModeling
    from transformers.optimization import get_linear_schedule_with_warmup

    torch.manual_seed(args.seed)
    device = resolve_device()
    dtype = torch.bfloat16 if device.type == "cuda" else None
    tokenizer = AutoTokenizer.from_pretrained(args.base)
    model = AutoModelForMaskedLM.from_pretrained(args.base, dtype=torch.float32).to(device)
    frame = load_imdb("train", args.data)  # the training split only: the test texts are never seen
    texts = frame["text"].tolist()[: args.limit] if args.limit else frame["text"].tolist()
    rng = random.Random(args.seed)
    held = set(rng.sample(range(len(texts)), max(1, len(texts) // 20)))
    train = chunk_ids(tokenizer, [t for i, t in enumerate(texts) if i not in held], args.chunk_size)
    valid = chunk_ids(tokenizer, [t for i, t in enumerate(texts) if i in held], args.chunk_size)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=args.mask, pad_to_multiple_of=8)
    steps = args.epochs * math.ceil(len(train) / args.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.06 * steps), steps)
    print(f"{len(train)} training chunks, {len(valid)} held out, {steps} steps on {describe_device(device)}")

    def validate() -> float:
        model.eval()
        torch.manual_seed(args.seed)  # the same masks every time, so losses compare
        with torch.no_grad():
            losses = [mlm_loss(model, collator, b, device, dtype).item() for b in batches(valid, 64, None)]
        model.train()
        return float(np.mean(losses))

    out = Path(args.out)
    history = [{"epoch": 0, "step": 0, "validation_mlm_loss": validate()}]
    best, step, start = history[0]["validation_mlm_loss"], 0, time.perf_counter()
    print(json.dumps(history[-1]), flush=True)
    model.train()
    for epoch in range(1, args.epochs + 1):
        for batch in batches(train, args.batch_size, rng):
            loss = mlm_loss(model, collator, batch, device, dtype)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
        history.append({"epoch": epoch, "step": step, "train_mlm_loss": loss.item(), "validation_mlm_loss": validate(),
                        "seconds": round(time.perf_counter() - start, 1)})  # fmt: skip
        print(json.dumps(history[-1]), flush=True)
        if history[-1]["validation_mlm_loss"] < best:
            best = history[-1]["validation_mlm_loss"]
            model.save_pretrained(out)
            tokenizer.save_pretrained(out)
    if not (out / "config.json").exists():  # no epoch beat the base: keep the base, say so
        model = AutoModelForMaskedLM.from_pretrained(args.base, dtype=torch.float32)
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    record = {"base": args.base, "data": args.data, "split": "train", "held_out_reviews": len(held),
              "train_chunks": len(train), "validation_chunks": len(valid), "chunking": f"{args.chunk_size}/"
              f"{args.chunk_size}/1", "mask": args.mask, "epochs": args.epochs, "lr": args.lr,
              "batch_size": args.batch_size, "steps": step, "seed": args.seed, "best_validation_mlm_loss": best,
              "history": history, "device": describe_device(device), "versions": software_versions(),
              "command": "python scripts/gpu/mlm.py " + " ".join(sys.argv[1:] if argv is None else argv)}  # fmt: skip
    (out / "mlm.json").write_text(json.dumps(record, indent=1))
    print("mlm done", json.dumps({"best_validation_mlm_loss": best, "steps": step}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
