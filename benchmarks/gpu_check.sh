#!/usr/bin/env bash
# The GPU check: every GPU test and the benchmarks a short device lease most needs, in one call of at most ~8
# minutes on a machine with one NVIDIA GPU and PyTorch (with Triton). Stages run most needed first, each with its
# own time limit, and everything is written to OUTDIR as it comes (a run cut short still leaves its first stages).
#
# Default part (`all`), limits adding up to 8 minutes:
#   1. benchmarks/train_step.py (issue 15): our I3D training step (fp32/bf16, native/separable max pool,
#      eager/compiled, batch 8 and 16, 64 x 224^2) beside the public PyTorch port's, clips/s and ratios against the
#      port's best; needs the port's model file in .gpu/port/ (benchmarks/port_fetch.sh, carried to the machine;
#      without it the port's rows are skipped);
#   2. the training loader (benchmarks/loader.py): frames/s per core against raw JPEG decoding, by worker count,
#      and an I3D training step fed from a shard by the loader against the same step on a resident batch;
#   3. the max pools alone, forward + backward, per implementation (benchmarks/pool.py);
#   4. the CUDA tests of the pools (exact outputs) and of bf16 training (loss within noise of fp32, resume);
#   5. the CUDA tests of TV-L1 (pytest -m gpu: parity with OpenCV for both iteration designs, the ten-minute clip);
#   6. the flow stage around the CUDA solver (benchmarks/flow_stage.py): does its JPEG work keep up?
# then the short tables: the training step's rows, the loader's lines and the tests' result lines.
# Part `flow` (the TV-L1 solver in depth, ~4-5 minutes, limits adding up to 7 1/2):
#   1. the TV-L1 benchmark at 340x256 (OpenCV, our CPU path, both CUDA iteration designs at batches 1..1024, and
#      a kernel profile of each design at batch 256: where the time goes, the iteration kernels' own GB/s);
#   2. the CUDA tests (as in 4 above);
#   3. the benchmark at 224x224 (large batches only);
#   4. each kernel alone at a few (BLOCK, warps), its GB/s beside a plain copy's (benchmarks/kernels.py --measure);
#   5. the flow stage (as in 5 above);
# then the best row of each implementation and size, and the tests' result line.
# Usage: benchmarks/gpu_check.sh [OUTDIR] [all|flow]   (default $OUT or /tmp/gpu_check, all).
#
# Files in .gpu/ (git-ignored), for a machine without ffmpeg or opencv-contrib: benchmarks/gpu_files.sh makes them
# elsewhere. ocv.tar.xz: cv2 with cv2.optflow (OpenCV's TV-L1, the reference), used when the machine's cv2 lacks it;
# frames_340x256.npy, frames_128x96.npy: stand-in video frames (rendering them needs ffmpeg); real_pairs_340x256.npy:
# a frame pair of each real clip of tests/real_clips.sh (without it, the real-footage test skips on a bare box).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-/tmp/gpu_check}}
part=${2:-all}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
stage() { echo "== $1 (at ${SECONDS} s)"; }
if ! python3 -c "import cv2; cv2.optflow" 2>/dev/null && [ -f .gpu/ocv.tar.xz ]; then
    mkdir -p /tmp/ocv && tar xJf .gpu/ocv.tar.xz -C /tmp/ocv && export PYTHONPATH="/tmp/ocv:$PYTHONPATH"
fi
if [ -f .gpu/frames_128x96.npy ]; then export I3D_TEST_VIDEO_FRAMES="$PWD/.gpu/frames_128x96.npy"; fi
inputs=()  # benchmarks/flow.py's saved frames and real pairs
if [ -f .gpu/frames_340x256.npy ]; then inputs=(--frames .gpu/frames_340x256.npy); fi
if [ -f .gpu/real_pairs_340x256.npy ]; then
    export I3D_TEST_REAL_PAIRS="$PWD/.gpu/real_pairs_340x256.npy"
    inputs+=(--real-pairs .gpu/real_pairs_340x256.npy)
fi

