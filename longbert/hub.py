"""What a Hub model must be before any of its weights are downloaded (the app's models from the Hub): it exists and
is open, its weights are safetensors (never a pickle) within a size, and it is a BERT-family encoder with a
sequence-classification head, which the chunking and the tokenizer's special tokens serve. Every refusal is one line.
"""

from __future__ import annotations

from longbert.errors import LongbertError, first_line

# Encoders whose tokenizers add [CLS]/[SEP]-style special tokens around one segment, as the chunks need.
ENCODERS = frozenset(
    {"bert", "distilbert", "roberta", "xlm-roberta", "camembert", "albert", "electra", "deberta", "deberta-v2",
     "mpnet", "modernbert", "megatron-bert", "nomic_bert", "ernie", "xlm-roberta-xl", "roformer", "mobilebert"}
)  # fmt: skip
PICKLES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def check_hub_model(repo_id: str, max_mb: float) -> float:
    """The size in MB of an open Hub model's safetensors weights, from the Hub's file listing (nothing downloaded),
    or one LongbertError line: no such model (or private), gated, pickle-only weights, too large, not a
    BERT-family encoder, or no sequence-classification head."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        info = HfApi().model_info(repo_id, files_metadata=True)
    except GatedRepoError:
        raise LongbertError(f"{repo_id} is gated on the Hub: this server loads open models only") from None
    except RepositoryNotFoundError:
        raise LongbertError(f"there is no model {repo_id!r} on the Hub (or it is private)") from None
    except Exception as error:  # the Hub client raises many types when the Hub can't be reached
        raise LongbertError(f"cannot ask the Hub about {repo_id}: {first_line(error)}") from error
    if info.gated or info.private:
        raise LongbertError(f"{repo_id} is {'gated' if info.gated else 'private'} on the Hub: this server loads open "
                            "models only")  # fmt: skip
    files = {s.rfilename: s.size or 0 for s in info.siblings or []}
    weights = {name: size for name, size in files.items() if name.endswith(".safetensors")}
    if not weights:
        pickles = sorted(name for name in files if name.endswith(PICKLES))
        what = f"only pickle weights ({', '.join(pickles[:2])})" if pickles else "no weights"
        raise LongbertError(f"{repo_id} has {what}: this server loads safetensors weights only")
    size_mb = sum(weights.values()) / 2**20
    if size_mb > max_mb:
        raise LongbertError(f"{repo_id}'s weights are {size_mb:,.1f} MB; the limit here is {max_mb:g} MB")
    config = info.config or {}
    kind = config.get("model_type")
    if kind not in ENCODERS:
        raise LongbertError(f"{repo_id} is a {kind or 'model of unknown type'}: this server reads BERT-family "
                            f"encoders ({', '.join(sorted(ENCODERS)[:6])}, ...)")  # fmt: skip
    heads = config.get("architectures") or []
    if heads and not any(name.endswith("ForSequenceClassification") for name in heads):
        raise LongbertError(f"{repo_id} has no sequence-classification head ({', '.join(heads)}): pick a model "
                            "fine-tuned for classification")  # fmt: skip
    return size_mb
