"""The TV-L1 Triton kernels compiled ahead of time for an H100 (sm_90), without a GPU: registers, spills, SASS
instructions and bytes per pixel, and what those imply for an H100 and an H200.

Triton ships ``ptxas`` and ``cuobjdump``, so ``triton.compile`` builds the real cubin here. A kernel is
memory-bound when the instructions it issues per byte fit in the SMs' issue rate at the card's bandwidth, and
issue-bound otherwise; this model (peak figures, no latency, no cache misses) says which, and the fastest each
could run. It is a yardstick for the GPU measurements, not a substitute for them.

    python benchmarks/kernels.py              # the offline table (no GPU needed)
    python benchmarks/kernels.py --measure    # on a GPU: each kernel's GB/s per (BLOCK, warps), against a copy

``--measure`` times every kernel alone on a batch of 340×256 planes (all pairs iterating) for a few program sizes,
beside the bandwidth of a plain device-to-device copy: what the kernels reach of what the card can do, and
whether another BLOCK or warp count would serve better than the ones the solver launches with.
"""
from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from i3d.flow import tvl1_triton as T

#: Public datasheet figures: SMs, boost clock (GHz), memory bandwidth (GB/s), SXM parts.
CARDS = {"H100": (132, 1.98, 3350), "H200": (132, 1.98, 4800)}
#: DRAM bytes per pixel that each kernel must move at least (float32; neighbours assumed to hit the caches).
BYTES_PER_PIXEL = {
    "_primal_kernel": 44,  # reads u, p, Ix, Iy, rho; writes u
    "_dual_kernel": 40,  # reads u, p; writes p
    "_iteration_kernel": 60,  # reads u, p, Ix, Iy, rho; writes u, p
    "_linearise_kernel": 36,  # reads u, I0 and I1, I1x, I1y at x + u; writes Ix, Iy, rho
    "_median_kernel": 8,  # per flow plane: reads and writes it
}
CONSTEXPRS = {"_median_kernel": {"BLOCK": T.MEDIAN_BLOCK, "KSIZE": 5, "NETWORK": T.median_network(25)},
              "_decide_kernel": {"BLOCKS": 128}}


