"""Fine-tune a sequence classifier on whole long texts: every chunk of a text pooled inside the loss.

Memory is bounded by a token budget per forward pass. When a step's chunks exceed one pass, the
step runs twice (gradient caching): first without gradients to get every chunk's logits and the
pooled loss's gradient with respect to them, then again pass by pass with the same dropout masks,
back-propagating those gradients. The result equals one big pass, for any text length.
Runs data-parallel under `accelerate launch`; saves safetensors, tokenizer and longbert.json.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from longbert.chunking import Chunking, Strategy, Truncation, check_positive
from longbert.classifier import LongTextClassifier, window_ids
from longbert.devices import describe_device, resolve_device, software_versions
from longbert.errors import LongbertError
from longbert.loading import load_pretrained, quiet_transformers
from longbert.pooling import check_pooling, pool
from longbert.scoring import collate, default_pad_multiple, padded_width, token_budget_batches
from longbert.settings import Settings, save_settings

MODES = ("pooled", "head")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; saved as training.json beside the model."""

    mode: str = "pooled"
    pooling: str = "mean"
    chunking: Chunking = field(default_factory=Chunking)
    max_chunks: int | None = None
    epochs: int = 2
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    batch_texts: int = 16
    batch_tokens: int | None = None
    max_grad_norm: float = 1.0
    seed: int = 0
    validation_fraction: float = 0.05
    clean_markup: bool = True
    save_dtype: str = "float32"
    precision: str = "auto"

    def validate(self) -> None:
        if self.mode not in MODES:
            raise LongbertError(f"unknown training mode {self.mode!r}: use pooled or head")
        check_pooling(self.pooling)
        self.chunking.validate()
        check_positive("epochs", self.epochs)
        check_positive("batch_texts", self.batch_texts)
        for name in ("max_chunks", "batch_tokens"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name))
        if not self.learning_rate > 0:
            raise LongbertError(f"learning_rate must be positive, got {self.learning_rate}")
        if not 0 <= self.validation_fraction < 1:
            raise LongbertError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")
        if self.save_dtype not in ("float32", "float16", "bfloat16"):
            raise LongbertError(f"save_dtype must be float32, float16 or bfloat16, got {self.save_dtype!r}")

    @property
    def settings(self) -> Settings:
        """The long-text settings the model is trained with and saved with (longbert.json)."""
        return Settings(self.chunking, self.pooling, self.clean_markup)

    @property
    def strategy(self) -> Strategy:
        """What a text is cut into for training: all chunks (pooled) or the first chunk (head)."""
        if self.mode == "head":
            return Truncation(self.chunking.chunk_size, 0)
        return self.chunking


def split_validation(frame: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified random split of labelled texts into (train, validation)."""
    if fraction == 0:
        return frame.reset_index(drop=True), frame.iloc[:0]
    validation = frame.groupby("label", group_keys=False).sample(frac=fraction, random_state=seed)
    return frame.drop(validation.index).reset_index(drop=True), validation.reset_index(drop=True)


def pooled_loss(logits, counts, labels, pooling, lengths) -> torch.Tensor:
    """Mean negative log-likelihood of each text's pooled probability of its label."""
    probs = pool(logits, counts, pooling, lengths)
    return -probs.gather(1, labels[:, None]).clamp_min(1e-12).log().mean()


def _forward(model, chunks, special, device):
    ids, mask = collate(chunks, special, pad_multiple=default_pad_multiple(device))
    return model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()


def accumulate_gradients(model, chunks, counts, labels, config, special, device) -> float:
    """Back-propagate the pooled loss of a few texts' chunks into model's gradients; returns the loss."""
    lengths = torch.tensor([len(c) for c in chunks], dtype=torch.float32, device=device)
    budget = config.batch_tokens or (16_384 if device.type == "cuda" else 4096)
    multiple = default_pad_multiple(device)  # the widths _forward pads to, so the budget counts real passes
    widths = [padded_width(len(c) + special.count, pad_multiple=multiple) for c in chunks]
    passes = list(token_budget_batches(widths, budget))
    if len(passes) == 1:
        logits = _forward(model, chunks, special, device)
        loss = pooled_loss(logits, counts, labels, config.pooling, lengths)
        loss.backward()
        return loss.item()
    states, parts = [], []
    with torch.no_grad():
        for index in passes:
            states.append(_rng_state(device))
            parts.append(_forward(model, [chunks[i] for i in index], special, device))
    logits = torch.empty((len(chunks), parts[0].shape[1]), device=device)
    for index, part in zip(passes, parts):
        logits[torch.from_numpy(index).to(device)] = part
    logits.requires_grad_(True)
    loss = pooled_loss(logits, counts, labels, config.pooling, lengths)
    loss.backward()
    for index, state in zip(passes, states):
        _set_rng_state(device, state)
        part = _forward(model, [chunks[i] for i in index], special, device)
        part.backward(logits.grad[torch.from_numpy(index).to(device)])
    return loss.item()


def average_gradients(model, world: int) -> None:
    """Average gradients over data-parallel processes in one all-reduce.

    Done by hand rather than by DistributedDataParallel: processes run different numbers of forward
    passes per step (their texts differ in length), which DDP's per-forward collectives cannot allow.
    """
    if world == 1:
        return
    parameters = [p for p in model.parameters() if p.requires_grad]
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in parameters])
    torch.distributed.all_reduce(flat)
    flat /= world
    offset = 0
    for p in parameters:
        p.grad = flat[offset : offset + p.numel()].view_as(p).clone()
        offset += p.numel()


