"""The `longbert` command: `predict` classifies texts of any length (JSON lines out); `train` fine-tunes.

Imports only the core (torch, transformers, tokenizers) until a command needs more: `predict`
runs on a core install; `train` needs the train extra.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from longbert import inputs
from longbert.errors import LongbertError, Unreachable

PROGRESS_MIN_TEXTS = 50
PREDICT_EXAMPLES = """examples (the bundled model unless --model or $LONGBERT_MODEL names one):
  longbert predict examples/review.txt
  longbert predict examples/reviews.jsonl --pooling max
  longbert predict examples/review.txt --explain
  cat examples/review.txt | longbert predict --strategy head+tail
  echo '{"text": "A long review ..."}' | longbert predict --chunk-size 256 --stride 128
"""
# `longbert train` flags that set a TrainConfig field: flag -> (field, type, help); defaults come from TrainConfig.
TRAIN_FLAGS = {
    "--mode": ("mode", str, "pooled (all chunks pooled in the loss) or head (truncation)"),
    "--task": ("task", str, "single_label, multi_label or regression (default: from the label column)"),
    "--threshold": ("threshold", float, "multi-label decision threshold saved with the model"),
    "--pooling": ("pooling", str, "pooling inside the loss"),
    "--max-chunks": ("max_chunks", int, "use at most the first N chunks of a text in training"),
    "--epochs": ("epochs", int, ""),
    "--lr": ("learning_rate", float, ""),
    "--weight-decay": ("weight_decay", float, ""),
    "--warmup-ratio": ("warmup_ratio", float, "fraction of the steps with a rising learning rate"),
    "--batch-texts": ("batch_texts", int, "texts per optimizer step (all processes)"),
    "--batch-tokens": ("batch_tokens", int, "padded tokens per forward pass, bounding memory (default: by device)"),
    "--max-grad-norm": ("max_grad_norm", float, ""),
    "--seed": ("seed", int, ""),
    "--validation-fraction": ("validation_fraction", float, ""),
    "--save-dtype": ("save_dtype", str, "float32, float16 or bfloat16"),
    "--precision": ("precision", str, "auto (bf16 on CUDA and native-bf16 CPUs), bf16 or fp32"),
}


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse with a one-line error and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def read_texts(paths: Sequence[str], stdin: str = "auto", text_column: str = "text") -> list[str]:
    """Texts from files or directories (longbert.inputs reads every format), else from stdin (JSON lines or one
    plain text); all read and checked before any is classified, so bad input stops the run before its first
    output line."""
    if not paths:
        return inputs.read_stdin(sys.stdin.buffer.read(), stdin, text_column)
    return inputs.read_texts(paths, text_column)


def _add_chunking_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model directory or Hub id (default: $LONGBERT_MODEL, else the bundled model)")
    parser.add_argument("--chunk-size", type=int, help="content tokens per chunk (default: the model's setting, 510)")
    parser.add_argument("--stride", type=int, help="tokens between chunk starts (default: chunk size, no overlap)")
    parser.add_argument("--minimal-chunk-size", type=int, help="drop a last chunk shorter than this (default 1)")
    parser.add_argument(
        "--strategy", help="instead of the chunk flags: head, tail, head+tail, 'head N', 'C/S/M', 'sentences [C/S/M]'"
    )
    parser.add_argument("--pooling", help="mean, max, logit_mean, median or weighted_mean (default: the model's, mean)")
    parser.add_argument("--threshold", type=float, help="multi-label models: labels at or above it (default: 0.5)")
    parser.add_argument("--batch-tokens", type=int, help="padded tokens per forward pass (default: 2048 on CPU)")
    parser.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    parser.add_argument(
        "--precision",
        default="auto",
        help="auto (bf16 on CUDA; on CPUs with native bf16 OpenVINO where installed, else bf16 autocast), fp32, "
        "bf16, fp16, int8 (CPU, ONNX Runtime) or openvino (CPU)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="longbert", description="Classify texts of any length with BERT-family models.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineErrorParser)
    predict = commands.add_parser(
        "predict",
        help="classify texts; one JSON line per text on stdout, in input order",
        epilog=PREDICT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    predict.add_argument("files", nargs="*", help=".txt (one text), .jsonl, .csv or .parquet files, or directories of "
                         "them; stdin if none")  # fmt: skip
    predict.add_argument(
        "--stdin",
        default="auto",
        choices=inputs.STDIN_MODES,
        help="stdin is JSON lines (jsonl), one plain text (text), or auto: JSON lines if its first non-blank "
        "line is a JSON object (default)",
    )
    _add_chunking_flags(predict)
    predict.add_argument("--quiet", action="store_true", help="no progress bar")
    predict.add_argument("--explain", action="store_true", help="add each sentence's span and effect on the answer "
                         "(\"evidence\"): sentence occlusion, about one chunk pass per sentence")  # fmt: skip
    predict.add_argument("--text-column", default="text", help="the field or column of texts (default text)")
    collection = predict.add_argument_group(
        "collections", "INPUT (a .txt, JSON lines, CSV or parquet file, or a directory of them) to a directory of "
        "parquet parts; a rerun of the same command resumes"
    )  # fmt: skip
    collection.add_argument("--output", help="write parquet parts here instead of JSON lines to stdout")
    collection.add_argument("--id-column", help="the column of document ids (default: the row number)")
    collection.add_argument("--chunks", action="store_true", help="add every chunk's outputs and character span")
    collection.add_argument("--part-rows", type=int, default=2_000, help="documents per part (default 2,000)")
    collection.add_argument("--ray", metavar="ADDRESS", help="score on Ray: 'local' starts a fresh cluster of its own "
                            "(ended with the run); 'auto', HOST:PORT or ray://HOST:PORT joins one")  # fmt: skip
    collection.add_argument("--ray-timeout", type=float, default=60.0, metavar="SECONDS",
                            help="give up joining a Ray cluster after this long (default 60)")  # fmt: skip
    collection.add_argument("--actors", type=int, default=1, help="Ray actors, each with the model loaded (default 1)")
    collection.add_argument("--gpus-per-actor", type=float, help="default 1 where the cluster has GPUs, else 0")
    collection.add_argument("--cpus-per-actor", type=float, help="default 1 beside a GPU, else an equal share")

    train = commands.add_parser("train", help="fine-tune a model on labelled long texts (runs under accelerate launch)")
    train.add_argument("--model", required=True, help="base model directory or Hub id")
    train.add_argument("--data", default="imdb", help="'imdb' (Hub or $LONGBERT_IMDB), an IMDB-style directory, "
                       "or a .parquet/.csv/.jsonl file")  # fmt: skip
    train.add_argument("--text-column", default="text")
    train.add_argument("--label-column", default="label")
    train.add_argument("--labels", help="label names in class order, comma-separated (default NEGATIVE,POSITIVE)")
    train.add_argument("--limit", type=int, help="train on a seeded, balanced sample of this many texts")
    train.add_argument("--out", required=True, help="where to save the best checkpoint (a new or empty directory)")
    train.add_argument("--overwrite", action="store_true", help="replace the model already in --out")
    from longbert.training import TrainConfig

    defaults = TrainConfig()
    train.add_argument("--chunk-size", type=int, default=defaults.chunking.chunk_size,
                       help=f"content tokens per chunk (default {defaults.chunking.chunk_size})")  # fmt: skip
    train.add_argument("--stride", type=int, help="tokens between chunk starts (default: chunk size, no overlap)")
    train.add_argument("--minimal-chunk-size", type=int, default=defaults.chunking.minimal_chunk_size)
    for flag, (field, kind, text) in TRAIN_FLAGS.items():
        default = getattr(defaults, field)
        shown = "" if default is None else f" (default {default})"
        train.add_argument(flag, dest=field, type=kind, default=default, help=f"{text}{shown}".lstrip() or None)
    train.add_argument("--device", help="auto or cpu")
    train.add_argument("--quiet", action="store_true")
    return parser


def strategy_from_args(args: argparse.Namespace, settings):
    """The chunking strategy the flags ask for, filling gaps from the model's saved settings."""
    from longbert.chunking import Chunking, parse_strategy

    chunk_flags = (args.chunk_size, args.stride, args.minimal_chunk_size)
    if args.strategy is not None:
        if any(v is not None for v in chunk_flags):
            raise LongbertError("give either --strategy or the chunk flags, not both")
        return parse_strategy(args.strategy)
    base = settings.strategy
    if all(v is None for v in chunk_flags):
        return base
    if not isinstance(base, Chunking):  # a model saved with truncation: the flags make a chunking
        base = Chunking()
    chunk_size = base.chunk_size if args.chunk_size is None else args.chunk_size
    stride = args.stride if args.stride is not None else (base.stride if args.chunk_size is None else chunk_size)
    minimal = args.minimal_chunk_size
    if minimal is None:
        minimal = base.minimal_chunk_size if args.chunk_size is None else min(base.minimal_chunk_size, chunk_size)
    return type(base)(chunk_size, stride, minimal)