def compile_sm90(name: str):
    """Kernel ``name`` of :mod:`i3d.flow.tvl1_triton` compiled for sm_90 at its launch's warps. Pointers are not
    marked aligned (the runtime may know more), so this is the conservative build."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    kernel = getattr(T, name)
    constexprs = CONSTEXPRS.get(name, {"BLOCK": T.BLOCK})

    def arg_type(arg: str) -> str:
        if arg in constexprs:
            return "constexpr"
        if arg.endswith("_ptr"):
            return {"active_ptr": "*u8", "copy_ptr": "*u8", "iters_ptr": "*i32"}.get(arg, "*fp32")
        return "i32" if arg in ("H", "W", "nblocks") else "fp32"

    signature = {arg: arg_type(arg) for arg in kernel.arg_names}
    return triton.compile(ASTSource(fn=kernel, signature=signature, constexprs=constexprs),
                          target=GPUTarget("cuda", 90, 32), options={"num_warps": T.NUM_WARPS[name]})


def cuobjdump(compiled, flag: str) -> str:
    """``cuobjdump FLAG`` (``-res-usage``, ``-sass``) of a compiled kernel, with the cuobjdump Triton ships."""
    import triton
    tool = Path(triton.backends.nvidia.__file__).parent / "bin" / "cuobjdump"
    with tempfile.NamedTemporaryFile(suffix=".cubin") as cubin:
        cubin.write(compiled.asm["cubin"])
        cubin.flush()
        return subprocess.run([str(tool), flag, cubin.name], capture_output=True, text=True, check=True).stdout


def resources(compiled) -> dict[str, int]:
    """Per-thread resources: REG, STACK, LOCAL (spills), SHARED, ..."""
    usage = cuobjdump(compiled, "-res-usage").split("Resource usage:")[-1]
    return {key: int(value) for key, value in re.findall(r"(\w+):(\d+)", usage)}


def sass_opcodes(compiled) -> list[str]:
    """The kernel's SASS instructions (opcode names), in order; the kernels have no loops, so this is what each
    thread issues."""
    return re.findall(r"/\*[0-9a-f]{4}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]+)", cuobjdump(compiled, "-sass"))


#: (BLOCK, warps) tried by --measure; the median holds its taps in registers, so it gets smaller programs.
SWEEP = {"_median_kernel": [(128, 4), (256, 4), (512, 4)],
         "default": [(512, 4), (1024, 4), (1024, 8), (1024, 16), (2048, 8), (2048, 16)]}


def _launcher(name: str, planes: dict, n: int, h: int, w: int, block: int, warps: int):
    """A function that launches kernel ``name`` once on ``planes`` (arguments matched by name), its arguments
    built here so that timing it times the launch alone."""
    import triton
    kernel = getattr(T, name)
    constexprs = {**CONSTEXPRS.get(name, {}), "BLOCK": block}
    values = {**planes, "err_ptr": torch.empty((n, triton.cdiv(h * w, block)), device=planes["u_ptr"].device),
              "H": h, "W": w, "l_t": 0.045, "theta": 0.3, "taut": 0.25 / 0.3}
    args = [values[arg] for arg in kernel.arg_names if arg not in constexprs]
    grid = (triton.cdiv(h * w, block), 2 * n if name == "_median_kernel" else n)
    return lambda: kernel[grid](*args, **constexprs, num_warps=warps)


def _timed(fn, reps: int, device: torch.device) -> tuple[float, object]:
    """Mean seconds of ``fn()`` over ``reps`` calls after a first (compiling) call, and what that call returned."""
    first = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / reps, first


def measure(n: int = 256, h: int = 256, w: int = 340, reps: int = 20, device: str = "cuda") -> Iterator[dict]:
    """GB/s of a device-to-device copy, then of each kernel alone per (BLOCK, warps) of :data:`SWEEP`, a row at a
    time (a run cut short by a time limit keeps what it measured)."""
    dev = torch.device(device)
    gen = torch.Generator(device=dev).manual_seed(0)

    def plane(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return torch.randn((n, *shape, h, w), device=dev, generator=gen) * scale

    planes = {"u_ptr": plane(2), "p_ptr": plane(2, 2, scale=0.3), "u_out_ptr": plane(2), "p_out_ptr": plane(2, 2),
              "ix_ptr": plane(scale=20), "iy_ptr": plane(scale=20), "rho_ptr": plane(scale=10),
              "images_ptr": plane(3, scale=50) + 128, "i0_ptr": plane(scale=50) + 128,
              "active_ptr": torch.ones(n, dtype=torch.uint8, device=dev),
              "copy_ptr": torch.zeros(n, dtype=torch.uint8, device=dev)}
    planes["src_ptr"], planes["dst_ptr"] = planes["u_ptr"], planes["u_out_ptr"]
    planes["p_ptr"] = planes["p_ptr"].reshape(n, 4, h, w)
    src = torch.empty(1 << (28 if dev.type == "cuda" else 20), device=dev)
    dst = torch.empty_like(src)
    copy_gbps = 2 * src.numel() * 4 / _timed(lambda: dst.copy_(src), reps, dev)[0] / 1e9
    yield {"kernel": "copy (torch)", "block": "-", "warps": "-", "gbps": copy_gbps}
    for name, bytes_per_pixel in BYTES_PER_PIXEL.items():
        pixels = n * h * w * (2 if name == "_median_kernel" else 1)
        for block, warps in SWEEP.get(name, SWEEP["default"]):
            seconds, compiled = _timed(_launcher(name, planes, n, h, w, block, warps), reps, dev)
            yield {"kernel": name, "block": block, "warps": warps, "regs": getattr(compiled, "n_regs", None),
                   "spills": getattr(compiled, "n_spills", None), "ms": seconds * 1e3,
                   "gbps": pixels * bytes_per_pixel / seconds / 1e9}


def print_measured(rows: Iterator[dict]) -> None:
    copy_gbps = next(rows)["gbps"]
    print(f"device-to-device copy: {copy_gbps:.0f} GB/s (read + write)")
    print("| kernel | BLOCK | warps | registers | spills | ms per launch | GB/s | of the copy's |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    for r in rows:
        launched = (r["block"], r["warps"]) == (T.MEDIAN_BLOCK if r["kernel"] == "_median_kernel" else T.BLOCK,
                                                T.NUM_WARPS[r["kernel"]])
        print(f"| {r['kernel']}{' (as launched)' if launched else ''} | {r['block']} | {r['warps']} | {r['regs']} | "
              f"{r['spills']} | {r['ms']:.3f} | {r['gbps']:.0f} | {r['gbps'] / copy_gbps:.0%} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measure", action="store_true", help="time the kernels on the GPU instead")
    parser.add_argument("--batch", type=int, default=256, help="pairs per launch for --measure")
    args = parser.parse_args()
    if args.measure and not torch.cuda.is_available():
        print("--measure: no CUDA device here, nothing to time")
    elif args.measure:
        print_measured(measure(n=args.batch))
    else:
        print_offline()


def print_offline() -> None:
    header = "| kernel | warps | registers | spills (B) | SASS / pixel | top opcodes | bytes / pixel |"
    bounds = " | ".join(f"{card} bound, Gpx/s" for card in CARDS)
    print(f"{header} {bounds} |")
    print("|---" * (7 + len(CARDS)) + "|")
    for name, warps in T.NUM_WARPS.items():
        compiled = compile_sm90(name)
        res = resources(compiled)
        opcodes = sass_opcodes(compiled)
        constexprs = CONSTEXPRS.get(name, {"BLOCK": T.BLOCK})
        pixels_per_thread = constexprs.get("BLOCK", 1) / (warps * 32) if name != "_decide_kernel" else None
        per_pixel = len(opcodes) / pixels_per_thread if pixels_per_thread else None
        top = ", ".join(f"{op} {n}" for op, n in collections.Counter(o.split(".")[0] for o in opcodes).most_common(3))
        cells = [name, str(warps), str(res["REG"]), str(res["LOCAL"] + res["STACK"]),
                 f"{per_pixel:.0f}" if per_pixel else "-", top, str(BYTES_PER_PIXEL.get(name, "-"))]
        for sms, ghz, gbps in CARDS.values():
            if per_pixel and name in BYTES_PER_PIXEL:
                issue = sms * 4 * 32 * ghz / per_pixel  # G pixels/s: 4 warp-instructions per SM and cycle
                memory = gbps / BYTES_PER_PIXEL[name]
                cells.append(f"{min(issue, memory):.0f} ({'memory' if memory < issue else 'issue'})")
            else:
                cells.append("-")
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
