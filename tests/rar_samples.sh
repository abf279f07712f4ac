#!/usr/bin/env bash
# Real RAR archives for tests/test_archives.py (free tools cannot write RAR, so the tests cannot make their own):
# the RAR3/RAR4 and RAR5 samples of rarfile's test suite (solid, multi-member, unicode names, links, BLAKE2, ...),
# each with rarfile's .exp listing beside it, from rarfile's source distribution on PyPI (ISC licence: LICENSE,
# copied beside them). Fetched with `pip download` into DEST, default resources/rar_samples (git-ignored): never
# committed. Without them, the tests that need them skip and say so, except in CI (CI=true), where they fail.
# Usage: tests/rar_samples.sh [DEST]
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-resources/rar_samples}
version=4.5
if [ -f "$dest/SOURCE" ] && ls "$dest"/*.rar >/dev/null 2>&1; then
    echo "RAR samples already in $dest"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-binary :all: --no-deps "rarfile==$version" -d "$tmp"
tar xzf "$tmp/rarfile-$version.tar.gz" -C "$tmp" "rarfile-$version/test/files" "rarfile-$version/LICENSE"
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
mv "$tmp/rarfile-$version"/test/files/*.rar "$tmp/rarfile-$version"/test/files/*.rar.exp \
    "$tmp/rarfile-$version/LICENSE" "$dest.tmp/"
echo "From PyPI's rarfile-$version.tar.gz (test/files); licence: LICENSE" > "$dest.tmp/SOURCE"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "RAR samples in $dest: $(ls "$dest"/*.rar | wc -l) archives"
