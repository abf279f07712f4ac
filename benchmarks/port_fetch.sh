#!/usr/bin/env bash
# The public PyTorch I3D port that benchmarks/train_step.py measures ours against: piergiaj/pytorch-i3d's model file
# (Apache-2.0), at the repository's last commit. It is third-party code: kept in the git-ignored .gpu/port/ and never
# committed. The GPU machine has no network, so fetch it here and carry .gpu/port/ with the GPU check's run.
# Usage: benchmarks/port_fetch.sh            (writes .gpu/port/pytorch_i3d.py and checks its sha256)
set -euo pipefail
cd "$(dirname "$0")/.."
commit=05783d11f9632b25fe3d50395a9c9bb51f848d6d  # piergiaj/pytorch-i3d master, 2018-06-28
sha256=c322c3ca015dab5ee43e4d15707149d510b98931406c4a5d58b27934ed6777ed
mkdir -p .gpu/port
curl -fsSL "https://raw.githubusercontent.com/piergiaj/pytorch-i3d/$commit/pytorch_i3d.py" -o .gpu/port/pytorch_i3d.py.tmp
echo "$sha256  .gpu/port/pytorch_i3d.py.tmp" | sha256sum -c --quiet
mv .gpu/port/pytorch_i3d.py.tmp .gpu/port/pytorch_i3d.py
echo "port: .gpu/port/pytorch_i3d.py (piergiaj/pytorch-i3d@$commit)"
