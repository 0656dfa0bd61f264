"""Write a synthetic multi-label long-document set from real IMDB reviews: DIR/{train,test}.parquet.

Each document joins 2-4 reviews of one split (blank lines between them), so documents run long
(the median is about 3 reviews, 900 tokens). Its labels are every part's sentiment ("positive",
"negative") and rating band ("rated 1-2", "rated 3-4", "rated 7-8", "rated 9-10"): a document with
a 2-star and a 9-star review is ["negative", "positive", "rated 1-2", "rated 9-10"]. The texts are
real; the documents and their label sets are made here, so numbers on it say how well a model reads
every part of a joined document, not how it does on any natural multi-label corpus.

Usage: python scripts/make_multilabel_imdb.py ../shared/data/imdb runs/imdb-multilabel --train 5000 --test 1000
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

BANDS = ((1, 2), (3, 4), (7, 8), (9, 10))


def labels_of(ratings: list[int]) -> list[str]:
    """Every part's sentiment and rating band, sorted."""
    names = {"positive" if r >= 7 else "negative" for r in ratings}
    names |= {f"rated {low}-{high}" for r in ratings for low, high in BANDS if low <= r <= high}
    return sorted(names)


def documents(reviews: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """n documents of 2-4 reviews each, drawn without replacement while reviews last."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(reviews))
    sizes = rng.integers(2, 5, n)
    if sizes.sum() > len(order):
        raise SystemExit(f"{n} documents need {sizes.sum()} reviews; the split has {len(order)}")
    rows, start = [], 0
    for size in sizes:
        parts = reviews.iloc[order[start : start + size]]
        start += size
        rows.append({
            "text": "\n\n".join(parts["text"]),
            "label": labels_of(parts["rating"].tolist()),
            "review_ids": parts["review_id"].tolist(),
        })  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("imdb", type=Path, help="directory of IMDB train.parquet and test.parquet (with rating)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", args.train), ("test", args.test)):
        frame = documents(pd.read_parquet(args.imdb / f"{split}.parquet"), n, args.seed)
        frame.to_parquet(args.out / f"{split}.parquet", index=False)
        counts = pd.Series([name for names in frame["label"] for name in names]).value_counts().to_dict()
        print(f"{args.out / split}.parquet: {len(frame)} documents; label counts {counts}")


if __name__ == "__main__":
    main()
