"""Write longbert/data/imdb_test_sample.parquet: 300 IMDB test reviews, balanced, 60 of them the longest.

Usage: python scripts/make_imdb_sample.py ../shared/data/imdb/test.parquet
"""

import sys

import pandas as pd

from longbert.data import SAMPLE, balanced_sample

frame = pd.read_parquet(sys.argv[1])
frame["chars"] = frame["text"].str.len()
longest = pd.concat(g.nlargest(30, "chars") for _, g in frame.groupby("label"))
rest = balanced_sample(frame.drop(longest.index), 240, seed=0)
sample = pd.concat([longest, rest]).drop(columns="chars").sample(frac=1, random_state=0).reset_index(drop=True)
SAMPLE.parent.mkdir(parents=True, exist_ok=True)
sample.to_parquet(SAMPLE, index=False, compression="zstd")
print(f"{SAMPLE}: {len(sample)} reviews, {sample['label'].value_counts().to_dict()}")