def _versions() -> dict:
    import accelerate

    return software_versions() | {"accelerate": accelerate.__version__}


def _rng_state(device):
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def _set_rng_state(device, state) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def _optimizer(model, config: TrainConfig) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim < 2 or "norm" in name.lower() else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.learning_rate)


def validation_scores(classifier: LongTextClassifier, frame: pd.DataFrame, config: TrainConfig) -> dict:
    """Accuracy and log loss on labelled texts, chunked and pooled as config trains (used by soups too)."""
    if frame.empty:
        return {}
    predictions = classifier.predict(frame["text"].tolist(), config.strategy, config.pooling)
    probs = np.array([p.probabilities if p.probabilities else [math.nan] * len(classifier.labels) for p in predictions])
    labels = frame["label"].to_numpy()
    picked = np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1)
    return {"accuracy": float((probs.argmax(1) == labels).mean()), "loss": float(-np.log(picked).mean())}


def _save(model, tokenizer, config: TrainConfig, out: Path, history: list[dict], about: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    dtype = getattr(torch, config.save_dtype)
    state = {
        k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype) for k, v in model.state_dict().items()
    }
    with quiet_transformers():  # no "Writing model shards" bar for one file at every best epoch
        model.save_pretrained(out, state_dict=state, safe_serialization=True)
    tokenizer.save_pretrained(out)
    save_settings(config.settings, out)
    _write_record(out, about, config, history)


def _write_record(out: Path, about: dict, config: TrainConfig, history: list[dict], **run) -> None:
    """training.json: how the run was started, its settings and history, and (at the end) how it ran."""
    record = {**about, "config": asdict(config), "history": history, **run}
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n")


