#!/usr/bin/env bash
# The GPU check, in one call on a machine with one NVIDIA GPU and PyTorch (with Triton) installed. Stages run in
# the order of what a short device lease most needs, each with its own time limit, and everything is written to
# OUTDIR as it comes (a run cut short still leaves its first stages):
#   1. the TV-L1 benchmark at 340x256 (OpenCV, our CPU path, both CUDA iteration designs at batches 1..1024, and
#      a kernel profile of each design at batch 256: where the time goes, the iteration kernels' own GB/s);
#   2. the CUDA tests (pytest -m gpu: parity with OpenCV for both iteration designs, the ten-minute clip);
#   3. each kernel alone at a few (BLOCK, warps), its GB/s beside a plain copy's (benchmarks/kernels.py --measure);
#   4. the flow stage around the CUDA solver: does its JPEG work keep up? (benchmarks/flow_stage.py);
#   5. the benchmark at 224x224;
# then the short table: the best row of each implementation and size, and the tests' result line.
# Usage: benchmarks/gpu_check.sh [OUTDIR]   (default $OUT or /tmp/gpu_check). Takes ~3-5 minutes.
#
# Optional files in .gpu/ (not in git; make them on a machine with ffmpeg and opencv-contrib):
#   ocv.tar.xz           cv2 from opencv-contrib-python-headless (the reference) when the machine lacks cv2.optflow
#   frames_340x256.npy   stand-in video frames: python benchmarks/flow.py --save-frames .gpu/frames_340x256.npy
#   frames_128x96.npy    the tests' video frames: ... --sizes 128x96 --save-frames .gpu/frames_128x96.npy
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-/tmp/gpu_check}}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if ! python3 -c "import cv2; cv2.optflow" 2>/dev/null && [ -f .gpu/ocv.tar.xz ]; then
    mkdir -p /tmp/ocv && tar xJf .gpu/ocv.tar.xz -C /tmp/ocv && export PYTHONPATH="/tmp/ocv:$PYTHONPATH"
fi
if [ -f .gpu/frames_128x96.npy ]; then export I3D_TEST_VIDEO_FRAMES="$PWD/.gpu/frames_128x96.npy"; fi
frames=()
if [ -f .gpu/frames_340x256.npy ]; then frames=(--frames .gpu/frames_340x256.npy); fi
stage() { echo "== $1 (at ${SECONDS} s)"; }
benchmark() {  # SIZE LIMIT_S [flow.py options...]
    local size=$1 limit=$2
    shift 2
    timeout "$limit" python3 benchmarks/flow.py --sizes "$size" --batches 1 16 64 256 1024 --cpu-batches 1 \
        --opencv-pairs 32 --cuda-variants two-kernel fused "${frames[@]}" --json "$out/flow_$size.json" "$@" 2>&1 \
        | tee "$out/flow_$size.txt"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import torch, triton, cv2; print('torch', torch.__version__, '| triton', triton.__version__,
'| cv2', cv2.__version__, '| optflow', hasattr(cv2, 'optflow'), '|', torch.cuda.get_device_name())" \
    | tee -a "$out/gpu.txt"

stage "TV-L1 benchmark, 340x256"
benchmark 340x256 180 --profile 256
stage "CUDA tests, both iteration designs"
timeout 150 python3 -m pytest -q -m gpu -p no:cacheprovider -o addopts="" tests/test_tvl1.py 2>&1 \
    | tee "$out/gpu_tests.txt" | tail -15
stage "Each kernel alone: GB/s per (BLOCK, warps), against a device-to-device copy"
timeout 90 python3 benchmarks/kernels.py --measure 2>&1 | tee "$out/kernels.txt"
stage "The flow stage around the CUDA solver, by --threads"
timeout 60 python3 benchmarks/flow_stage.py --backend torch --threads 1 4 8 2>&1 | tee "$out/flow_stage.txt"
stage "TV-L1 benchmark, 224x224"
benchmark 224x224 90 --batches 64 256 1024
stage "done"
echo
saved=()
for size in 340x256 224x224; do [ -f "$out/flow_$size.json" ] && saved+=("$out/flow_$size.json"); done
if ((${#saved[@]})); then python3 benchmarks/flow.py --summary "${saved[@]}"; fi
echo "CUDA tests: $(grep -E '(passed|failed|error|skipped)' "$out/gpu_tests.txt" | tail -1)"
