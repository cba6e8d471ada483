#!/usr/bin/env bash
# bench/device.sh: the one-shot GPU check. On a bare NVIDIA machine (no network, minutes at a time)
# it unpacks what travels with the checkout (.travel/, made by tools/prepare_device.sh), selects the
# NVIDIA Vulkan driver, prints the adapter, runs the GPU tests, benchmarks the library against
# PyTorch on CUDA, and writes device.json, device.md and device.log into $OUT (or --out DIR).
#
#   bash bench/device.sh                 the real check (about 8 minutes at most)
#   bash bench/device.sh --dry-run       every stage on whatever adapter is here (lavapipe in CI),
#                                        tiny shapes, nothing unpacked into /
#   options: --out DIR  --travel DIR (default .travel)  --stages a,b,...  (default: all, in order:
#            adapter,tests,bench_gpu,presets,ssfm,profile,half; the last two run in what is left)
#   environment: MPM_DEVICE_LIMITS="tests=60,presets=90" overrides stage limits (seconds);
#                MPM_DEVICE_BUDGET total seconds (default 470); MPM_TORCH_PYTHON the peer's python;
#                MPM_DEVICE_FAKE_HANG=STAGE replaces that stage by a hang (tests the timeouts).
#
# Each stage runs under its own timeout, cut further so the whole run ends inside the budget, and
# a stage that fails or hangs does not stop the next one. The report is written whatever happened.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DRY=0
OUT_DIR="${OUT:-}"
TRAVEL="$ROOT/.travel"
STAGES="adapter,tests,bench_gpu,presets,ssfm,profile,half"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --out) OUT_DIR="$2"; shift ;;
    --out=*) OUT_DIR="${1#--out=}" ;;
    --travel) TRAVEL="$2"; shift ;;
    --stages) STAGES="$2"; shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "device.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$OUT_DIR" ] || OUT_DIR="$ROOT/device-out"
mkdir -p "$OUT_DIR" || { echo "device.sh: cannot create --out $OUT_DIR" >&2; exit 2; }
OUT_DIR=$(cd "$OUT_DIR" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mpm-device.XXXXXX")
LOG="$OUT_DIR/device.log"
: >"$LOG"
BUDGET="${MPM_DEVICE_BUDGET:-470}"
T0=$(date +%s)
REPORT_RESERVE=20

say() { echo "device.sh: $*" | tee -a "$LOG" >&2; }

# Stage limits in seconds (the real check; the dry run uses the same limits, far from them).
declare -A LIMIT=([adapter]=30 [tests]=130 [bench_gpu]=100 [presets]=150 [presets_retry]=90 [ssfm]=45
  [profile]=40 [half]=60)
IFS=',' read -ra overrides <<<"${MPM_DEVICE_LIMITS:-}"
for kv in "${overrides[@]}"; do [ -n "$kv" ] && LIMIT[${kv%%=*}]=${kv#*=}; done

# ---------------------------------------------------------------------------------------------
# Setup (not timed out: a few seconds): Deno, the Vulkan loader, the NVIDIA driver file.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$WORK/xdg}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1 PYTHONUNBUFFERED=1
mkdir -p "$WORK/bin"

unxz_to() { # unxz_to FILE.xz DEST: xz, or Python's lzma where xz is missing
  if command -v xz >/dev/null 2>&1; then xz -dc "$1" >"$2"
  else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],"wb"))' "$1" "$2"; fi
}

DENO=""
if [ -f "$TRAVEL/deno.xz" ]; then
  if unxz_to "$TRAVEL/deno.xz" "$WORK/bin/deno" && chmod +x "$WORK/bin/deno" && "$WORK/bin/deno" --version >/dev/null 2>&1; then
    DENO="$WORK/bin/deno"
  else
    say "cannot unpack $TRAVEL/deno.xz (run tools/prepare_device.sh again)"
  fi