def load_classifier(args: argparse.Namespace):
    """Validate the cheap flags, then load the model named by --model (or the default)."""
    from longbert.classifier import LongTextClassifier
    from longbert.pooling import check_pooling
    from longbert.settings import Settings
    from longbert.tasks import check_threshold

    strategy_from_args(args, Settings())
    if args.pooling is not None:
        check_pooling(args.pooling)
    if args.threshold is not None:
        check_threshold(args.threshold)
    if args.batch_tokens is not None and args.batch_tokens < 1:
        raise LongbertError(f"--batch-tokens must be a positive integer, got {args.batch_tokens}")
    classifier = LongTextClassifier.from_pretrained(args.model, device=args.device, precision=args.precision)
    if args.threshold is not None:
        classifier.task = classifier.task.with_threshold(args.threshold)
    return classifier


def run_collection(args: argparse.Namespace) -> None:
    """predict --output: a collection in, parquet parts out, in this process or on Ray actors."""
    from longbert.collection import Job, local_parts, score_collection

    if len(args.files) != 1:
        raise LongbertError("--output takes one INPUT: a .txt, JSON lines, CSV or parquet file, or a directory of them")
    if args.part_rows < 1:
        raise LongbertError(f"--part-rows must be a positive integer, got {args.part_rows}")
    if not args.ray_timeout > 0:
        raise LongbertError(f"--ray-timeout must be a positive number of seconds, got {args.ray_timeout:g}")
    if args.actors < 1:
        raise LongbertError(f"--actors must be a positive integer, got {args.actors}")
    # Loaded here on Ray too (on the CPU there), so a bad model or setting is one line before any actor starts.
    classifier = load_classifier(argparse.Namespace(**{**vars(args), "device": "cpu"}) if args.ray else args)
    strategy = strategy_from_args(args, classifier.settings)
    strategy.validate(classifier.max_chunk_size)
    model = args.model or _default_model()
    pooling = args.pooling or classifier.settings.pooling
    from longbert.digests import input_names, weights_digest
    from longbert.inputs import input_files

    identity = input_names(input_files(args.files[0]))
    job = Job(model, strategy.name, pooling, args.text_column, args.id_column, args.chunks, args.part_rows, identity,
              weights_digest(classifier.model), args.explain)  # fmt: skip
    if args.ray:
        from longbert.distributed import actor_parts, cluster

        predictor = {"model": model, "strategy": strategy.name, "pooling": pooling, "text_column": args.text_column,
                     "chunks": args.chunks, "device": args.device, "precision": args.precision,
                     "explain": args.explain}  # fmt: skip
        with cluster(args.ray, args.ray_timeout):
            map_parts = actor_parts(args.actors, args.gpus_per_actor, args.cpus_per_actor, **predictor)
            done = score_collection(args.files[0], args.output, job, map_parts, progress=not args.quiet)
    else:
        map_parts = local_parts(classifier, job, strategy, pooling)
        done = score_collection(args.files[0], args.output, job, map_parts, progress=not args.quiet)
    print(json.dumps({"output": args.output, **done}), file=sys.stderr)


