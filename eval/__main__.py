"""python -m eval: compare truncation and chunking with every pooling on IMDB; resumable; writes a results directory.

Any task type: single-label, multi-label (a list of labels per row) or regression (a number per row).
Example: python -m eval --model MODEL --data ../shared/data/imdb --limit 500 --out runs/sample500
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from longbert import POOLINGS, LongbertError
from longbert.cli import OneLineErrorParser

DEFAULT_GRID = "510/510/1,510/255/1"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="python -m eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="model directory or Hub id (default: $LONGBERT_MODEL, else the bundled model)")
    parser.add_argument("--data", help="directory of {split}.parquet, a parquet/CSV/JSONL file, 'sample', or the Hub")
    parser.add_argument("--split", default="test", help="train or test (default: test)")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label", help="labels: class ids, lists of labels, or numbers")
    parser.add_argument("--limit", type=int, help="a seeded, balanced random sample of this many reviews")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument(
        "--keep-lengths", action="store_true", help="the --limit sample keeps the split's label x length-decile mix"
    )
    parser.add_argument(
        "--grid",
        default=DEFAULT_GRID,
        help=f"chunkings C/S/M, comma-separated, or 'space' (the dashboard's settings space; default {DEFAULT_GRID})",
    )
    parser.add_argument("--time-reviews", type=int, help="time each strategy alone on this many reviews (its cost)")
    parser.add_argument("--poolings", default=",".join(POOLINGS), help="poolings, comma-separated (default: all)")
    parser.add_argument("--truncations", default="head,tail,head+tail", help="truncation baselines besides head")
    parser.add_argument("--out", required=True, help="results directory (a rerun resumes from its cache)")
    parser.add_argument("--batch-tokens", type=int)
    parser.add_argument("--device")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:
        return int(done.code or 0)
    try:
        from eval.run import evaluate, parse_grid, settings_space
        from longbert import LongTextClassifier
        from longbert.bundled import default_model
        from longbert.data import balanced_sample, fit_labels, length_sample, load_imdb
        from longbert.pooling import check_pooling

        if args.limit is not None and args.limit < 1:
            raise LongbertError(f"--limit must be at least 1, got {args.limit}")
        if Path(args.out).exists() and not Path(args.out).is_dir():
            raise LongbertError(f"--out {args.out} is a file; it must be a results directory")
        chunkings = settings_space() if args.grid == "space" else parse_grid(args.grid)
        poolings = [check_pooling(p) for p in args.poolings.split(",") if p]
        truncations = [t for t in args.truncations.split(",") if t]
        model = args.model or default_model()
        classifier = LongTextClassifier.from_pretrained(model, device=args.device, precision=args.precision)
        frame = fit_labels(load_imdb(args.split, args.data, args.text_column, args.label_column), classifier.task,
                           args.label_column)  # fmt: skip
        sample = length_sample if args.keep_lengths else balanced_sample
        frame = sample(frame, args.limit, args.seed) if args.limit is not None else frame
        meta = {"data": args.data or "stanfordnlp/imdb", "split": args.split, "limit": args.limit, "seed": args.seed}
        meta["sample"] = ("length-keeping" if args.keep_lengths else "balanced") if args.limit else None
        meta["command"] = "python -m eval " + shlex.join(sys.argv[1:] if argv is None else argv)
        summary = evaluate(
            classifier,
            frame,
            model=model,
            chunkings=chunkings,
            poolings=poolings,
            truncations=truncations,
            out_dir=args.out,
            batch_tokens=args.batch_tokens,
            progress=not args.quiet,
            meta=meta,
            time_reviews=args.time_reviews,
        )
    except LongbertError as error:
        print(f"python -m eval: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"python -m eval: stopped; the chunks scored so far are kept in {args.out}/cache: rerun to resume",
              file=sys.stderr)  # fmt: skip
        return 130
    metric = summary.metric
    for row in summary.rows:
        versus = row.get("accuracy_diff", row.get("mae_diff"))
        print(f"{row['setting']:<32} {metric} {row[metric]:.4f}  vs head {versus:+.4f}")
    meta = summary.meta
    print(f"{meta['reviews']} reviews in {meta['seconds']:.1f} s ({meta['reviews_per_s']:.1f}/s) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
