#!/usr/bin/env bash
# The GPU check, in one call on a machine with one NVIDIA GPU and PyTorch (with Triton) installed. It has two parts,
# each fitting one call of ~8 minutes; stages run in the order of what a short device lease most needs, each with its
# own time limit, and everything is written to OUTDIR as it comes (a run cut short still leaves its first stages).
#
# Part `train` (the default; issue 15, the training step), limits adding up to 7 3/4 minutes:
#   1. benchmarks/train_step.py: our I3D training step (fp32/bf16, native/separable max pool, eager/compiled,
#      batch 8 and 16, 64 x 224^2) beside the public PyTorch port's, clips/s and ratios against the port's best;
#      needs the port's model file in .gpu/port/ (benchmarks/port_fetch.sh, carried to the machine; without it
#      the port's rows are skipped);
#   2. the max pools alone, forward + backward, per implementation (benchmarks/pool.py);
#   3. the CUDA tests of the pools (exact outputs) and of bf16 training (loss curve within noise of fp32,
#      resume), then the table of stage 1.
# Part `flow` (issue 4 and later, the TV-L1 solver):
#   1. the TV-L1 benchmark at 340x256 (OpenCV, our CPU path, both CUDA iteration designs at batches 1..1024, and
#      a kernel profile of each design at batch 256: where the time goes, the iteration kernels' own GB/s);
#   2. the CUDA tests (pytest -m gpu: parity with OpenCV for both iteration designs, the ten-minute clip);
#   3. the benchmark at 224x224 (large batches only);
#   4. each kernel alone at a few (BLOCK, warps), its GB/s beside a plain copy's (benchmarks/kernels.py --measure);
#   5. the flow stage around the CUDA solver: does its JPEG work keep up? (benchmarks/flow_stage.py);
# then the short table: the best row of each implementation and size, and the tests' result line. Rows are saved
# as they come, so a stage stopped by its time limit still shows what it measured.
# Usage: benchmarks/gpu_check.sh [OUTDIR] [train|flow]   (default $OUT or /tmp/gpu_check, train). Part flow:
# expected ~4-5 minutes; the stages' time limits add up to 7 1/2.
#
# Files in .gpu/ (git-ignored), for a machine without ffmpeg or opencv-contrib: benchmarks/gpu_files.sh makes them
# elsewhere. ocv.tar.xz: cv2 with cv2.optflow (OpenCV's TV-L1, the reference), used when the machine's cv2 lacks it;
# frames_340x256.npy, frames_128x96.npy: stand-in video frames (rendering them needs ffmpeg); real_pairs_340x256.npy:
# a frame pair of each real clip of tests/real_clips.sh (without it, the real-footage test skips on a bare box).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-/tmp/gpu_check}}
part=${2:-train}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
stage() { echo "== $1 (at ${SECONDS} s)"; }

if [ "$part" = train ]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
    [ -f .gpu/port/pytorch_i3d.py ] || echo "gpu_check: no .gpu/port/pytorch_i3d.py (benchmarks/port_fetch.sh):" \
        "the port's rows are skipped" >&2
    stage "Training step: our I3D beside the port, 64 x 224^2"
    timeout 300 python3 benchmarks/train_step.py --json "$out/train_step.json" 2>&1 | tee "$out/train_step.txt"
    stage "I3D's max pools alone, forward + backward, batch 8 x 64 x 224^2"
    timeout 45 python3 benchmarks/pool.py --device cuda --batch 8 --frames 64 --size 224 --repeats 10 2>&1 \
        | tee "$out/pool.txt"
    stage "CUDA tests: pools, bf16 training"
    timeout 120 python3 -m pytest -q -p no:cacheprovider -o addopts="" tests/test_pool.py tests/test_train_step.py \
        -k "cuda or bf16" 2>&1 | tee "$out/train_tests.txt" | tail -15
    stage "done"
    echo
    [ -f "$out/train_step.json" ] && python3 benchmarks/train_step.py --summary "$out/train_step.json"
    echo "CUDA tests: $(grep -E '(passed|failed|error|skipped)' "$out/train_tests.txt" | tail -1)"
    exit 0
fi
[ "$part" = flow ] || { echo "gpu_check: part is train or flow, not $part" >&2; exit 2; }
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
timeout 120 python3 -m pytest -q -m gpu -p no:cacheprovider -o addopts="" tests/test_tvl1.py 2>&1 \
    | tee "$out/gpu_tests.txt" | tail -15
stage "TV-L1 benchmark, 224x224"
benchmark 224x224 60 --batches 256 1024
stage "Each kernel alone: GB/s per (BLOCK, warps), against a device-to-device copy"
timeout 60 python3 benchmarks/kernels.py --measure 2>&1 | tee "$out/kernels.txt"
stage "The flow stage around the CUDA solver, by --workers"
timeout 45 python3 benchmarks/flow_stage.py --backend torch --workers 1 4 8 2>&1 | tee "$out/flow_stage.txt"
stage "done"
echo
saved=()
for size in 340x256 224x224; do [ -f "$out/flow_$size.json" ] && saved+=("$out/flow_$size.json"); done
if ((${#saved[@]})); then python3 benchmarks/flow.py --summary "${saved[@]}"; fi
echo "CUDA tests: $(grep -E '(passed|failed|error|skipped)' "$out/gpu_tests.txt" | tail -1)"
