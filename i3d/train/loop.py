"""Train one model of one architecture on one dataset split (one Snakemake job).

The model is one stream (``rgb``, ``flow``) or, for an architecture whose RGB+Flow is one network
(Two-Stream, trained through the averaging of its streams, and the 3D-Fused model), ``rgb+flow``. What it
is fed and how its loss is taken follow the registry: the architecture's training sampling (frames per sample scaled by ``frames_scale``), its input size, and
its loss (``per_step``: cross-entropy at every time step, the paper's LSTM; ``clip``: on the clip's
logits). ``init="imagenet"`` starts every Inception-V1 part from torchvision's GoogLeNet (inflated
where 3D; ``inflate.load_imagenet``); ``init="kinetics"`` starts from another trained model of the same
architecture and stream (``from_model``, the paper's Kinetics model) with a new classifier (``finetune``).

The steps run in fp32 or under bf16 autocast (``precision``), eagerly or through ``torch.compile`` (``compile``).

SGD with momentum 0.9 as in the paper, a short linear warm-up, then either cosine decay (``schedule: cosine``; the
stand-in runs are far shorter than the paper's schedule, so a fixed step schedule would need retuning per preset) or
the paper's own rule (``plateau``: the rate cut 10x each time validation top-1 has not improved for
``plateau_patience`` epochs; a function of the history, which the checkpoint keeps, so a resumed run cuts where an
uninterrupted one would). ``lr`` is the rate at a global batch of ``lr_reference_batch`` clips (the linear scaling
rule, :func:`scaled_lr`; none given: ``lr`` as it is).

The test split is never touched: a validation set (the official one where the manifest lists one, as Kinetics'
when its test list is scored; else carved out of the training clips, ``i3d.data.validation``) is scored after
every epoch, and the saved model is the best epoch on it.

Resumable: a checkpoint is written atomically after every epoch and picked up when the job is rerun, only
if it was made with the same settings, code and inputs (fingerprints); it carries the RNG state and the
best epoch so far, and the shuffle is a function of the epoch, so a resumed run ends with the weights of an
uninterrupted one. SIGTERM (SLURM's preemption or time-limit warning, ``scancel``) stops training after the step
it interrupts, with a checkpoint of that point inside the epoch, and :class:`Preempted` (``i3d train`` exits
143, as a job killed by SIGTERM does): the rerun or requeued job goes on from that batch.

Data-parallel under ``torchrun`` or SLURM (``i3d.train.distributed``): each rank trains on its share of every
global batch (``batch_size`` is per process; with ``lr_reference_batch`` the rate follows the global batch),
gradients are averaged by DDP, validation is sharded and its counts summed, and only rank 0 prints
and writes files. Checkpoints hold the unwrapped model, so a run resumes on any number of processes. Dropout:
rank 0 draws from the RNG state the checkpoint keeps, every other rank from a seed per global step
(:func:`rank_step_seed`), so a run resumed on as many processes, even mid-epoch, ends with the uninterrupted weights.
"""
from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..atomic import atomic_path
from ..data.loader import ClipDataset, model_input, split_samples, training_loader
from ..models.registry import model_sampling
from ..data.validation import carve_validation
from ..device import resolve_device
from .distributed import Dist, process_group
from ..models.clip_outputs import clip_logits
from ..fingerprint import code_fingerprint
from ..models import ArchSpec, build, get_spec, load_imagenet
from .checkpoints import (
    input_fingerprint,
    load,
    restore_rng,
    rng_state,
    save_atomic,
    stale_reason,
)
from .finetune import (
    classifier_prefixes,
    file_digest,
    load_body,
    read_source,
    start_record,
)

