"""Forward + backward time of I3D's max pools by ``MaxPool3dSame.impl`` (native 3-D pool vs three 1-D maxes).

Every max pool of the I3D RGB model (the four strided ones and each Inception module's 3x3x3 stride-1 pool), on
random inputs of the shapes it sees at ``--batch`` x ``--frames`` x ``--size``^2, channels_last_3d, timed one
implementation after another within each repeat (so a loaded machine slows all alike); prints per-layer medians and
the totals' ratios against ``native``. Only ratios from one run mean anything on a shared machine.

    nice -n 19 python benchmarks/pool.py                                   # CPU: 1 x 16 x 112^2, fp32 and bf16
    python benchmarks/pool.py --device cuda --batch 8 --frames 64 --size 224
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from i3d.models import InceptionI3d
from i3d.models.layers import POOL_IMPLS, MaxPool3dSame


def pool_inputs(batch: int, frames: int, size: int) -> list[tuple[str, MaxPool3dSame, torch.Size]]:
    """(name, module, input shape) of every max pool of I3D, traced on the meta device."""
    model = InceptionI3d(num_classes=400).to("meta")
    found = []
    hooks = [module.register_forward_hook(lambda m, args, out, name=name: found.append((name, m, args[0].shape)))
             for name, module in model.named_modules() if isinstance(module, MaxPool3dSame)]
    with torch.no_grad():
        model(torch.empty(batch, 3, frames, size, size, device="meta"))
    for hook in hooks:
        hook.remove()
    return found


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--impls", nargs="+", default=list(POOL_IMPLS), choices=POOL_IMPLS)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    layers = pool_inputs(args.batch, args.frames, args.size)
    print(f"{len(layers)} max pools of I3D at {args.batch} x {args.frames} x {args.size}^2 on {device}, "
          f"channels_last_3d, forward + backward, median of {args.repeats}")
    for dtype_name in args.dtypes:
        dtype = dict(fp32=torch.float32, bf16=torch.bfloat16)[dtype_name]
        g = torch.Generator().manual_seed(0)
        inputs = [torch.randn(shape, generator=g).to(device, dtype).to(memory_format=torch.channels_last_3d)
                  .requires_grad_() for _, _, shape in layers]
        times = {(impl, name): [] for impl in args.impls for name, _, _ in layers}
        for repeat in range(args.repeats + 1):  # the first round warms up
            for impl in args.impls:
                for (name, module, _), x in zip(layers, inputs):
                    module.impl = impl
                    sync(device)
                    tic = time.perf_counter()
                    y = module(x)
                    y.backward(torch.ones_like(y))
                    sync(device)
                    if repeat:
                        times[impl, name].append(time.perf_counter() - tic)
                    x.grad = None
        median = {key: statistics.median(v) for key, v in times.items()}
        print(f"\n{dtype_name}: ms per layer (forward + backward)")
        print(f"{'layer':<22} {'input':<26}" + "".join(f"{impl:>16}" for impl in args.impls))
        for name, module, shape in layers:
            print(f"{name:<22} {'x'.join(map(str, shape)):<26}"
                  + "".join(f"{1e3 * median[impl, name]:16.2f}" for impl in args.impls))
        total = {impl: sum(median[impl, name] for name, _, _ in layers) for impl in args.impls}
        print(f"{'total':<49}" + "".join(f"{1e3 * total[impl]:16.2f}" for impl in args.impls))
        if "native" in total:
            print(f"{'native / impl':<49}" + "".join(f"{total['native'] / total[impl]:15.2f}x" for impl in args.impls))


if __name__ == "__main__":
    main()