fi
if [ -z "$DENO" ] && command -v deno >/dev/null 2>&1; then DENO=$(command -v deno); fi
if [ -z "$DENO" ]; then
  say "no Deno: neither $TRAVEL/deno.xz nor deno on the PATH (run tools/prepare_device.sh here first)"
fi
export PATH="$WORK/bin:$PATH"
say "deno: ${DENO:-none} $([ -n "$DENO" ] && "$DENO" --version | head -n 1)"

if [ "$DRY" = 1 ]; then
  # Check that what travels unpacks, without touching /.
  for f in "$TRAVEL"/debs/*.deb; do
    [ -e "$f" ] || continue
    dpkg -x "$f" "$WORK/debroot" 2>>"$LOG" || say "cannot unpack $f"
  done
else
  if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
    n=0
    for f in "$TRAVEL"/debs/*.deb; do [ -e "$f" ] && dpkg -x "$f" / && n=$((n + 1)); done
    ldconfig
    say "unpacked $n Vulkan/GL loader packages from $TRAVEL/debs"
  fi
  ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' || say "no libvulkan.so.1 after unpacking (missing $TRAVEL/debs?)"
  if [ -z "${VK_DRIVER_FILES:-}" ]; then
    for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
      /etc/vulkan/icd.d/nvidia_icd.json $(find /usr/local/nvidia /usr/share/vulkan /etc/vulkan -name 'nvidia_icd*.json' 2>/dev/null); do
      if [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd"; break; fi
    done
  fi
  say "VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset (no nvidia_icd.json found)}"
  command -v nvidia-smi >/dev/null 2>&1 &&
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader >>"$LOG" 2>&1
fi

export DENO_DIR="$WORK/deno_dir"
DF=(--cached-only --no-check)
BENCH=("$DENO" run "${DF[@]}" --allow-read --allow-write --allow-env --allow-run bench/bench.ts --json)
if [ "$DRY" = 1 ]; then
  TESTS=(tests/gpu/gpu_test.ts tests/kernels/elementwise_test.ts)
  SIZE=(--tiny)
  PRESETS_ARGS=(--only presets --tiny)
  RETRY_ARGS=(--only presets --tiny)
  HALF_ARGS=(--only presets --tiny --no-peer)
else
  TESTS=(tests/gpu tests/kernels tests/autograd tests/e2e)
  SIZE=()
  PRESETS_ARGS=(--only presets --paper-batch 1000 --peer-device cuda)
  RETRY_ARGS=(--only presets --paper-batch 250 --peer-device cuda)
  HALF_ARGS=(--only presets --paper-batch 1000 --no-peer)
fi

# ---------------------------------------------------------------------------------------------
# stage NAME CMD...: runs CMD under the stage's limit (cut to the time left), output to
# $WORK/NAME.out/.err, appended to the log; records {stage, rc, seconds, limit} in stages.jsonl.
stage() {
  local name=$1; shift
  local want=${LIMIT[$name]:-60} now left limit rc t1 t2
  now=$(date +%s)
  left=$((BUDGET - (now - T0) - REPORT_RESERVE))
  limit=$want
  [ "$left" -lt "${want%.*}" ] && limit=$left
  if [ "${limit%.*}" -le 0 ] 2>/dev/null; then
    say "stage $name skipped: the budget of ${BUDGET}s is spent"
    echo "{\"stage\":\"$name\",\"rc\":null,\"seconds\":0,\"limit\":0,\"status\":\"skipped\"}" >>"$WORK/stages.jsonl"
    return 1
  fi
  if [ -z "$DENO" ] && [ "$1" = "$DENO" ]; then
    say "stage $name skipped: no Deno"
    echo "{\"stage\":\"$name\",\"rc\":null,\"seconds\":0,\"limit\":$limit,\"status\":\"skipped\"}" >>"$WORK/stages.jsonl"
    return 1
  fi
  [ "${MPM_DEVICE_FAKE_HANG:-}" = "$name" ] && set -- sleep 3600
  say "stage $name (limit ${limit}s): $*"
  t1=$(date +%s.%N)
  timeout -k 5 "$limit" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
  rc=$?
  t2=$(date +%s.%N)
  local status=ok
  [ "$rc" -ne 0 ] && status=failed
  [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && status=timeout
  local secs
  secs=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.1f", b - a }')
  { echo "----- $name: $status (rc $rc, ${secs}s of ${limit}s) -----"; cat "$WORK/$name.out" "$WORK/$name.err"; } >>"$LOG"
  echo "{\"stage\":\"$name\",\"rc\":$rc,\"seconds\":$secs,\"limit\":$limit,\"status\":\"$status\"}" >>"$WORK/stages.jsonl"
  say "stage $name: $status in ${secs}s"
  [ "$status" = ok ]
}

has_stage() { [[ ",$STAGES," == *",$1,"* ]]; }
: >"$WORK/stages.jsonl"

if has_stage adapter; then
  if ! stage adapter "$DENO" run "${DF[@]}" --allow-env --allow-read bench/adapter_info.ts; then
    # One look at why, for the next try (the driver file, the loader, the GPU).
    { echo "diagnostics:"; ls -l /usr/local/nvidia/share/vulkan/icd.d 2>&1; ldconfig -p | grep -i -E 'vulkan|nvidia' | head -n 20
      command -v nvidia-smi >/dev/null && nvidia-smi -L; } >>"$LOG" 2>&1
  fi
  grep -q '"isFallbackAdapter":true' "$WORK/adapter.out" 2>/dev/null && [ "$DRY" = 0 ] &&
    say "warning: the adapter is a CPU fallback, not the NVIDIA GPU"
fi
has_stage tests && stage tests "$DENO" test "${DF[@]}" --allow-read --allow-write --allow-env "${TESTS[@]}"
has_stage bench_gpu && stage bench_gpu "${BENCH[@]}" --only gpu --paper-shapes "${SIZE[@]}"
if has_stage presets; then
  # The paper preset at batch 1000 where memory allows; else once more at 250.
  stage presets "${BENCH[@]}" "${PRESETS_ARGS[@]}" || stage presets_retry "${BENCH[@]}" "${RETRY_ARGS[@]}"
fi
has_stage ssfm && stage ssfm "${BENCH[@]}" --only ssfm "${SIZE[@]}"
# Where a step's time goes (device time per kernel), then the presets with f16 matmul operands.
has_stage profile && stage profile "${BENCH[@]}" --only profile "${SIZE[@]}"
if has_stage half; then
  if grep -q '"shader-f16":true' "$WORK/adapter.out" 2>/dev/null; then
    (export MPM_PRECISION=f16; stage half "${BENCH[@]}" "${HALF_ARGS[@]}")
  else
    say "stage half skipped: the adapter has no shader-f16"
  fi
fi

# ---------------------------------------------------------------------------------------------
COMMIT=$(git rev-parse HEAD 2>/dev/null || cat "$TRAVEL/commit" 2>/dev/null || echo unknown)
if [ -n "$DENO" ]; then
  timeout 30 "$DENO" run "${DF[@]}" --allow-read --allow-write bench/device_report.ts \
    --work "$WORK" --out "$OUT_DIR" --commit "$COMMIT" --dry-run "$DRY" >>"$LOG" 2>&1 ||
    say "the report failed (stage outputs are in $LOG)"
fi
say "done in $(($(date +%s) - T0))s: $OUT_DIR/device.md"
[ -f "$OUT_DIR/device.md" ] && cat "$OUT_DIR/device.md"
# Exit status: 0 when the report exists and every stage that ran passed (a failed paper batch
# that passed on retry counts as passed).
status=0
[ -f "$OUT_DIR/device.json" ] || status=1
grep -v '"stage":"presets"' "$WORK/stages.jsonl" | grep -q '"status":"\(failed\|timeout\)"' && status=1
rm -rf "$WORK"
exit "$status"