INITS = ("scratch", "imagenet", "kinetics")


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "i3d"
    stream: str = "rgb"
    num_classes: int = 400
    epochs: int = 10
    batch_size: int = 8
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-5
    warmup_epochs: float = 1.0
    frames_scale: float = 1.0
    """Frames per sample relative to the paper's (registry) sampling; test sampling uses the same."""
    crop_size: int = 224
    """Random crop side for a 224-input architecture; others are scaled (``ArchSpec.crop_for``)."""
    init: str = "scratch"
    dropout: float = 0.5
    bn_momentum: float = 0.1
    workers: int = 0
    seed: int = 0
    body_lr_scale: float = 1.0
    """Learning rate of every layer but the classifier, relative to ``lr``: below 1 when fine-tuning, so that the
    new classifier settles before it moves the pre-trained body much."""
    val_fraction: float = 0.1
    """Share of each class's training clips (whole groups, ``i3d.data.validation``) that validates instead:
    its top-1 after each epoch picks the saved epoch. 0: no validation, the last epoch is saved. A manifest
    with an official validation set (``val`` rows) validates on that instead, all training clips training."""
    device: str = "auto"
    sync_bn: bool = False
    """Data-parallel on CUDA: BatchNorm statistics over the global batch (``SyncBatchNorm``) instead of each
    process's share. Ignored in a single process and on the CPU (where PyTorch has no SyncBatchNorm)."""
    lr_reference_batch: int | None = None
    """The global batch (clips per step, all processes) at which ``lr`` is the peak rate: the peak is ``lr`` x
    global batch / this (:func:`scaled_lr`). None: ``lr`` as given, whatever the batch and processes."""
    schedule: str = "cosine"
    """After the warm-up: ``cosine`` decay to zero at the last step, or ``plateau`` (the paper's): the peak rate,
    cut 10x each time validation top-1 has not improved for ``plateau_patience`` epochs (:func:`plateau_drops`)."""
    plateau_patience: int = 2
    precision: str = "fp32"
    """``bf16``: the training steps' forward and loss under bfloat16 autocast (CUDA, and the CPU, where PyTorch
    autocasts too); weights, optimizer and gradients stay fp32, so no loss scaling. ``fp32``: no autocast.
    Validation runs in fp32 either way."""
    compile: bool = False
    """``torch.compile`` (default mode) the network the training steps run: fuses batch-norm, ReLU and the
    separable max pools' element-wise kernels. The first steps compile (Inductor caches the result on disk for
    the next job of the same shapes); on the CPU it works but compiling costs more than it saves in short runs."""


PREEMPTED_EXIT = 143  # 128 + SIGTERM: the status of a job killed by it, so SLURM and Snakemake treat it as one


class Preempted(RuntimeError):
    """Training stopped on SIGTERM after checkpointing where it was (:func:`stop_on_sigterm`)."""


@contextmanager
def stop_on_sigterm() -> Iterator[Callable[[], bool]]:
    """While inside, SIGTERM only raises a flag, read by the function this yields; training checks it after every
    step. (Off the main thread, where Python cannot take signals, the flag never rises.)"""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        yield lambda: bool(received)
    finally:
        signal.signal(signal.SIGTERM, previous)


SCHEDULES = ("cosine", "plateau")
PLATEAU_FACTOR = 0.1
"""The paper's cut of the rate "when validation loss saturated" (and DeepMind's released schedule: 0.1, 0.01, 0.001)."""
PRECISIONS = ("fp32", "bf16")


class PerTime(nn.Module):
    """A model's ``forward_per_time`` as its forward: DDP synchronises gradients only through ``forward``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model.forward_per_time(*inputs)


def lr_at(step: int, total: int, warmup: int, base_lr: float) -> float:
    """Linear warm-up for ``warmup`` steps, then cosine decay to zero at ``total``."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * min(1.0, progress)))


def scaled_lr(lr: float, global_batch: int, reference_batch: int | None) -> float:
    """The linear scaling rule (Goyal et al. 2017): ``lr`` is the rate at ``reference_batch`` clips per step, so
    the rate per clip is kept and a ``global_batch`` step gets ``lr x global_batch / reference_batch``. None (or
    the same batch): ``lr`` exactly."""
    if reference_batch is None or reference_batch == global_batch:
        return lr
    return lr * global_batch / reference_batch


