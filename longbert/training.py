"""Fine-tune a sequence classifier on whole long texts: every chunk of a text pooled inside the loss.

Memory is bounded by a token budget per forward pass. When a step's chunks exceed one pass, the
step runs twice (gradient caching): first without gradients to get every chunk's logits and the
pooled loss's gradient with respect to them, then again pass by pass with the same dropout masks,
back-propagating those gradients. The result equals one big pass, for any text length.
Runs data-parallel under `accelerate launch`; saves safetensors, tokenizer and longbert.json.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from longbert.chunking import Chunking, Chunks, Strategy, Truncation, check_positive, chunk
from longbert.classifier import LongTextClassifier
from longbert.errors import LongbertError
from longbert.loading import load_pretrained, quiet_transformers
from longbert.pooling import check_pooling
from longbert.runtime import Runtime, describe_device, resolve_device, software_versions
from longbert.scoring import collate, padded_width, token_budget_batches
from longbert.settings import Settings, save_settings
from longbert.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL, Task, check_threshold, label_targets, task_kind

if TYPE_CHECKING:  # pandas comes with the train extra; the core install never imports it
    import pandas as pd

MODES = ("pooled", "head")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; saved as training.json beside the model."""

    mode: str = "pooled"
    task: str | None = None
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
    threshold: float = 0.5

    def validate(self) -> None:
        if self.mode not in MODES:
            raise LongbertError(f"unknown training mode {self.mode!r}: use pooled or head")
        if self.task is not None:
            task_kind(self.task)
        check_threshold(self.threshold)
        check_pooling(self.pooling)  # strategies check themselves when made
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
        if self.precision == "int8":
            raise LongbertError("int8 is an inference path (gradients need float weights): train in auto, bf16 or fp32")

    @property
    def settings(self) -> Settings:
        """The long-text settings the model is trained with and saved with (longbert.json)."""
        return Settings(self.chunking, self.pooling, self.clean_markup, self.threshold)

    @property
    def strategy(self) -> Strategy:
        """What a text is cut into for training: all chunks (pooled) or the first chunk (head)."""
        if self.mode == "head":
            return Truncation(self.chunking.chunk_size, 0)
        return self.chunking