def train(
    model_name: str,
    frame: pd.DataFrame,
    out_dir: str | Path,
    config: TrainConfig = TrainConfig(),
    *,
    labels: list[str] | None = None,
    validation: pd.DataFrame | None = None,
    device: str | None = None,
    progress: bool = True,
    about: dict | None = None,
) -> dict:
    """Fine-tune model_name on (text, label) rows and save the best epoch (by validation accuracy) to out_dir.

    about: what training.json should also record for the model card (the command, the data).
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import get_linear_schedule_with_warmup

    config.validate()
    if frame.empty:
        raise LongbertError("no training texts")
    num_labels = int(frame["label"].max()) + 1
    if frame["label"].min() < 0:
        raise LongbertError("labels must be integers 0..K-1")
    if num_labels < 2:
        raise LongbertError("training needs at least two classes: every label is 0")
    labels = labels or ([f"LABEL_{i}" for i in range(num_labels)] if num_labels != 2 else ["NEGATIVE", "POSITIVE"])
    if len(labels) != num_labels:
        raise LongbertError(f"{len(labels)} label names given for {num_labels} classes")
    if validation is None:
        frame, validation = split_validation(frame, config.validation_fraction, config.seed)

    cuda = resolve_device(device).type == "cuda"
    # bf16 autocast (below) is done with torch.autocast, not Accelerator(mixed_precision=...), whose
    # process-wide state allows one setting per process.
    accelerator = Accelerator(cpu=not cuda)
    set_seed(config.seed)
    id2label = dict(enumerate(labels))
    label2id = {v: k for k, v in id2label.items()}
    model, tokenizer, _ = load_pretrained(
        model_name, new_head=True, num_labels=num_labels, id2label=id2label, label2id=label2id
    )
    classifier = LongTextClassifier(
        model, tokenizer, settings=config.settings, device=accelerator.device, precision=config.precision
    )
    # Train under the classifier's own autocast choice when it is bf16 (fp16 would need loss scaling).
    autocast = classifier.dtype if classifier.dtype == torch.bfloat16 else None
    config.strategy.validate(classifier.max_chunk_size)
    encoded = classifier.encode(frame["text"].tolist(), spans=False)
    windows = [config.strategy.windows(len(e))[: config.max_chunks] for e in encoded]
    targets = frame["label"].to_numpy()
    keep = np.array([len(w) > 0 for w in windows])
    if not keep.all() and accelerator.is_main_process:
        print(f"skipping {int((~keep).sum())} training texts without tokens")

    optimizer = _optimizer(model, config)
    usable = np.flatnonzero(keep)
    world, rank = accelerator.num_processes, accelerator.process_index
    steps_per_epoch = len(usable) // config.batch_texts
    if steps_per_epoch == 0 or config.batch_texts < world:
        raise LongbertError(
            f"{len(usable)} texts give no full batch of {config.batch_texts} texts over {world} processes"
        )
    total_steps = steps_per_epoch * config.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)

    history, best, saved_epoch = [], None, None
    out = Path(out_dir)
    bar = tqdm(total=total_steps, desc="training", disable=not (progress and accelerator.is_main_process))
    for epoch in range(config.epochs):
        model.train()
        order = np.random.default_rng(config.seed + epoch).permutation(usable)
        losses, tokens, start = [], 0, time.perf_counter()
        for step in range(steps_per_epoch):
            mine = order[step * config.batch_texts : (step + 1) * config.batch_texts][rank::world]
            chunks = [window_ids(encoded[t], w) for t in mine for w in windows[t]]
            counts = [len(windows[t]) for t in mine]
            target = torch.tensor(targets[mine], device=accelerator.device)
            with torch.autocast(accelerator.device.type, dtype=autocast, enabled=autocast is not None):
                loss = accumulate_gradients(
                    model, chunks, counts, target, config, classifier.special, accelerator.device
                )
            average_gradients(model, world)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss)
            tokens += sum(len(c) for c in chunks) * world
            elapsed = time.perf_counter() - start
            bar.set_postfix(epoch=epoch + 1, loss=f"{np.mean(losses[-20:]):.4f}", tok_s=f"{tokens / elapsed:,.0f}")
            bar.update(1)
        model.eval()
        record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "seconds": time.perf_counter() - start}
        if accelerator.is_main_process:
            record |= {f"validation_{k}": v for k, v in validation_scores(classifier, validation, config).items()}
        history.append(record)
        score = (record.get("validation_accuracy", 0.0), -record.get("validation_loss", record["train_loss"]))
        if accelerator.is_main_process and (best is None or score > best):
            best, saved_epoch = score, epoch + 1
            _save(model, tokenizer, config, out, history, about or {})
        accelerator.wait_for_everyone()
    bar.close()
    checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1)
    checksums = accelerator.gather(checksum.to(accelerator.device)).cpu().tolist()
    result = {"history": history, "processes": world, "rank_checksums": checksums}
    if accelerator.is_main_process:
        _write_record(
            out, about or {}, config, history, saved_epoch=saved_epoch, processes=world, rank_checksums=checksums,
            device=describe_device(accelerator.device), versions=_versions(), train_texts=len(frame),
            validation_texts=len(validation),
        )  # fmt: skip
    return result