def plateau_drops(val_top1: Sequence[float], patience: int) -> int:
    """How many times the ``plateau`` schedule has cut the rate after epochs of these validation top-1s: once each
    time ``patience`` epochs in a row bring no new best (the count of epochs restarts after a cut)."""
    best, waited, drops = -math.inf, 0, 0
    for top1 in val_top1:
        if top1 > best:
            best, waited = top1, 0
            continue
        waited += 1
        if waited >= patience:
            drops, waited = drops + 1, 0
    return drops


def plateau_lr_at(step: int, warmup: int, base_lr: float, drops: int) -> float:
    """Linear warm-up for ``warmup`` steps, then ``base_lr`` cut by :data:`PLATEAU_FACTOR` ``drops`` times."""
    return base_lr * PLATEAU_FACTOR ** drops * min(1.0, (step + 1) / warmup if warmup else 1.0)


def recipe_line(cfg: TrainConfig, processes: int, steps_per_epoch: int, peak_lr: float) -> str:
    """The log's statement of the schedule: the peak rate and where it comes from, and the steps it runs."""
    batch = cfg.batch_size * processes
    rule = "" if cfg.lr_reference_batch in (None, batch) else f" (lr {cfg.lr:g} at batch {cfg.lr_reference_batch})"
    after = "cosine decay" if cfg.schedule == "cosine" else f"10x cuts after {cfg.plateau_patience} epochs without " \
        "a better validation top-1"
    return (f"schedule: peak lr {peak_lr:.4g} at global batch {batch}{rule}, {cfg.warmup_epochs:g} warm-up "
            f"epochs, then {after}; {cfg.epochs} epochs x {steps_per_epoch} steps = {cfg.epochs * steps_per_epoch} "
            "steps")


def rank_step_seed(seed: int, rank: int, step: int) -> int:
    """The torch seed (dropout masks) of rank ``rank`` > 0 at global step ``step``: only rank 0's RNG state is in the
    checkpoint, so the others draw from a stream that a resumed run re-creates at any step, even mid-epoch."""
    return ((seed * 1_000_003 + rank) * 1_000_000_007 + step) % 2**64


