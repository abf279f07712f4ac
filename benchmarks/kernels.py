"""The TV-L1 Triton kernels compiled ahead of time for an H100 (sm_90), without a GPU: registers, spills, SASS
instructions and bytes per pixel, and what those imply for an H100 and an H200.

Triton ships ``ptxas`` and ``cuobjdump``, so ``triton.compile`` builds the real cubin here. A kernel is
memory-bound when the instructions it issues per byte fit in the SMs' issue rate at the card's bandwidth, and
issue-bound otherwise; this model (peak figures, no latency, no cache misses) says which, and the fastest each
could run. It is a yardstick for the GPU measurements, not a substitute for them.

    python benchmarks/kernels.py
"""
from __future__ import annotations

import collections
import re
import subprocess
import sys
import tempfile
from pathlib import Path

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


def main() -> None:
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