[ "$part" = all ] || [ "$part" = flow ] || { echo "gpu_check: part is all or flow, not $part" >&2; exit 2; }
flow_tests() {  # LIMIT_S
    timeout "$1" python3 -m pytest -q -m gpu -p no:cacheprovider -o addopts="" tests/test_tvl1.py 2>&1 \
        | tee "$out/gpu_tests.txt" | tail -15
}
flow_stage() {
    timeout 45 python3 benchmarks/flow_stage.py --backend torch --workers 1 4 8 2>&1 | tee "$out/flow_stage.txt"
}
if [ "$part" = all ]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
    [ -f .gpu/port/pytorch_i3d.py ] || echo "gpu_check: no .gpu/port/pytorch_i3d.py (benchmarks/port_fetch.sh):" \
        "the port's rows are skipped" >&2
    stage "Training step: our I3D beside the port, 64 x 224^2"
    timeout 210 python3 benchmarks/train_step.py --json "$out/train_step.json" 2>&1 | tee "$out/train_step.txt"
    stage "The training loader: frames/s per core vs raw JPEG decode; loader-fed vs model-only I3D step"
    frames_npy=()
    if [ -f .gpu/frames_340x256.npy ]; then frames_npy=(--frames-npy .gpu/frames_340x256.npy); fi
    timeout 45 python3 benchmarks/loader.py --step --seconds 2 --workers 1 4 8 14 "${frames_npy[@]}" \
        --json "$out/loader.json" 2>&1 | tee "$out/loader.txt"
    stage "I3D's max pools alone, forward + backward, batch 8 x 64 x 224^2"
    timeout 30 python3 benchmarks/pool.py --device cuda --batch 8 --frames 64 --size 224 --repeats 10 2>&1 \
        | tee "$out/pool.txt"
    stage "CUDA tests: pools, bf16 training"
    timeout 90 python3 -m pytest -q -p no:cacheprovider -o addopts="" tests/test_pool.py tests/test_train_step.py \
        -k "cuda or bf16" 2>&1 | tee "$out/train_tests.txt" | tail -15
    stage "CUDA tests: TV-L1, both iteration designs"
    flow_tests 60
    stage "The flow stage around the CUDA solver, by --workers"
    flow_stage
    stage "done"
    echo
    [ -f "$out/train_step.json" ] && python3 benchmarks/train_step.py --summary "$out/train_step.json"
    [ -f "$out/loader.json" ] && python3 benchmarks/loader.py --summary "$out/loader.json"
    echo "CUDA tests, training: $(grep -E '(passed|failed|error|skipped)' "$out/train_tests.txt" | tail -1)"
    echo "CUDA tests, TV-L1: $(grep -E '(passed|failed|error|skipped)' "$out/gpu_tests.txt" | tail -1)"
    exit 0
fi
if ! python3 -c "import cv2; cv2.optflow" 2>/dev/null; then
    echo "gpu_check: no cv2.optflow (OpenCV-contrib), the reference of every row and test; make .gpu/ocv.tar.xz" \
        "with benchmarks/gpu_files.sh on a machine that has it" >&2
    exit 2
fi
if ! { [ -f .gpu/frames_340x256.npy ] && [ -f .gpu/frames_128x96.npy ]; } \
    && ! python3 -c "from i3d.data.video import ffmpeg_exe; ffmpeg_exe()" 2>/dev/null; then
    echo "gpu_check: no .gpu/frames_*.npy and no ffmpeg to render the stand-in video; make .gpu/ with" \
        "benchmarks/gpu_files.sh on a machine that has ffmpeg" >&2
    exit 2
fi
benchmark() {  # SIZE LIMIT_S [flow.py options...]
    local size=$1 limit=$2
    shift 2
    timeout "$limit" python3 benchmarks/flow.py --sizes "$size" --batches 1 16 64 256 1024 --cpu-batches 4 \
        --opencv-pairs 32 --cuda-variants two-kernel fused "${inputs[@]}" --json "$out/flow_$size.json" "$@" 2>&1 \
        | tee "$out/flow_$size.txt"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import torch, triton, cv2; print('torch', torch.__version__, '| triton', triton.__version__,
'| cv2', cv2.__version__, '| optflow', hasattr(cv2, 'optflow'), '|', torch.cuda.get_device_name())" \
    | tee -a "$out/gpu.txt"

stage "TV-L1 benchmark, 340x256"
benchmark 340x256 150 --profile 256
stage "CUDA tests, both iteration designs"
flow_tests 120
stage "TV-L1 benchmark, 224x224"
benchmark 224x224 60 --batches 256 1024
stage "Each kernel alone: GB/s per (BLOCK, warps), against a device-to-device copy"
timeout 60 python3 benchmarks/kernels.py --measure 2>&1 | tee "$out/kernels.txt"
stage "The flow stage around the CUDA solver, by --workers"
flow_stage
stage "done"
echo
saved=()
for size in 340x256 224x224; do [ -f "$out/flow_$size.json" ] && saved+=("$out/flow_$size.json"); done
if ((${#saved[@]})); then python3 benchmarks/flow.py --summary "${saved[@]}"; fi
echo "CUDA tests: $(grep -E '(passed|failed|error|skipped)' "$out/gpu_tests.txt" | tail -1)"