def step_loss(model: nn.Module, inputs: Sequence[torch.Tensor], labels: torch.Tensor,
              loss: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, B x classes logits for accuracy) of one batch; ``per_step`` takes the cross-entropy at every
    time step of ``forward_per_time`` (the label repeated) and reports the last step, the test output. ``model``
    may be a :class:`PerTime` (or DDP of one, or either compiled) whose forward already is ``forward_per_time``."""
    if loss == "per_step":
        inner = getattr(model, "_orig_mod", model)  # under torch.compile
        inner = inner.module if isinstance(inner, nn.parallel.DistributedDataParallel) else inner
        per_time = model(*inputs) if isinstance(inner, PerTime) else model.forward_per_time(*inputs)  # B x classes x T
        targets = labels[:, None].expand(-1, per_time.shape[2])
        return F.cross_entropy(per_time, targets), per_time[:, :, -1]
    logits = model(*inputs)
    return F.cross_entropy(logits, labels), logits


def initialise(model: nn.Module, init: str, imagenet: str | Path | None,
               source: Mapping[str, Any] | None = None) -> None:
    """Apply ``init``: nothing for scratch, torchvision GoogLeNet weights for imagenet, every tensor but the
    classifier from ``source`` (a ``model.pt``'s contents, ``finetune.read_source``) for kinetics."""
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if source is not None and init != "kinetics":
        raise ValueError(f"a model to start from (from_model) is for init 'kinetics', not {init!r}")
    if init == "kinetics":
        if source is None:
            raise ValueError("init 'kinetics' needs the trained model to start from (from_model=PATH)")
        if imagenet is not None:
            raise ValueError("init 'kinetics' takes no ImageNet weights: the starting model's own init says "
                             "whether it began from ImageNet")
        head = load_body(model, source["model"])
        print(f"every layer but {', '.join(h.rstrip('.') for h in head)} from the {source['config']['arch']}-"
              f"{source['config']['stream']} model of {source['config']['num_classes']} classes", flush=True)
    if init == "imagenet":
        if imagenet is None:
            raise ValueError("init 'imagenet' needs the torchvision GoogLeNet checkpoint (imagenet=PATH)")
        parts = load_imagenet(model, torch.load(imagenet, map_location="cpu", weights_only=True))
        print(f"ImageNet weights from {imagenet} in {', '.join(p or 'the network' for p in parts)}", flush=True)


def param_groups(model: nn.Module, body_lr_scale: float) -> list[dict[str, Any]]:
    """SGD groups, each with the ``lr_scale`` its rate is the schedule's times: the classifier's parameters
    (first, so the logged rate is the schedule's) at 1, all others at ``body_lr_scale``."""
    head = classifier_prefixes(model)
    named = list(model.named_parameters())
    return [dict(params=[p for k, p in named if k.startswith(head)], lr_scale=1.0),
            dict(params=[p for k, p in named if not k.startswith(head)], lr_scale=body_lr_scale)]


def val_correct(model: nn.Module, dataset: ClipDataset, device: torch.device, indices: Sequence[int]) -> int:
    """How many of ``dataset``'s test items at ``indices`` (the architecture's test sampling, center crop) are
    right, each clip scored as ``predict`` scores a test clip (:func:`~i3d.models.clip_outputs.clip_logits`)."""
    model.eval()
    correct = 0
    with torch.inference_mode():
        for i in indices:
            inputs, label = dataset[i]
            correct += int(clip_logits(model, [model_input(x, device) for x in inputs]).argmax().item() == label)
    return correct


def val_top1(model: nn.Module, dataset: ClipDataset, device: torch.device) -> float:
    """Top-1 (%) over ``dataset``'s test items (:func:`val_correct`)."""
    return 100.0 * val_correct(model, dataset, device, range(len(dataset))) / len(dataset)


def sharded_val_top1(model: nn.Module, dataset: ClipDataset, device: torch.device, ctx: Dist) -> float:
    """:func:`val_top1` with each rank scoring every ``world_size``-th clip and the counts summed: the same
    number as one process (the ranks' models must be the same, BN statistics included)."""
    if not ctx.enabled:
        return val_top1(model, dataset, device)
    correct = val_correct(model, dataset, device, range(ctx.rank, len(dataset), ctx.world_size))
    return 100.0 * ctx.sum([correct], device)[0] / len(dataset)


def train(cfg: TrainConfig, manifest: str | Path, shards: Mapping[str, Sequence[str | Path]], split: int,
          out_dir: str | Path, *, imagenet: str | Path | None = None, from_model: str | Path | None = None,
          threads: int = 1, progress: bool = True) -> Path:
    """Train and write ``model.pt`` + ``metrics.csv`` into ``out_dir``; returns the model path.

    ``shards`` maps each input stream of the model to its shard files; ``imagenet`` is the GoogLeNet
    checkpoint that ``cfg.init == "imagenet"`` needs, ``from_model`` the ``model.pt`` (same architecture and
    stream, any classes) that ``cfg.init == "kinetics"`` fine-tunes. ``model.pt`` holds the epoch of best
    validation top-1 (ties and no validation set: the later epoch), named by its ``selected_epoch``; a
    fine-tuned one also its ``start`` (``finetune.start_record``).
    """
    if cfg.schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {cfg.schedule!r}")
    if cfg.schedule == "plateau" and not cfg.val_fraction > 0:
        raise ValueError("schedule 'plateau' cuts the rate on validation top-1: it needs val_fraction > 0")
    if cfg.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {cfg.precision!r}")
    with process_group(cfg.device) as (ctx, rank_device):
        return _train(cfg, manifest, shards, split, out_dir, ctx, rank_device or resolve_device(cfg.device),
                      imagenet=imagenet, from_model=from_model, threads=threads, progress=progress)


def _train(cfg: TrainConfig, manifest: str | Path, shards: Mapping[str, Sequence[str | Path]], split: int,
           out_dir: str | Path, ctx: Dist, device: torch.device, *, imagenet: str | Path | None,
           from_model: str | Path | None, threads: int, progress: bool) -> Path:
    """:func:`train` in process group ``ctx`` (a world of one: the plain single-process run) on ``device``."""
    out_dir = Path(out_dir)
    log = _start_process(cfg, out_dir, ctx, threads)
    spec, sampling, loader, val_set = _clip_data(cfg, manifest, shards, split, device, ctx, log)
    model, net, source, autocast = _network(cfg, spec, device, ctx, imagenet, from_model, log)
    optimizer, peak_lr = _optimizer(cfg, model, ctx)
    provenance, start = _provenance(manifest, shards, sampling, from_model, source)
    run = _Run(cfg, ctx, device, log, spec, loader, val_set, model, net, autocast, optimizer, peak_lr,
               out_dir / "checkpoint.pt", provenance)
    if cfg.schedule == "plateau" and val_set is None:
        raise RuntimeError("schedule 'plateau' cuts the rate on validation top-1, but no clips were held out "
                           "for validation (val_fraction too small for this split)")
    log(recipe_line(cfg, ctx.world_size, run.steps_per_epoch, peak_lr), flush=True)
    start_epoch, partial = _resume(run)
    with stop_on_sigterm() as sigterm:
        for epoch in range(start_epoch, cfg.epochs):
            counts, seconds = _train_epoch(run, epoch, partial, sigterm, progress)
            partial = None
            counts, top1 = _validate(run, counts)
            _record_epoch(run, epoch, counts, top1, seconds)
            _checkpoint_epoch(run, epoch, sigterm)
    return _write_model(run, out_dir, start)


@dataclass
class _Run:
    """What the steps of one training run share: set up once, then the history and best epoch grow."""
    cfg: TrainConfig
    ctx: Dist
    device: torch.device
    log: Callable[..., None]
    spec: ArchSpec
    loader: Any  # training_loader's DataLoader
    val_set: ClipDataset | None
    model: nn.Module
    net: nn.Module  # what the training steps run: model, or its data-parallel / compiled wrapper
    autocast: Any  # torch.autocast, enabled for bf16
    optimizer: torch.optim.Optimizer
    peak_lr: float
    ckpt_path: Path
    provenance: dict
    history: list[dict] = field(default_factory=list)
    best: dict | None = None
    steps_per_epoch: int = field(init=False)

    def __post_init__(self) -> None:
        # taken once, before any epoch: after a SIGTERM the resumed epoch's sampler skips batches, which
        # shortens len(loader) until the next set_epoch
        self.steps_per_epoch = len(self.loader)


def _start_process(cfg: TrainConfig, out_dir: Path, ctx: Dist, threads: int) -> Callable[..., None]:
    """The output folder (rank 0), torch's threads and seed; returns the log function (rank 0 prints)."""
    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    log = print if ctx.is_main else (lambda *args, **kwargs: None)
    torch.set_num_threads(threads)
    torch.manual_seed(cfg.seed)
    return log


def _clip_data(cfg: TrainConfig, manifest: str | Path, shards: Mapping[str, Sequence[str | Path]], split: int,
               device: torch.device, ctx: Dist,
               log: Callable[..., None]) -> tuple[ArchSpec, Any, Any, ClipDataset | None]:
    """(spec, sampling, training loader, validation set or None): the split's training clips and its official
    validation clips (``val``: Kinetics when its test list is scored), or else the training clips less the
    carved validation clips, and those."""
    spec = get_spec(cfg.arch)
    sampling = model_sampling(cfg.arch, cfg.stream, "train", cfg.frames_scale)
    table = pd.read_csv(manifest)
    official = split_samples(table, {s: shards[s] for s in sampling}, split, "val") if cfg.val_fraction else []
    held_out = set() if official else carve_validation(table, split, cfg.val_fraction)
    clips = split_samples(table, {s: shards[s] for s in sampling}, split, "train")
    samples = [c for c in clips if c.clip_id not in held_out]
    val_samples = official or [c for c in clips if c.clip_id in held_out]
    if not samples:
        raise RuntimeError(f"no training clips for split {split} in the {'+'.join(sampling)} shards")
    input_size = spec.crop_for(cfg.crop_size)
    dataset = ClipDataset(shards, samples, sampling, train=True, crop_size=cfg.crop_size, input_size=input_size,
                          seed=cfg.seed)
    val_set = ClipDataset(shards, val_samples, model_sampling(cfg.arch, cfg.stream, "test", cfg.frames_scale),
                          train=False, crop_size=cfg.crop_size, input_size=input_size) if val_samples else None
    log(f"{cfg.arch}-{cfg.stream}: {len(samples)} training clips, {len(val_samples)} validation clips, "
          f"input {sampling}, {input_size} px, loss {spec.loss}", flush=True)
    loader = training_loader(dataset, batch_size=cfg.batch_size, workers=cfg.workers, seed=cfg.seed,
                             pin_memory=device.type == "cuda", rank=ctx.rank, world_size=ctx.world_size)
    return spec, sampling, loader, val_set


def _network(cfg: TrainConfig, spec: ArchSpec, device: torch.device, ctx: Dist, imagenet: str | Path | None,
             from_model: str | Path | None, log: Callable[..., None]) -> tuple[nn.Module, nn.Module, Any, Any]:
    """(model, what the steps run, the fine-tuning source or None, autocast): built, initialised, on the
    device, wrapped for data-parallel and compiled as configured."""
    # channels-last 3D layout: 10-25% faster training steps on the CPU (oneDNN), the same on CUDA
    model = build(cfg.arch, num_classes=cfg.num_classes, stream=cfg.stream, dropout=cfg.dropout,
                  bn_momentum=cfg.bn_momentum)
    source = read_source(from_model, cfg.arch, cfg.stream) if from_model is not None else None
    initialise(model, cfg.init, imagenet, source)
    model = model.to(device, memory_format=torch.channels_last_3d)
    net = model  # what the training steps run: model, or its data-parallel wrapper
    if ctx.enabled:
        if cfg.sync_bn and device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # same state-dict keys as BatchNorm
        elif cfg.sync_bn:
            log("sync_bn: PyTorch has no SyncBatchNorm on the CPU; each process keeps its own BN statistics",
                flush=True)
        net = nn.parallel.DistributedDataParallel(PerTime(model) if spec.loss == "per_step" else model,
                                                  device_ids=[device.index] if device.type == "cuda" else None)
        log(f"data-parallel: {ctx.world_size} processes on {device.type}, global batch "
            f"{cfg.batch_size * ctx.world_size}", flush=True)
    if cfg.compile:  # forward_per_time as the forward, so that the compiled graph is the one the loss takes
        net = torch.compile(PerTime(net) if spec.loss == "per_step" and net is model else net)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")
    if cfg.precision != "fp32" or cfg.compile:
        log(f"training steps: {cfg.precision}{' autocast' if cfg.precision != 'fp32' else ''}"
            f"{', torch.compile' if cfg.compile else ''}", flush=True)
    return model, net, source, autocast


def _optimizer(cfg: TrainConfig, model: nn.Module, ctx: Dist) -> tuple[torch.optim.Optimizer, float]:
    """SGD over the model's parameter groups, and the peak learning rate (:func:`scaled_lr` to the global batch)."""
    peak_lr = scaled_lr(cfg.lr, cfg.batch_size * ctx.world_size, cfg.lr_reference_batch)
    optimizer = torch.optim.SGD(param_groups(model, cfg.body_lr_scale), lr=peak_lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay)
    return optimizer, peak_lr


def _provenance(manifest: str | Path, shards: Mapping[str, Sequence[str | Path]], sampling: Any,
                from_model: str | Path | None, source: Any) -> tuple[dict, dict | None]:
    """(what a checkpoint must match to be resumed: code, inputs, starting model; the fine-tuning start record)."""
    provenance = dict(code=code_fingerprint(__name__),
                      inputs=input_fingerprint(manifest, [p for s in sampling for p in shards[s]]))
    start = None
    if source is not None:
        provenance["starting model"] = file_digest(from_model)
        start = start_record(from_model, source, provenance["starting model"])
    return provenance, start


def _resume(run: _Run) -> tuple[int, dict | None]:
    """(first epoch to train, the counts of the epoch a SIGTERM stopped or None) from a matching checkpoint,
    whose model, optimizer, history, best epoch and RNG state are restored; (0, None) without one."""
    cfg, ctx, log, ckpt_path = run.cfg, run.ctx, run.log, run.ckpt_path
    start_epoch, partial = 0, None
    if ckpt_path.is_file():
        state = load(ckpt_path, run.device)
        stale = stale_reason(state, asdict(cfg), run.provenance)
        if stale:
            log(f"ignoring {ckpt_path}: {stale}; training from the start", flush=True)
        else:
            run.model.load_state_dict(state["model"])
            run.optimizer.load_state_dict(state["optimizer"])
            start_epoch, run.history, run.best = state["epoch"], state["history"], state["best"]
            partial = state.get("partial")
            restore_rng(state["rng"])
            log(f"resuming from epoch {start_epoch}"
                + (f" and {partial['clips']} clips of epoch {start_epoch + 1}" if partial else "")
                + f" ({ckpt_path})" + (f" on {ctx.world_size} processes" if ctx.enabled else ""), flush=True)
            if partial and ctx.rank > 0:  # the epoch's counts so far were summed into rank 0's
                partial = {**partial, "seen": 0, "correct": 0, "loss_sum": 0.0}
    return start_epoch, partial


def _checkpoint(run: _Run, epoch: int, partial: dict | None = None) -> None:
    """Save (rank 0) where training stands: ``epoch`` epochs done and, when stopped inside the next one, its
    ``partial`` counts (the clips of its global order done, the training numbers so far, summed over the
    ranks)."""
    if run.ctx.is_main:
        save_atomic(dict(config=asdict(run.cfg), provenance=run.provenance, epoch=epoch, history=run.history,
                         model=run.model.state_dict(), optimizer=run.optimizer.state_dict(), rng=rng_state(),
                         best=run.best, partial=partial), run.ckpt_path)
    run.ctx.barrier()  # no rank runs ahead of a checkpoint that may be the one a killed job resumes from


def _train_epoch(run: _Run, epoch: int, partial: dict | None, sigterm: Callable[[], bool],
                 progress: bool) -> tuple[tuple[int, float, int], float]:
    """One epoch's training steps (the rest of it after a SIGTERM: ``partial``); returns this process's
    (clips seen, loss sum, correct) and the seconds. A SIGTERM checkpoints after the step and raises
    :class:`Preempted`."""
    cfg, ctx, device, model, optimizer = run.cfg, run.ctx, run.device, run.model, run.optimizer
    steps_per_epoch = run.steps_per_epoch
    total_steps = cfg.epochs * steps_per_epoch
    warmup_steps = int(cfg.warmup_epochs * steps_per_epoch)
    drops = plateau_drops([h["val_top1"] for h in run.history], cfg.plateau_patience) \
        if cfg.schedule == "plateau" else None  # the history is the checkpoint's: a resumed run cuts alike
    # after a SIGTERM, the batches of this epoch already trained on (in the global order, by any number of
    # processes before): each process skips its share
    done = partial["clips"] // (cfg.batch_size * ctx.world_size) if partial else 0
    run.net.train()
    run.loader.sampler.set_epoch(epoch, skip=done * cfg.batch_size)
    tic, seen, correct, loss_sum = time.time(), 0, 0, 0.0
    if partial:
        tic -= partial["seconds"]
        seen, correct, loss_sum = partial["seen"], partial["correct"], partial["loss_sum"]
    bar = tqdm(run.loader, desc=f"{cfg.arch}-{cfg.stream} epoch {epoch + 1}/{cfg.epochs}", unit="batch",
               disable=not progress or not ctx.is_main)
    for i, (inputs, y) in enumerate(bar, start=done):
        step = epoch * steps_per_epoch + i
        if ctx.rank > 0:  # rank 0's stream is the checkpointed one; the others' a function of the step
            torch.manual_seed(rank_step_seed(cfg.seed, ctx.rank, step))
        rate = lr_at(step, total_steps, warmup_steps, run.peak_lr) if drops is None \
            else plateau_lr_at(step, warmup_steps, run.peak_lr, drops)
        for group in optimizer.param_groups:
            group["lr"] = rate * group["lr_scale"]
        inputs = [model_input(x, device) for x in inputs]  # uint8, channels last, scaled on the device
        y = y.to(device, non_blocking=True)
        with run.autocast:
            loss, logits = step_loss(run.net, inputs, y, run.spec.loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += len(y)
        loss_sum += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.2f}")
        if ctx.any(sigterm(), device):  # preempted: keep this step, stop before the next
            counts = ctx.sum([seen, loss_sum, correct], device)
            _checkpoint(run, epoch, dict(clips=(i + 1) * cfg.batch_size * ctx.world_size, seen=int(counts[0]),
                                         loss_sum=counts[1], correct=int(counts[2]), seconds=time.time() - tic))
            raise Preempted(f"SIGTERM: stopped after batch {i + 1} of epoch {epoch + 1}; {run.ckpt_path} "
                            "holds it, and the rerun goes on from there")
    return (seen, loss_sum, correct), time.time() - tic


def _validate(run: _Run, counts: tuple[int, float, int]) -> tuple[tuple[int, float, int], float]:
    """(the epoch's global training counts, validation top-1 or NaN without a validation set)."""
    seen, loss_sum, correct = counts
    ctx, device, model, val_set = run.ctx, run.device, run.model, run.val_set
    if ctx.enabled:  # global numbers, and every rank's model as rank 0's (BN statistics) before validating
        seen, loss_sum, correct = ctx.sum([seen, loss_sum, correct], device)
        seen, correct = int(seen), int(correct)
        ctx.broadcast_buffers(model)
        top1 = sharded_val_top1(model, val_set, device, ctx) if val_set else math.nan
    else:
        top1 = val_top1(model, val_set, device) if val_set else math.nan
    return (seen, loss_sum, correct), top1


def _record_epoch(run: _Run, epoch: int, counts: tuple[int, float, int], top1: float, seconds: float) -> None:
    """The epoch's line of the history (logged), and the best epoch so far (rank 0 keeps its weights)."""
    seen, loss_sum, correct = counts
    run.history.append(dict(epoch=epoch + 1, train_loss=loss_sum / seen, train_top1=100.0 * correct / seen,
                            val_top1=top1, lr=run.optimizer.param_groups[0]["lr"], seconds=seconds, clips=seen))
    run.log(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in run.history[-1].items()),
            flush=True)
    if run.best is None or not top1 < run.best["val_top1"]:  # ties, and NaN without validation: the later epoch
        run.best = dict(epoch=epoch + 1, val_top1=top1,
                        model={k: v.detach().to("cpu", copy=True) for k, v in run.model.state_dict().items()}
                        if run.ctx.is_main else None)  # only rank 0 writes it


