#!/usr/bin/env bash
# Make the files benchmarks/gpu_check.sh takes from .gpu/, on a machine that has what a bare GPU box may lack
# (ffmpeg to decode video, opencv-contrib for the OpenCV reference, apt-get for the real clips), so that the GPU's
# time goes to the check itself. Copy or carry .gpu/ (git-ignored) to the GPU machine with the working tree.
#   .gpu/ocv.tar.xz              the installed cv2 package and its bundled libraries (OpenCV-contrib: cv2.optflow)
#   .gpu/frames_340x256.npy      17 gray frames of a rendered stand-in video, for benchmarks/flow.py --frames
#   .gpu/frames_128x96.npy       the same at the tests' size, for I3D_TEST_VIDEO_FRAMES
#   .gpu/real_pairs_340x256.npy  a frame pair of each real clip (tests/real_clips.sh fetches them), for
#                                I3D_TEST_REAL_PAIRS and benchmarks/flow.py --real-pairs
# Usage: benchmarks/gpu_files.sh   (from anywhere; ~3 min, mostly xz; rewrites the files)
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
tests/real_clips.sh
python3 -c "import numpy as np; from tests.flow_pairs import real_footage_pairs as pairs
np.save('.gpu/real_pairs_340x256.npy.tmp.npy', np.stack(pairs('resources/real_clips', 256, 340)))"
mv .gpu/real_pairs_340x256.npy.tmp.npy .gpu/real_pairs_340x256.npy
python3 -c "import cv2, numpy as np
print('cv2', cv2.__version__, '-> .gpu/ocv.tar.xz')
for name in ('frames_340x256', 'frames_128x96', 'real_pairs_340x256'):
    array = np.load(f'.gpu/{name}.npy')
    print(f'.gpu/{name}.npy', array.shape, array.dtype)"
