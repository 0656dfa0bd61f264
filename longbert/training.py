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
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from longbert.chunking import Chunking, Chunks, Strategy, Truncation, check_positive, chunk
from longbert.classifier import LongTextClassifier
from longbert.errors import LongbertError
from longbert.files import fresh_dir, replace_dir, write_text_atomic
from longbert.loading import load_pretrained, quiet_transformers
from longbert.pooling import check_pooling, pool
from longbert.runtime import ENGINES, Runtime, describe_device, resolve_device, software_versions
from longbert.scoring import padded_batches
from longbert.settings import Settings, save_settings
from longbert.tasks import Task, check_threshold, label_targets, task_type

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
            task_type(self.task)
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
        if self.precision in ENGINES:
            raise LongbertError(f"{self.precision} is an inference path (training runs in torch): train in auto, bf16 "
                                "or fp32")  # fmt: skip

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


def accumulate_gradients(
    model, chunks: Chunks, targets: torch.Tensor, task: Task, pooling: str, special, runtime: Runtime
) -> float:
    """Back-propagate the pooled loss of a few texts' chunks into model's gradients; returns the loss.

    Passes are scoring.padded_batches under runtime.train_batch_tokens padded tokens.
    """
    device = runtime.device
    lengths = torch.from_numpy(chunks.lengths).float().to(device)
    passes = list(padded_batches(chunks.ids, special, replace(runtime, batch_tokens=runtime.train_batch_tokens)))

    def forward(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()

    def loss_of(logits: torch.Tensor) -> torch.Tensor:
        return task.loss(pool(logits, chunks.counts, pooling, lengths, task.activation), targets)

    if len(passes) == 1:
        index, ids, mask = passes[0]
        loss = loss_of(forward(ids, mask)[torch.from_numpy(np.argsort(index)).to(device)])
        loss.backward()
        return loss.item()
    states, parts = [], []
    with torch.no_grad():
        for _, ids, mask in passes:
            states.append(_rng_state(device))
            parts.append(forward(ids, mask))
    logits = torch.empty((len(chunks.ids), parts[0].shape[1]), device=device)
    for (index, _, _), part in zip(passes, parts):
        logits[torch.from_numpy(index).to(device)] = part
    logits.requires_grad_(True)
    loss = loss_of(logits)
    loss.backward()
    for (index, ids, mask), state in zip(passes, states):
        _set_rng_state(device, state)
        forward(ids, mask).backward(logits.grad[torch.from_numpy(index).to(device)])
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
    pooled = task.filled(scores.pooled(config.pooling, task)) * scale[1] + scale[0]
    pooled = torch.from_numpy(pooled).float()
    loss = float(task.loss(pooled, torch.tensor(targets)))
    return {task.metric: task.validation_metric(pooled.numpy(), targets), "loss": loss}


def selection_score(record: dict, task: Task | type[Task]) -> tuple[float, ...]:
    """How epochs are ranked (higher is better): the task's validation metric, then the validation loss."""
    metric = record.get(f"validation_{task.metric}")
    loss = record.get("validation_loss", record.get("train_loss"))
    if metric is None:
        return (-loss,)
    return (metric if task.higher_is_better else -metric, -loss)


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
# What a save writes (the model, its tokenizer's files, longbert.json, training.json) and a model card beside it.
SAVED_FILES = {*MODEL_FILES, "longbert.json", "training.json", "README.md", "generation_config.json",
               "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
               "vocab.txt", "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model",
               "chat_template.jinja"}  # fmt: skip


def check_out_dir(out: str | Path, overwrite: bool = False) -> Path:
    """Where the model will be saved (absolute), checked before any training: not a file, not another model
    (unless overwrite), and never a folder holding anything a save does not write, which --overwrite would
    delete; its parent can be created."""
    given, out = out, Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise LongbertError(f"--out {given} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()):
        foreign = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir() if p.name not in SAVED_FILES)
        if foreign or not any((out / name).exists() for name in MODEL_FILES):
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise LongbertError(f"--out {given} holds files a save does not write ({shown or 'no model'}): "
                                "choose an empty or new directory")  # fmt: skip
        if not overwrite:
            raise LongbertError(f"--out {given} holds a model already: pass --overwrite to replace it")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise LongbertError(f"--out {given} cannot be created: {parent} is not a writable directory")
    return out


def _save(classifier, config: TrainConfig, out: Path, history: list[dict], about: dict, scale=None) -> None:
    """Save the model, tokenizer, settings and training.json to out as one set: written whole beside it, then
    renamed into place, so a kill while saving leaves the previous save (or none), never a mix."""
    staging = fresh_dir(out.with_name(f".{out.name}.saving"))
    _write_model(classifier, config, staging, history, about, scale)
    replace_dir(staging, out)  # out's old contents, card included, go


def _write_model(classifier, config: TrainConfig, out: Path, history: list[dict], about: dict, scale) -> None:
    model, tokenizer = classifier.model, classifier.tokenizer
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
    save_settings(classifier.settings, out)
    _write_record(out, about, config, history)


def _write_record(out: Path, about: dict, config: TrainConfig, history: list[dict], **run) -> None:
    """training.json: how the run was started, its settings and history, and (at the end) how it ran."""
    record = {**about, "config": asdict(config), "history": history, **run}
    write_text_atomic(out / "training.json", json.dumps(record, indent=2) + "\n")


def training_data(
    frame: pd.DataFrame, validation: pd.DataFrame | None, config: TrainConfig, labels: list[str] | None
) -> tuple[Task, pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray, tuple | None]:
    """(task, training rows, validation rows, targets, validation targets, scale) of labelled rows: the task from
    config.task or the labels, a validation split where none is given, and regression targets standardized."""
    if frame.empty:
        raise LongbertError("no training texts")
    name, labels, targets = label_targets(frame["label"], config.task, labels)
    kind = task_type(name)
    kind.check_training(targets)
    if validation is None:
        frame, validation = split_validation(frame, config.validation_fraction, config.seed, kind.stratify)
        _, labels, targets = label_targets(frame["label"], name, labels)
    validation_targets = label_targets(validation["label"], name, labels)[2] if len(validation) else targets[:0]
    scale = standardization(targets) if kind.standardize else None
    if scale is not None:
        targets = ((targets - scale[0]) / scale[1]).astype(np.float32)
    return kind(tuple(labels), config.threshold), frame, validation, targets, validation_targets, scale


def _epoch(classifier, chunks: Chunks, targets: np.ndarray, usable: np.ndarray, epoch: int, config, runtime,
           accelerator, optimizer, scheduler, bar) -> dict:  # fmt: skip
    """One epoch of optimizer steps over the usable texts in a seeded order; returns its record (loss, seconds)."""
    model, world, rank = classifier.model, accelerator.num_processes, accelerator.process_index
    # Train under the classifier's own autocast choice when it is bf16 (fp16 would need loss scaling).
    autocast = runtime.autocast if runtime.autocast == torch.bfloat16 else None
    model.train()
    order = np.random.default_rng(config.seed + epoch).permutation(usable)
    losses, tokens, start = [], 0, time.perf_counter()
    for step in range(len(usable) // config.batch_texts):
        mine = order[step * config.batch_texts : (step + 1) * config.batch_texts][rank::world]
        batch = chunks.select(mine)
        target = torch.from_numpy(targets[mine]).to(accelerator.device)
        with torch.autocast(accelerator.device.type, dtype=autocast, enabled=autocast is not None):
            loss = accumulate_gradients(model, batch, target, classifier.task, config.pooling, classifier.special,
                                        runtime)  # fmt: skip
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
    return {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "seconds": time.perf_counter() - start}


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
    task, frame, validation, targets, validation_targets, scale = training_data(frame, validation, config, labels)
    # bf16 autocast is done with torch.autocast, not Accelerator(mixed_precision=...), whose process-wide state
    # allows one setting per process.
    accelerator = Accelerator(cpu=resolve_device(device).type != "cuda")
    set_seed(config.seed)
    id2label = dict(enumerate(task.labels))
    model, tokenizer, _ = load_pretrained(
        model_name, new_head=True, num_labels=len(task.labels), id2label=id2label,
        label2id={v: k for k, v in id2label.items()}, problem_type=task.problem_type, ignore_mismatched_sizes=True,
    )  # fmt: skip
    settings = replace(config.settings, task=None if task.problem_type else task.name)
    classifier = LongTextClassifier(model, tokenizer, settings=settings, device=accelerator.device,
                                    precision=config.precision, task=task)  # fmt: skip
    runtime = classifier.runtime.with_options(config.batch_tokens)
    encoded = classifier.encode(frame["text"].tolist(), spans=False, strategies=[config.strategy])
    chunks = chunk(encoded, config.strategy, classifier.max_chunk_size, config.max_chunks)
    usable = np.flatnonzero(np.array(chunks.counts) > 0)
    if len(usable) < len(frame) and accelerator.is_main_process:
        print(f"skipping {len(frame) - len(usable)} training texts without tokens")
    world = accelerator.num_processes
    steps_per_epoch = len(usable) // config.batch_texts
    if steps_per_epoch == 0 or config.batch_texts < world:
        raise LongbertError(
            f"{len(usable)} texts give no full batch of {config.batch_texts} texts over {world} processes"
        )
    optimizer = _optimizer(model, config)
    total_steps = steps_per_epoch * config.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    history, best, saved_epoch = [], None, None
    bar = tqdm(total=total_steps, desc="training", disable=not (progress and accelerator.is_main_process))
    for epoch in range(config.epochs):
        record = _epoch(classifier, chunks, targets, usable, epoch, config, runtime, accelerator, optimizer,
                        scheduler, bar)  # fmt: skip
        if scale is not None:
            record["train_loss"] *= float(np.mean(scale[1] ** 2))  # in the targets' units, like validation
        if accelerator.is_main_process:
            scores = validation_scores(classifier, validation["text"].tolist(), validation_targets, config,
                                       scale or (0.0, 1.0))  # fmt: skip
            record |= {f"validation_{k}": v for k, v in scores.items()}
        history.append(record)
        score = selection_score(record, task)
        if accelerator.is_main_process and (best is None or score > best):
            best, saved_epoch = score, epoch + 1
            _save(classifier, config, out, history, about or {}, scale)
        accelerator.wait_for_everyone()
    bar.close()
    checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1)
    checksums = accelerator.gather(checksum.to(accelerator.device)).cpu().tolist()
    if accelerator.is_main_process:
        _write_record(
            out, about or {}, config, history, saved_epoch=saved_epoch, processes=world, rank_checksums=checksums,
            device=describe_device(accelerator.device), versions=_versions(), train_texts=len(frame), task=task.name,
            validation_texts=len(validation),
        )  # fmt: skip
    return {"history": history, "processes": world, "rank_checksums": checksums}