def _checkpoint_epoch(run: _Run, epoch: int, sigterm: Callable[[], bool]) -> None:
    """The checkpoint after a finished epoch (not the last: model.pt follows at once; C3D: 1 GB), and a stop
    there when a SIGTERM came during validation."""
    if epoch + 1 < run.cfg.epochs:
        _checkpoint(run, epoch + 1)
        if run.ctx.any(sigterm(), run.device):  # came during validation: this checkpoint is the place
            raise Preempted(f"SIGTERM: stopped after epoch {epoch + 1}; {run.ckpt_path} holds it")


def _write_model(run: _Run, out_dir: Path, start: dict | None) -> Path:
    """metrics.csv and model.pt (the best epoch) from rank 0, the checkpoint removed; returns model.pt's path."""
    model_path = out_dir / "model.pt"
    if run.ctx.is_main:
        with atomic_path(out_dir / "metrics.csv") as tmp:
            pd.DataFrame(run.history).assign(selected=lambda d: d.epoch == run.best["epoch"]).to_csv(tmp, index=False)
        save_atomic(dict(config=asdict(run.cfg), model=run.best["model"], selected_epoch=run.best["epoch"],
                         val_top1=run.best["val_top1"], start=start), model_path)
        run.ckpt_path.unlink(missing_ok=True)
    run.ctx.barrier()
    return model_path
