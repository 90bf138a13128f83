#!/usr/bin/env bash
# Builds .carry/ for a GPU host with Python 3.12 + torch but no Node, npm or network (the workplace's
# H200 machines): a Node binary, the bundled CLI, bitsandbytes (CUDA 13 libraries only), liger-kernel, jsonschema
# for the engine's tests, unpacked for PYTHONPATH, and the Alpaca sample from ../shared (carried, never
# committed). Then: run with carry [".carry"] and `source bench/gpu/env.sh` first (docs/gpu-host.md).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.carry/' .git/info/exclude 2>/dev/null || echo '/.carry/' >> .git/info/exclude
rm -rf .carry && mkdir -p .carry/site .carry/data /tmp/loraprof-whl
xz -T2 -c "$(command -v node)" > .carry/node.xz
node scripts/bundle.mjs .carry/cli  # both tokenizers: Qwen and Llama 3 (the planner holdout runs Llama 3.2 and 3.1)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d /tmp/loraprof-whl bitsandbytes==0.50.2 liger-kernel==0.8.5 jsonschema jsonschema-specifications referencing rpds-py attrs
for w in /tmp/loraprof-whl/*.whl; do (cd .carry/site && unzip -q -o "$w"); done
rm -f .carry/site/bitsandbytes/libbitsandbytes_cuda1[12]*.so .carry/site/bitsandbytes/libbitsandbytes_rocm*.so .carry/site/bitsandbytes/libbitsandbytes_xpu*.so
cp ../shared/data/alpaca/alpaca_random_9k.json .carry/data/
# Compressed (the device tool carries 64 MiB in all, working tree and peers' wheels included);
# bench/gpu/env.sh unpacks them under /tmp/carry.
for d in cli site data; do tar -C .carry -cf - "$d" | xz -T2 -6 > ".carry/$d.tar.xz" && rm -rf ".carry/$d"; done
du -sh --apparent-size .carry   # must stay under the device tool's 64 MiB with the working tree
