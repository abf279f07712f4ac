"""Training-step throughput of our I3D beside the public PyTorch port (piergiaj/pytorch-i3d), in one run.

One step is what ``i3d train`` does per batch: forward, cross-entropy on the clip logits (the per-time logits
averaged, for the port as for ours), ``zero_grad``, backward, SGD with momentum. Random inputs (B x 3 x T x S x S)
and labels, 400 classes, training mode (batch-norm statistics, dropout 0.5). Each configuration is warmed up
(compile included), then timed over several windows of steps with the device synchronised at both ends; the table
gives clips/s as the median of the windows (and their range), the peak memory, and the ratio against the port's
best configuration at the same batch in the same run.

Configurations, in the order they run (the most needed first; a run cut short keeps its rows, ``--json`` is
rewritten after each):
  port fp32            the port as published: NCDHW, fp32 (TF32 convolutions, PyTorch's default)
  port bf16 cl         its best: bf16 autocast + channels_last_3d
  ours fp32 native     ``i3d train`` before issue 15: fp32, channels_last_3d, the native 3-D max pool
  ours bf16 sep        ``--precision bf16`` with the separable max pool (``MaxPool3dSame.impl``; ``auto`` on CUDA)
  ours bf16 sep compile   ... and ``--compile`` (Inductor; the compile is part of the warm-up, timed apart)
  ours fp32 sep        the default ``i3d train`` on CUDA now
  ours bf16 native     bf16 with the native pool: what the pool alone is worth
  ours bf16 pool1d     bf16 with three 1-D native pools (``separable_pool``)
  ours bf16 native compile   compile with the native pool (Inductor lowers its forward, not its backward)
  ours bf16 sep compile bench   ... with ``torch.backends.cudnn.benchmark`` (not set by ``i3d train`` today)
at batch 8, and the most telling of them at 16 (``DEFAULT_PLAN``).

The port's model file is third-party code, never committed: ``benchmarks/port_fetch.sh`` puts it in
``.gpu/port/pytorch_i3d.py`` (git-ignored); without it the port's rows are skipped and ratios are against nothing.

    python benchmarks/train_step.py                       # the GPU check: 8 and 16 clips x 64 frames x 224^2
    nice -n 19 python benchmarks/train_step.py --smoke    # CPU, 2 clips x 8 frames x 64^2, a few seconds
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from i3d.models import InceptionI3d  # noqa: E402
from i3d.models.layers import MaxPool3dSame  # noqa: E402

PORT_FILE = ROOT / ".gpu" / "port" / "pytorch_i3d.py"
NUM_CLASSES = 400


@dataclass(frozen=True)
class Config:
    name: str
    model: str  # "ours" or "port"
    precision: str  # "fp32" or "bf16"
    channels_last: bool = True
    pool: str = "native"  # MaxPool3dSame.impl (ours)
    compile: bool = False
    cudnn_benchmark: bool = False


CONFIGS = [
    Config("port fp32", "port", "fp32", channels_last=False),
    Config("port bf16 cl", "port", "bf16"),
    Config("ours fp32 native", "ours", "fp32"),
    Config("ours bf16 sep", "ours", "bf16", pool="separable"),
    Config("ours bf16 sep compile", "ours", "bf16", pool="separable", compile=True),
    Config("ours fp32 sep", "ours", "fp32", pool="separable"),
    Config("ours bf16 native", "ours", "bf16"),
    Config("ours bf16 pool1d", "ours", "bf16", pool="separable_pool"),
    Config("ours bf16 native compile", "ours", "bf16", compile=True),
    Config("ours bf16 sep compile bench", "ours", "bf16", pool="separable", compile=True, cudnn_benchmark=True),
]
BY_NAME = {c.name: c for c in CONFIGS}
DEFAULT_PLAN = [
    *((name, 8) for name in ["port fp32", "port bf16 cl", "ours fp32 native", "ours bf16 sep", "ours fp32 sep",
                             "ours bf16 native", "ours bf16 pool1d"]),
    ("port bf16 cl", 16), ("ours bf16 sep", 16),
    ("ours bf16 sep compile", 8), ("ours bf16 sep compile", 16),
    ("ours bf16 native compile", 8), ("ours bf16 sep compile bench", 8),
    ("port fp32", 16), ("ours fp32 native", 16),
]
"""(configuration, batch) in the order the GPU check runs them: every eager row at batch 8 (a few seconds each), the
port's best and our best eager candidate at 16, then the compiled ones (each compiles for a minute or so)."""


