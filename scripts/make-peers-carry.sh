#!/usr/bin/env bash
# Builds .carry-peers/peers.tar.xz: the peers' Python packages for the GPU host (Python 3.12, torch 2.11,
# transformers 5.17, peft 0.21, no network), one compressed file next to .carry/ (scripts/make-carry.sh,
# which carries bitsandbytes and liger-kernel 0.8.5). bench/gpu/peers.sh unpacks it to /tmp/peers/site and
# puts that on PYTHONPATH after the carried site. Run with carry [".carry", ".carry-peers"].
#
# Pins, and why (Requires-Dist of the wheels, read with `unzip -p WHEEL '*/METADATA'`):
# - unsloth / unsloth_zoo 2026.10.9: the newest; both declare transformers<=5.17.0, torch<2.15, peft>=0.18,
#   trl<=1.15.0, datasets<5 — the host's torch 2.11 / transformers 5.17 / peft 0.21 fit.
# - trl 1.15.0: the newest Unsloth allows (transformers>=4.56.2, datasets>=4.7, accelerate>=1.4).
# - datasets 4.8.5 (the newest <5) with dill 0.4.1, multiprocess 0.70.19 (py312) and fsspec 2026.2.0
#   (datasets wants fsspec<=2026.2.0; the host's may be newer). xxhash, pyarrow, httpx: on the host.
# - cut_cross_entropy 25.1.1: unsloth_zoo's loss path imports it (guarded); tiny.
# Left out on purpose: xformers (optional in unsloth.models._utils, falls back to SDPA; its wheels are
# built per torch and large), torchao (every import of it in unsloth is guarded; an unmatched build warns
# or breaks), vllm/flash_attn (optional), and tyro, msgspec, hf_transfer, diffusers, typer, pydantic,
# structlog, json5 (not imported on `import unsloth` / FastLanguageModel's training path: they serve the
# CLI, vLLM, downloads or Studio). Of the unsloth wheel, only unsloth/ is unpacked (studio/ is a 77 MB
# web app, unsloth_cli/ its CLI; unsloth_zoo/mlx stays: unsloth_zoo imports mlx.runtime). dist-info
# folders stay: Unsloth and transformers read package versions through importlib.metadata.
set -euo pipefail
cd "$(dirname "$0")/.."
WHL=/tmp/loraprof-peers-whl
STAGE=/tmp/loraprof-peers-stage
PINS=(
  unsloth==2026.10.9 unsloth_zoo==2026.10.9 trl==1.15.0
  datasets==4.8.5 dill==0.4.1 multiprocess==0.70.19 fsspec==2026.2.0
  cut-cross-entropy==25.1.1
)
rm -rf "$WHL" "$STAGE" .carry-peers && mkdir -p "$WHL" "$STAGE/site" .carry-peers
# Ignored by git from inside (works in a worktree too, where .git is a file): never committed, and it
# travels only when `carry` names it.
echo '*' > .carry-peers/.gitignore
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$WHL" "${PINS[@]}"
for w in "$WHL"/*.whl; do (cd "$STAGE/site" && unzip -q -o "$w"); done
rm -rf "$STAGE/site/studio" "$STAGE/site/unsloth_cli" "$STAGE/site/bin"
find "$STAGE/site" -name '__pycache__' -prune -exec rm -rf {} +
printf '%s\n' "${PINS[@]}" > "$STAGE/site/PEERS_PINS.txt"
tar -C "$STAGE" -cf - site | xz -9 -T2 > .carry-peers/peers.tar.xz
du -sh --apparent-size "$STAGE/site" .carry-peers/peers.tar.xz
# Together with .carry/ and the working tree: under the device tool's 64 MiB.
if [ -d .carry ]; then du -sh --apparent-size .carry; fi