def split_validation(
    frame: pd.DataFrame, fraction: float, seed: int, stratify: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random split of labelled texts into (train, validation), stratified by label if asked."""
    if fraction == 0:
        return frame.reset_index(drop=True), frame.iloc[:0]
    if stratify:
        validation = frame.groupby("label", group_keys=False).sample(frac=fraction, random_state=seed)
    else:
        validation = frame.sample(frac=fraction, random_state=seed)
    return frame.drop(validation.index).reset_index(drop=True), validation.reset_index(drop=True)


def _forward(model, chunks, special, runtime: Runtime):
    ids, mask = collate(chunks, special, pad_multiple=runtime.pad_multiple)
    return model(input_ids=ids.to(runtime.device), attention_mask=mask.to(runtime.device)).logits.float()


def accumulate_gradients(
    model, chunks: Chunks, targets: torch.Tensor, task: Task, pooling: str, special, runtime: Runtime
) -> float:
    """Back-propagate the pooled loss of a few texts' chunks into model's gradients; returns the loss.

    Passes hold at most runtime.train_batch_tokens padded tokens (widths rounded as _forward pads them).
    """
    device = runtime.device
    ids = chunks.ids
    lengths = torch.from_numpy(chunks.lengths).float().to(device)
    widths = [padded_width(len(c) + special.count, pad_multiple=runtime.pad_multiple) for c in ids]
    passes = list(token_budget_batches(widths, runtime.train_batch_tokens))

    def loss_of(logits: torch.Tensor) -> torch.Tensor:
        return task.loss(task.pool(logits, chunks.counts, pooling, lengths), targets)

    if len(passes) == 1:
        loss = loss_of(_forward(model, ids, special, runtime))
        loss.backward()
        return loss.item()
    states, parts = [], []
    with torch.no_grad():
        for index in passes:
            states.append(_rng_state(device))
            parts.append(_forward(model, [ids[i] for i in index], special, runtime))
    logits = torch.empty((len(ids), parts[0].shape[1]), device=device)
    for index, part in zip(passes, parts):
        logits[torch.from_numpy(index).to(device)] = part
    logits.requires_grad_(True)
    loss = loss_of(logits)
    loss.backward()
    for index, state in zip(passes, states):
        _set_rng_state(device, state)
        part = _forward(model, [ids[i] for i in index], special, runtime)
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


VALIDATION_METRIC = {SINGLE_LABEL: "accuracy", MULTI_LABEL: "micro_f1", REGRESSION: "mae"}


def validation_scores(
    classifier: LongTextClassifier, texts: list[str], targets: np.ndarray, config, scale: tuple = (0.0, 1.0)
) -> dict:
    """The task's loss and its main metric (accuracy, micro-F1 or MAE) on labelled texts, chunked and pooled
    as config trains (used by soups too); texts without tokens count as wrong. scale: (mean, std) that a
    regression model's outputs are standardized by while it trains."""
    if not texts:
        return {}
    task = classifier.task
    encoded = classifier.encode(texts, spans=False, strategies=[config.strategy])
    scores = classifier.score(classifier.chunk(encoded, config.strategy))
    pooled = np.nan_to_num(scores.pooled(config.pooling, task), nan=0.5) * scale[1] + scale[0]
    pooled = torch.from_numpy(pooled).float()
    loss = float(task.loss(pooled, torch.tensor(targets)))
    out = pooled.numpy()
    if task.kind == SINGLE_LABEL:
        metric = float((out.argmax(1) == targets).mean())
    elif task.kind == MULTI_LABEL:
        chosen = out >= task.threshold
        true_positive = float((chosen & (targets > 0.5)).sum())
        metric = 2 * true_positive / max(float(chosen.sum() + (targets > 0.5).sum()), 1.0)
    else:
        metric = float(np.abs(out - targets).mean())
    return {VALIDATION_METRIC[task.kind]: metric, "loss": loss}


def selection_score(record: dict, task: str) -> tuple[float, ...]:
    """How epochs are ranked (higher is better): the validation metric, then the validation loss."""
    metric = record.get(f"validation_{VALIDATION_METRIC[task]}")
    loss = record.get("validation_loss", record["train_loss"])
    if metric is None:
        return (-loss,)
    return (-metric if task == REGRESSION else metric, -loss)


def output_layer_name(model) -> str:
    """The name of the model's last linear layer with one output per label: the head's output layer."""
    names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    names = [n for n in names if model.get_submodule(n).out_features == model.config.num_labels]
    if not names:
        raise LongbertError("cannot find the model's output layer (a linear layer with one output per label)")
    return names[-1]


def standardization(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) per regression output: training fits standardized targets, which a head initialized near
    zero reaches in a few steps whatever the targets' units; saving folds them back into the output layer."""
    std = targets.std(0)
    return targets.mean(0), np.where(std > 1e-6, std, 1.0)


MODEL_FILES = ("config.json", "model.safetensors", "pytorch_model.bin")


def check_out_dir(out: str | Path, overwrite: bool = False) -> Path:
    """Where the model will be saved, checked before any training: not a file, not another model (unless
    overwrite), not a folder of other files; its parent can be created."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LongbertError(f"--out {out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not any((out / name).exists() for name in MODEL_FILES):
            raise LongbertError(f"--out {out} holds other files: choose an empty or new directory")
        if not overwrite:
            raise LongbertError(f"--out {out} holds a model already: pass --overwrite to replace it")
    parent = out.resolve().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise LongbertError(f"--out {out} cannot be created: {parent} is not a writable directory")
    return out


def _replace_dir(staging: Path, out: Path) -> None:
    """Put a completely written staging directory in out's place (out's old contents, card included, go)."""
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, out)


def _save(model, tokenizer, config: TrainConfig, out: Path, history: list[dict], about: dict, scale=None) -> None:
    """Save the model, tokenizer, settings and training.json to out as one set: written whole beside it, then
    renamed into place, so a kill while saving leaves the previous save (or none), never a mix."""
    staging = out.with_name(f".{out.name}.saving")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _write_model(model, tokenizer, config, staging, history, about, scale)
    _replace_dir(staging, out)


def _write_model(model, tokenizer, config: TrainConfig, out: Path, history: list[dict], about: dict, scale) -> None:
    dtype = getattr(torch, config.save_dtype)
    state = {k: v.detach().float().cpu() if v.is_floating_point() else v.cpu() for k, v in model.state_dict().items()}
    if scale is not None:  # the outputs were standardized: fold (mean, std) back into the output layer
        layer = output_layer_name(model)
        mean, std = (torch.from_numpy(np.asarray(v, np.float32)) for v in scale)
        state[f"{layer}.weight"] = state[f"{layer}.weight"] * std[:, None]
        state[f"{layer}.bias"] = state[f"{layer}.bias"] * std + mean
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    with quiet_transformers():  # no "Writing model shards" bar for one file at every best epoch
        model.save_pretrained(out, state_dict=state, safe_serialization=True)
    tokenizer.save_pretrained(out)
    save_settings(config.settings, out)
    _write_record(out, about, config, history)


def _write_record(out: Path, about: dict, config: TrainConfig, history: list[dict], **run) -> None:
    """training.json: how the run was started, its settings and history, and (at the end) how it ran."""
    record = {**about, "config": asdict(config), "history": history, **run}
    temporary = out / ".training.json.tmp"
    temporary.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(temporary, out / "training.json")


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
    overwrite: bool = False,
) -> dict:
    """Fine-tune model_name on (text, label) rows and save the best epoch (by validation) to out_dir.

    The task type is config.task, else read from the labels (tasks.label_targets); labels names the outputs.
    about: what training.json should also record for the model card (the command, the data). An out_dir
    that holds a model is refused unless overwrite, before any training.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import get_linear_schedule_with_warmup

    config.validate()
    out = check_out_dir(out_dir, overwrite)
    if frame.empty:
        raise LongbertError("no training texts")
    kind, labels, targets = label_targets(frame["label"], config.task, labels)
    if kind == SINGLE_LABEL and len(np.unique(targets)) < 2:
        raise LongbertError(f"training needs at least two classes: every label is {int(targets[0])}")
    if validation is None:
        frame, validation = split_validation(frame, config.validation_fraction, config.seed, kind == SINGLE_LABEL)
        kind, labels, targets = label_targets(frame["label"], kind, labels)
    validation_targets = label_targets(validation["label"], kind, labels)[2] if len(validation) else targets[:0]
    scale = standardization(targets) if kind == REGRESSION else None
    if scale is not None:
        targets = ((targets - scale[0]) / scale[1]).astype(np.float32)

    cuda = resolve_device(device).type == "cuda"
    # bf16 autocast (below) is done with torch.autocast, not Accelerator(mixed_precision=...), whose
    # process-wide state allows one setting per process.
    accelerator = Accelerator(cpu=not cuda)
    set_seed(config.seed)
    id2label = dict(enumerate(labels))
    model, tokenizer, _ = load_pretrained(
        model_name, new_head=True, num_labels=len(labels), id2label=id2label,
        label2id={v: k for k, v in id2label.items()}, problem_type=kind, ignore_mismatched_sizes=True,
    )  # fmt: skip
    classifier = LongTextClassifier(
        model, tokenizer, settings=config.settings, device=accelerator.device, precision=config.precision
    )
    runtime = classifier.runtime.with_options(config.batch_tokens)
    # Train under the classifier's own autocast choice when it is bf16 (fp16 would need loss scaling).
    autocast = runtime.autocast if runtime.autocast == torch.bfloat16 else None
    encoded = classifier.encode(frame["text"].tolist(), spans=False, strategies=[config.strategy])
    chunks = chunk(encoded, config.strategy, classifier.max_chunk_size, config.max_chunks)
    keep = np.array(chunks.counts) > 0
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
    bar = tqdm(total=total_steps, desc="training", disable=not (progress and accelerator.is_main_process))
    for epoch in range(config.epochs):
        model.train()
        order = np.random.default_rng(config.seed + epoch).permutation(usable)
        losses, tokens, start = [], 0, time.perf_counter()
        for step in range(steps_per_epoch):
            mine = order[step * config.batch_texts : (step + 1) * config.batch_texts][rank::world]
            batch = chunks.select(mine)
            target = torch.from_numpy(targets[mine]).to(accelerator.device)
            with torch.autocast(accelerator.device.type, dtype=autocast, enabled=autocast is not None):
                loss = accumulate_gradients(
                    model, batch, target, classifier.task, config.pooling, classifier.special, runtime
                )
            average_gradients(model, world)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss)
            tokens += int(batch.lengths.sum()) * world
            elapsed = time.perf_counter() - start
            bar.set_postfix(epoch=epoch + 1, loss=f"{np.mean(losses[-20:]):.4f}", tok_s=f"{tokens / elapsed:,.0f}")
            bar.update(1)
        model.eval()
        record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "seconds": time.perf_counter() - start}
        if scale is not None:
            record["train_loss"] *= float(np.mean(scale[1] ** 2))  # in the targets' units, like validation
        if accelerator.is_main_process:
            scores = validation_scores(
                classifier, validation["text"].tolist(), validation_targets, config, scale or (0.0, 1.0)
            )
            record |= {f"validation_{k}": v for k, v in scores.items()}
        history.append(record)
        score = selection_score(record, kind)
        if accelerator.is_main_process and (best is None or score > best):
            best, saved_epoch = score, epoch + 1
            _save(model, tokenizer, config, out, history, about or {}, scale)
        accelerator.wait_for_everyone()
    bar.close()
    checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1)
    checksums = accelerator.gather(checksum.to(accelerator.device)).cpu().tolist()
    result = {"history": history, "processes": world, "rank_checksums": checksums}
    if accelerator.is_main_process:
        _write_record(
            out, about or {}, config, history, saved_epoch=saved_epoch, processes=world, rank_checksums=checksums,
            device=describe_device(accelerator.device), versions=_versions(), train_texts=len(frame), task=kind,
            validation_texts=len(validation),
        )  # fmt: skip
    return result