def _default_model() -> str:
    from longbert.bundled import default_model

    return default_model()


def run_predict(args: argparse.Namespace) -> None:
    if args.output is not None:
        return run_collection(args)
    texts = read_texts(args.files, args.stdin, args.text_column)
    classifier = load_classifier(args)
    strategy = strategy_from_args(args, classifier.settings)
    progress = not args.quiet and len(texts) >= PROGRESS_MIN_TEXTS
    if args.explain:
        from longbert.evidence import iter_explain

        predictions = iter_explain(classifier, texts, strategy, args.pooling, batch_tokens=args.batch_tokens,
                                   progress=progress)  # fmt: skip
    else:
        predictions = classifier.iter_predict(texts, strategy, args.pooling, batch_tokens=args.batch_tokens,
                                              progress=progress)  # fmt: skip
    engine = {"engine": classifier.engine}  # which engine answered, and in what precision
    for prediction in predictions:
        sys.stdout.write(json.dumps(prediction.to_dict() | engine) + "\n")
    sys.stdout.flush()


def describe_data(source: str | None) -> str:
    """Where training texts came from, in words, for training.json."""
    from longbert.data import imdb_source

    source = imdb_source(source)
    if source == "sample":
        return "the sample of IMDB test reviews shipped with longbert"
    if Path(source).is_file():
        return str(source)
    return f"{source} (train split)"


