#!/usr/bin/env bash
# The prepared GPU check (issue 18 part 3): on a lent GPU machine, with nothing installed there but
# what travels with the checkout, measure ResNet v2 training on BACKEND=webgpu (Dawn over the GPU's
# Vulkan) against the wasm CPU path on the same machine, and train a few hundred real steps.
#
#   npm run build:gpu-check        # here, once: bench/gpu-bundle/ (esbuild bundles, Dawn linux-x64, Node)
#   (.gl/ holds the Vulkan loader deb: see BENCHMARKS.md)
#   bash bench/gpu-check.sh        # there: ~6 minutes; figures in $OUT (default bench/gpu-check-out)
#   bash bench/gpu-check.sh --tiny # here: the same steps at toy sizes on SwiftShader, to prove the path
#
# Files written to $OUT (7, within the device tool's 8): gpu-check.log (everything), summary.txt (the
# img/s lines), webgpu-d20.txt, webgpu-d56.txt (with the top kernels by GPU time), wasm-d56.txt,
# train.txt and train.csv (per-epoch metrics and img/s of the real training).
set -uo pipefail
cd "$(dirname "$0")/.."
TINY=0
[ "${1:-}" = "--tiny" ] && TINY=1
OUT=${OUT:-$PWD/bench/gpu-check-out}
mkdir -p "$OUT"
B=bench/gpu-bundle
exec > >(tee "$OUT/gpu-check.log") 2>&1
say() { echo "== $* ($(date -u +%T) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"; }
unxz_to() { xz -dc "$1" > "$2" 2>/dev/null || python3 -c 'import lzma,sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())' "$1" > "$2"; }

[ -f "$B/train-step.mjs" ] || { echo "no $B: run 'npm run build:gpu-check' before carrying it"; exit 2; }
say "machine: $(uname -m), $(nproc) cores"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

# Node: the machine's if it is 20 or newer, else (or with GPU_CHECK_CARRIED_NODE=1) the carried one.
NODE=node
if [ "${GPU_CHECK_CARRIED_NODE:-0}" = 1 ] || ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -lt 20 ]; then
  unxz_to "$B/node.xz" /tmp/gpu-check-node && chmod +x /tmp/gpu-check-node && NODE=/tmp/gpu-check-node
fi
say "node $($NODE --version) ($NODE)"
DAWN=$B/node_modules/webgpu/dist/linux-x64
[ -f "$DAWN/dawn.node" ] || unxz_to "$DAWN/dawn.node.xz" "$DAWN/dawn.node"

if [ "$TINY" = 1 ]; then
  # SwiftShader's Vulkan (from @sparticuz/chromium in the checkout's node_modules); toy sizes.
  export WEBGPU_DRIVER=swiftshader
  SIZE="--depth 11 --batch 8 --image-size 16"; D56="$SIZE"; STEPS=1; SPEC=$B/gpu-check-tiny.json
  T_AUTO=300; T_D20=300; T_D56=300; T_WASM=120; T_TRAIN=300
else
  # The GPU's Vulkan: the loader from the carried debs if the machine has none, NVIDIA's ICD.
  if ! ldconfig -p | grep -q 'libvulkan.so.1 '; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -f "$icd" ] && export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd
  export WEBGPU_DRIVER=system
  SIZE="--depth 20 --batch 64"; D56="--depth 56 --batch 64"; STEPS=10; SPEC=$B/gpu-check.json
  T_AUTO=60; T_D20=90; T_D56=120; T_WASM=60; T_TRAIN=180
fi
say "vulkan: $(ldconfig -p | grep -c libvulkan) loader entries; VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"

say "BACKEND=auto must pick webgpu on a real GPU (and never on SwiftShader)"
timeout $T_AUTO $NODE $B/train-step.mjs --backend auto --depth 11 --batch 8 --image-size 16 --steps 0 2>&1 | grep -E '^backend|^ResNet'

say "webgpu $SIZE"
timeout $T_D20 $NODE $B/train-step.mjs --backend webgpu $SIZE --steps $STEPS --profile 2>&1 | tee "$OUT/webgpu-d20.txt"
say "webgpu $D56"
timeout $T_D56 $NODE $B/train-step.mjs --backend webgpu $D56 --steps $STEPS --profile 2>&1 | tee "$OUT/webgpu-d56.txt"
say "wasm (the CPU path, same machine, same hour) $D56"
timeout $T_WASM $NODE $B/train-step.mjs --backend wasm $D56 --steps 1 2>&1 | tee "$OUT/wasm-d56.txt"
say "real training on webgpu: $SPEC"
timeout $T_TRAIN $NODE $B/train.mjs --spec "$SPEC" --backend webgpu --out "$OUT/train.csv" --progress-every 50 2>&1 | tee "$OUT/train.txt"

say "summary"
{
  for f in webgpu-d20 webgpu-d56 wasm-d56; do
    echo "$f: $(grep -m1 '^ResNet' "$OUT/$f.txt") | $(grep '^img/s' "$OUT/$f.txt" || echo 'no img/s: see gpu-check.log')"
  done
  echo "training (img/s per epoch, training steps only):"
  cat "$OUT/train.csv" 2>/dev/null || echo "no train.csv: see gpu-check.log"
} | tee "$OUT/summary.txt"
