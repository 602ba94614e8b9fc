#!/usr/bin/env bash
# Parity and CPU latency of the zoo-torchvision plugin's models, through `zoo bench`, with the
# plugin installed as a real distribution into a temporary target beside zoo.
#
#   bash benchmarks/torchvision_plugin.sh [OUT.md]      (default: /tmp/zoo-torchvision-bench.md)
#
# Fresh weights, CIFAR-10-shaped input (3x32x32, 10 classes), random inputs for parity.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/zoo-torchvision-bench.md}
site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation --no-index --target "$site" ./plugins/zoo-torchvision
: > "$out"
for model in resnet18 resnet50 mobilenet_v3_small efficientnet_b0 vit_b_16; do
  PYTHONPATH="$site" .venv/bin/zoo bench "$model" --input-shape 3,32,32 --num-classes 10 \
    --batch-sizes 1,32 --test-samples 64 --max-time 5 --report "$site/$model.md"
  cat "$site/$model.md" >> "$out"
  echo >> "$out"
done
echo "wrote $out"
