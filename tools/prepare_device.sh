#!/usr/bin/env bash
# tools/prepare_device.sh: prepares what travels to a bare GPU machine for bench/device.sh, in
# .travel/ (git-ignored):
#   .travel/deno.xz     this machine's Deno binary, xz-compressed (96 MB -> about 30 MB)
#   .travel/debs/*.deb  the Vulkan loader and GL dispatch packages (amd64) from Debian's archive
#   .travel/commit      the commit (and whether the tree was dirty) the check measures
# Run it once here (with network), then send the checkout with .travel to the GPU machine and run
# `bash bench/device.sh` there. Re-running refreshes the commit and reuses an up-to-date binary.
set -euo pipefail
cd "$(dirname "$0")/.."
T=.travel
mkdir -p "$T/debs"

deno_bin=$(deno eval 'console.log(Deno.execPath())' 2>/dev/null) ||
  { echo "prepare_device: no deno on the PATH (npm install -g deno@2.9.6)" >&2; exit 1; }
if [ ! -f "$T/deno.xz" ] || [ "$deno_bin" -nt "$T/deno.xz" ] ||
  [ "$(cat "$T/deno.version" 2>/dev/null)" != "$(deno --version | head -n 1)" ]; then
  echo "prepare_device: compressing $deno_bin (about 30 s)"
  xz -T0 -6 -c "$deno_bin" >"$T/deno.xz.tmp" && mv "$T/deno.xz.tmp" "$T/deno.xz"
  deno --version | head -n 1 >"$T/deno.version"
fi

# The loader packages, as the device tool's README lists them, for amd64 whatever this machine is.
pkgs=(libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
if ! ls "$T"/debs/libvulkan1_*.deb >/dev/null 2>&1; then
  lists=$(mktemp -d)
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
  mkdir -p "$lists/partial"
  apt-get "${o[@]}" update -qq
  (cd "$T/debs" && apt-get "${o[@]}" download "${pkgs[@]}")
  rm -rf "$lists"
fi

dirty=""
git diff --quiet HEAD 2>/dev/null || dirty=" (with uncommitted changes)"
echo "$(git rev-parse HEAD)$dirty" >"$T/commit"

du -sh "$T" "$T"/* | sed 's/^/prepare_device: /'
echo "prepare_device: ready. On the GPU machine, with .travel copied along: bash bench/device.sh"
