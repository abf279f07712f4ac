#!/usr/bin/env bash
# Make the files benchmarks/gpu_check.sh takes from .gpu/, on a machine that has what a bare GPU box may lack
# (ffmpeg to render the stand-in video, opencv-contrib for the OpenCV reference), so that the GPU's time goes to
# the check itself. Copy or carry .gpu/ (git-ignored) to the GPU machine with the working tree.
#   .gpu/ocv.tar.xz          the installed cv2 package and its bundled libraries (OpenCV-contrib: cv2.optflow)
#   .gpu/frames_340x256.npy  17 gray frames of a rendered stand-in video, for benchmarks/flow.py --frames
#   .gpu/frames_128x96.npy   the same at the tests' size, for I3D_TEST_VIDEO_FRAMES
# Usage: benchmarks/gpu_files.sh   (from anywhere; ~3 min, mostly xz; rewrites the three files)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu
site=$(python3 -c "import cv2, os; cv2.optflow; print(os.path.dirname(os.path.dirname(cv2.__file__)))")
libs=$(cd "$site" && ls -d opencv*.libs 2>/dev/null || true)  # the wheel's bundled shared libraries, if any
tar cJf .gpu/ocv.tar.xz.tmp -C "$site" cv2 $libs
mv .gpu/ocv.tar.xz.tmp .gpu/ocv.tar.xz
for size in 340x256 128x96; do
    python3 benchmarks/flow.py --sizes "$size" --save-frames ".gpu/frames_$size.npy.tmp.npy"
    mv ".gpu/frames_$size.npy.tmp.npy" ".gpu/frames_$size.npy"
done
python3 - <<'EOF'
import cv2, numpy as np
print("cv2", cv2.__version__, "->", ".gpu/ocv.tar.xz")
for size in ("340x256", "128x96"):
    frames = np.load(f".gpu/frames_{size}.npy")
    print(f".gpu/frames_{size}.npy", frames.shape, frames.dtype)
EOF