def load_port(path: Path) -> type[nn.Module]:
    spec = importlib.util.spec_from_file_location("pytorch_i3d_port", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.InceptionI3d


class SpatialMean(nn.Module):
    """The port's 2x7x7 VALID average pool needs a 7x7 Mixed_5c map (224 px); smaller inputs average instead."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(3, 4), keepdim=True)


def build(cfg: Config, size: int, device: torch.device, port_file: Path) -> tuple[nn.Module, Callable]:
    """(model on ``device``, logits function: input -> B x classes)."""
    if cfg.model == "port":
        model = load_port(port_file)(num_classes=NUM_CLASSES, in_channels=3)
        if size < 224:
            model.avg_pool = SpatialMean()

        def logits(net, x):
            return net(x).mean(dim=2)  # B x classes x T' -> clip logits, as ours
    else:
        model = InceptionI3d(num_classes=NUM_CLASSES, dropout=0.5, bn_momentum=0.1)

        def logits(net, x):
            return net(x)
    model = model.to(device, memory_format=torch.channels_last_3d if cfg.channels_last else torch.contiguous_format)
    return model, logits


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(cfg: Config, batch: int, frames: int, size: int, device: torch.device, port_file: Path, *,
            warmup: int, windows: int, steps: int) -> dict:
    """One configuration: clips/s per window after ``warmup`` steps; the compile (first step) timed apart."""
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
    MaxPool3dSame.impl = cfg.pool
    model, logits = build(cfg, size, device, port_file)
    net = torch.compile(model) if cfg.compile else model
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-5)
    layout = torch.channels_last_3d if cfg.channels_last else torch.contiguous_format
    x = torch.randn(batch, 3, frames, size, size, device=device).contiguous(memory_format=layout)
    y = torch.randint(0, NUM_CLASSES, (batch,), device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")

    def step() -> torch.Tensor:
        with autocast:
            loss = F.cross_entropy(logits(net, x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    tic = time.perf_counter()
    loss = step()
    sync(device)
    first = time.perf_counter() - tic
    for _ in range(warmup - 1):
        step()
    rates = []
    for _ in range(windows):
        sync(device)
        tic = time.perf_counter()
        for _ in range(steps):
            loss = step()
        sync(device)
        rates.append(batch * steps / (time.perf_counter() - tic))
    return dict(config=cfg.name, batch=batch, frames=frames, size=size, clips_per_s=statistics.median(rates),
                min=min(rates), max=max(rates), first_step_s=first, loss=loss.item(),
                peak_gib=torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
                **{k: v for k, v in asdict(cfg).items() if k != "name"})


def table(rows: list[dict]) -> str:
    best_port = {}
    for r in rows:
        if r.get("model") == "port" and "clips_per_s" in r:
            best_port[r["batch"]] = max(best_port.get(r["batch"], 0.0), r["clips_per_s"])
    lines = ["| configuration | batch | clips/s (median) | range | ms/step | first step s | peak GiB | vs port's best |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in sorted(rows, key=lambda r: r["batch"]):  # stable: run order within a batch
        if "error" in r:
            lines.append(f"| {r['config']} | {r['batch']} | {r['error']} | | | | | |")
            continue
        ratio = f"{r['clips_per_s'] / best_port[r['batch']]:.2f}x" if r["batch"] in best_port else "–"
        peak = f"{r['peak_gib']:.1f}" if r["peak_gib"] is not None else "–"
        lines.append(f"| {r['config']} | {r['batch']} | {r['clips_per_s']:.1f} | {r['min']:.1f}–{r['max']:.1f} | "
                     f"{1e3 * r['batch'] / r['clips_per_s']:.0f} | {r['first_step_s']:.1f} | {peak} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=None,
                        help="batches of the default plan to run (or, with --configs, every one for each); default "
                             "8 16 (--smoke: 2)")
    parser.add_argument("--frames", type=int, default=None, help="default 64 (--smoke: 8)")
    parser.add_argument("--size", type=int, default=None, help="default 224 (--smoke: 64)")
    parser.add_argument("--configs", nargs="+", default=None, choices=list(BY_NAME), metavar="NAME",
                        help=f"these configurations at every --batches instead of the default plan; names: {list(BY_NAME)}")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="steps per timed window")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (on a shared small machine, more spin against each other)")
    parser.add_argument("--port", type=Path, default=PORT_FILE, help="the port's pytorch_i3d.py")
    parser.add_argument("--json", type=Path, default=None, help="rows, rewritten after each configuration")
    parser.add_argument("--summary", type=Path, default=None, metavar="JSON",
                        help="only print the table of a --json file (e.g. of a run stopped by a time limit)")
    parser.add_argument("--smoke", action="store_true",
                        help="2 clips x 8 frames x 64^2 (unless given), 1 warm-up step, 2 windows of 1 step, no "
                             "compile: the CPU test")
    args = parser.parse_args(argv)
    if args.summary:
        rows = json.loads(args.summary.read_text())
        print(table(rows))
        return rows
    if args.smoke:
        args.warmup, args.windows, args.steps = 1, 2, 1
        args.configs = args.configs or [c.name for c in CONFIGS if not c.compile]
    args.batches = args.batches or ([2] if args.smoke else [8, 16])
    args.frames = args.frames or (8 if args.smoke else 64)
    args.size = args.size or (64 if args.smoke else 224)
    if args.configs:
        plan = [(name, batch) for batch in args.batches for name in args.configs]
    else:
        plan = [(name, batch) for name, batch in DEFAULT_PLAN if batch in args.batches]
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    has_port = args.port.is_file()
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}"
          + (f", cuDNN {torch.backends.cudnn.version()}, TF32 conv {torch.backends.cudnn.allow_tf32}"
             if device.type == "cuda" else "")
          + f"; {args.frames} frames x {args.size}^2; port: {args.port if has_port else 'absent, its rows skipped'}",
          flush=True)
    rows: list[dict] = []
    default_impl, default_bench = MaxPool3dSame.impl, torch.backends.cudnn.benchmark
    try:
        for name, batch in plan:
            cfg = BY_NAME[name]
            if cfg.model == "port" and not has_port:
                continue
            try:
                row = measure(cfg, batch, args.frames, args.size, device, args.port, warmup=args.warmup,
                              windows=args.windows, steps=args.steps)
            except torch.cuda.OutOfMemoryError:
                row = dict(config=name, batch=batch, model=cfg.model, error="out of memory")
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.json:
                args.json.write_text(json.dumps(rows, indent=1))
            if cfg.compile:
                torch._dynamo.reset()
            if device.type == "cuda":
                torch.cuda.empty_cache()
    finally:
        MaxPool3dSame.impl, torch.backends.cudnn.benchmark = default_impl, default_bench
        torch.set_num_threads(threads)
    print()
    print(table(rows))
    return rows


if __name__ == "__main__":
    main()