def train_config(args: argparse.Namespace):
    """The TrainConfig that `longbert train`'s flags describe, validated (a bad value is one line)."""
    from longbert.chunking import Chunking
    from longbert.training import TrainConfig

    stride = args.stride if args.stride is not None else args.chunk_size
    config = TrainConfig(
        chunking=Chunking(args.chunk_size, stride, args.minimal_chunk_size),
        **{field: getattr(args, field) for field, _, _ in TRAIN_FLAGS.values()},
    )
    config.validate()
    return config


def run_train(args: argparse.Namespace) -> None:
    from longbert.data import balanced_sample, load_imdb
    from longbert.training import check_out_dir, train

    config = train_config(args)
    check_out_dir(args.out, args.overwrite)  # before the data is read or anything is trained
    source = None if args.data == "imdb" else args.data
    frame = load_imdb("train", source, args.text_column, args.label_column)
    if source == "sample":
        note = "the shipped sample holds IMDB test reviews: do not evaluate this model on it"
        print(f"longbert train: note: {note}", file=sys.stderr)
    if args.limit:
        frame = balanced_sample(frame, args.limit, args.seed)
    labels = args.labels.split(",") if args.labels else None
    about = {"command": "longbert " + shlex.join(args.argv), "data": describe_data(source)}
    result = train(
        args.model, frame, args.out, config, labels=labels, device=args.device, progress=not args.quiet, about=about,
        overwrite=args.overwrite,
    )  # fmt: skip
    for record in result["history"]:
        print(json.dumps(record), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `longbert` command; exit code 2 with a one-line message on bad input."""
    try:
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)
    except SystemExit as done:  # argparse's --help and its one-line usage errors
        return int(done.code or 0)
    try:
        {"predict": run_predict, "train": run_train}[args.command](args)
    except LongbertError as error:
        print(f"longbert {args.command}: error: {error}", file=sys.stderr)
        if isinstance(error, Unreachable):  # Ray may still be retrying in a thread of its own: exit at once
            sys.stderr.flush()
            os._exit(2)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except OSError as error:  # a full disk or a read-only output: one line (what was written whole stays)
        where = f" {error.filename}" if error.filename else ""
        print(f"longbert {args.command}: error: cannot read or write{where}: {error.strerror or error}",
              file=sys.stderr)  # fmt: skip
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
