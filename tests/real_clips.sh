#!/usr/bin/env bash
# Real camera footage for the flow tests (tests/test_tvl1.py checks our TV-L1 against OpenCV on it): four short
# clips of OpenCV's sample data, as Debian ships them in its opencv-doc package (licence: its copyright file,
# copied beside them):
#   vtest.avi          pedestrians seen by a fixed camera (768x576, 10 fps)
#   tree.avi           a tree in the wind (320x240)
#   box.mp4, cup.mp4   a box and a flask moved by hand, hand-held camera (640x480, ~30 fps)
# Fetched from the Debian archive with `apt-get download` (a ~96 MB .deb; no root needed unless the package lists
# are missing) into DEST, default resources/real_clips (git-ignored): never committed. Without them, the tests
# that need them skip and say so, except in CI (CI=true), where they fail. Usage: tests/real_clips.sh [DEST]
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-resources/real_clips}
clips=(vtest.avi tree.avi box.mp4 cup.mp4)
if (cd "$dest" 2>/dev/null && ls "${clips[@]}" >/dev/null 2>&1); then
    echo "real clips already in $dest"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && apt-get download -q opencv-doc 2>/dev/null); then
    [ "$(id -u)" = 0 ] || { echo "apt-get download opencv-doc failed; as root, run apt-get update first" >&2; exit 1; }
    apt-get update -qq && (cd "$tmp" && apt-get download -q opencv-doc)
fi
doc=./usr/share/doc/opencv-doc
dpkg-deb --fsys-tarfile "$tmp"/opencv-doc_*.deb | tar x -C "$tmp" "$doc/copyright" "$doc/examples/data/vtest.avi" \
    "$doc/examples/data/tree.avi" "$doc/opencv4/html/box.mp4.gz" "$doc/opencv4/html/cup.mp4.gz"
gunzip "$tmp/$doc"/opencv4/html/*.mp4.gz
mkdir -p "$dest.tmp"
mv "$tmp/$doc"/examples/data/*.avi "$tmp/$doc"/opencv4/html/*.mp4 "$tmp/$doc/copyright" "$dest.tmp/"
echo "From Debian's $(basename "$tmp"/opencv-doc_*.deb) (OpenCV sample data); licence: copyright" > "$dest.tmp/SOURCE"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "real clips in $dest: ${clips[*]}"
