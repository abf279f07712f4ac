#!/usr/bin/env bash
# The GPU check, in one call on a machine with one NVIDIA GPU and PyTorch (with Triton) installed:
# the CUDA tests (pytest -m gpu), then the TV-L1 benchmark against OpenCV with a kernel profile of each CUDA
# variant at batch 256 (where the time goes, and the iteration kernels' own GB/s); the short table comes last.
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

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, triton, cv2; print('torch', torch.__version__, '| triton', triton.__version__,
'| cv2', cv2.__version__, '| optflow', hasattr(cv2, 'optflow'), '|', torch.cuda.get_device_name())"

echo "== CUDA tests"
timeout 200 python3 -m pytest -q -m gpu -p no:cacheprovider -o addopts="" tests/test_tvl1.py 2>&1 \
    | tee "$out/gpu_tests.txt" | tail -15
echo "== CUDA parity tests, one fused kernel per iteration (I3D_TVL1_FUSED_ITERATION=1)"
I3D_TVL1_FUSED_ITERATION=1 timeout 120 python3 -m pytest -q -m gpu -k "cuda and not ten_minute" \
    -p no:cacheprovider -o addopts="" tests/test_tvl1.py 2>&1 | tee "$out/gpu_tests_fused.txt" | tail -8
echo "== TV-L1 benchmark"
timeout 330 python3 benchmarks/flow.py --sizes 340x256 224x224 --batches 1 16 64 256 1024 --cpu-batches 1 \
    --opencv-pairs 32 --cuda-variants two-kernel fused --profile 256 "${frames[@]}" --json "$out/flow.json" 2>&1 \
    | tee "$out/flow.txt"
