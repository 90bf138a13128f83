# What the open issues still owe a GPU, as parts of one device session (30 minutes, at most 10 per call,
# cold 30 s after a call: chain the calls). Each part writes under /tmp/owed-PART; the call's parts come back
# as one archive, $OUT/owed.tar.gz (the device tool returns 8 files at most), with the store's runs of the
# part as a `runs export` bundle (runs.json: `loraprof runs import` or `report --from` it here).
#   bash bench/gpu/owed.sh holdout         # call 1 (~6-8 min: the next unspent check, plan-holdout.sh's default), then
#   bash bench/gpu/owed.sh exhaustive      # call 2 (~6 min): what issue 13 still owes
#   bash bench/gpu/owed.sh gputests        # call 3 (~5 min): the 7 training-path tests (default GT_K), not run on
#                                          # a GPU since session 21 kept the sibling groups where compile falls back
# Session 21 (an H200) ran `mfu run2`, `holdout`, `exhaustive`, `study`, `b32` (run2 and b32 with 300 s
# deadlines: 3 + 2 and 2 + 2 runs); session 22 (an H100) ran `run2`, `b32`, the 14 other GPU tests
# (GT_K="not (tracks_the_reference or cuda_graphs or compiled_decoder or offloaded)") and the study's runs 1 and 3
# against Unsloth (bench/results/h100-peers-session22.json): 3 + 3 at every shape.
# Parts (issue; what each closes is in docs/gpu-host.md):
#   mfu       (12) 16-bit LoRA bf16 at b8 x s4096 without checkpointing, eager, REPEATS (2): 40% MFU (H200 only:
#             78 GiB); with PREV_ENGINE=1, alternating with .carry/prev-engine.tar.xz (an engine change's A/B)
#   run2, b32 (12) loraprof --recipe fast against Unsloth under 8 GiB, 3 + 3 alternating (carry .carry-peers)
#   study     (12) `study paper --groups presets,fast`: the planner-chosen fast arm beside the study's runs
#   holdout, exhaustive (13) the planner's next unspent held-out check, then tune against the exhaustive sweep
#   gputests  (12) the engine's GPU tests on the training path (GT_K selects others: the 14 not yet run with
#             the LoRA sibling groups are GT_K="not (tracks_the_reference or cuda_graphs or compiled_decoder or offloaded)")
# Needs .carry (scripts/make-carry.sh), and .carry-peers (scripts/make-peers-carry.sh) for run2 and b32.
set -u
FINAL=${OUT:-/tmp/out}
mkdir -p "$FINAL"
PARTS=()
COMMON="--weights random --dataset /tmp/carry/data/alpaca_random_9k.json --subset 5000 --lora-dropout 0 --steps 16 --warmup-steps 4 --vram-budget 8GiB"
for PART in "$@"; do
  export OUT=/tmp/owed-$PART
  mkdir -p "$OUT"
  PARTS+=("owed-$PART")
  {
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv
    python3 -c "import torch, transformers, peft; print(torch.__version__, transformers.__version__, peft.__version__)"
  } > "$OUT/host.txt" 2>&1
  grep -E "H100|H200" "$OUT/host.txt" | head -1
  case $PART in
    mfu)
      VARIANTS=$([ "${PREV_ENGINE:-0}" = 1 ] && echo "eager prev" || echo eager)
      DEADLINE=${MFU_DEADLINE:-240} RUN_SECONDS=${MFU_RUN_S:-110} SHAPE=${MFU_SHAPE:-"--batch-size 8 --seq-len 4096"} \
        VARIANTS=$VARIANTS REPEATS=${MFU_REPEATS:-2} bash bench/gpu/mfu.sh ;;
    run2)
      DEADLINE=${RUN2_DEADLINE:-540} PEERS_SHAPES="run2:--preset paper-run2" PEERS_FLAGS="--recipe fast" \
        PEERS_TOOLS=unsloth PEERS_SMOKE=0 PEERS_COMMON="$COMMON" bash bench/gpu/peers.sh ;;
    b32)
      DEADLINE=${B32_DEADLINE:-540} PEERS_PADDING=longest PEERS_FLAGS="--recipe fast" PEERS_TOOLS=unsloth PEERS_SMOKE=0 \
        PEERS_SHAPES="b32-s512:--preset paper-run3 --batch-size 32 --seq-len 512 --optimizer adamw_8bit" \
        PEERS_COMMON="$COMMON" bash bench/gpu/peers.sh ;;
    study)
      # shellcheck source=env.sh
      source bench/gpu/env.sh
      timeout "${STUDY_S:-300}" $LP study paper --groups presets,fast --weights random --dataset "$DATA" --steps 16 \
        --warmup-steps 3 --report "$OUT/report" > "$OUT/study.log" 2>&1
      echo "study exit $?"; tail -25 "$OUT/study.log" ;;
    holdout)
      # HOLDOUT_PARTS="holdout": the check's runs without tune (a check whose exhaustive sweep will not run)
      # shellcheck disable=SC2086
      CALL_S=${HOLDOUT_S:-540} bash bench/gpu/plan-holdout.sh ${HOLDOUT_PARTS:-holdout tune} ;;
    exhaustive)
      CALL_S=${EXHAUSTIVE_S:-540} bash bench/gpu/plan-holdout.sh exhaustive ;;
    gputests)
      # shellcheck source=env.sh
      source bench/gpu/env.sh
      timeout "${GT_S:-420}" python3 -m pytest engine/tests/test_gpu.py -q -m gpu -rA \
        -k "${GT_K:-tracks_the_reference or cuda_graphs or compiled_decoder or offloaded}" > "$OUT/gputests.log" 2>&1
      echo "gputests exit $?"; grep -E "^(PASSED|FAILED|ERROR)|passed|failed" "$OUT/gputests.log" | tail -25 ;;
    *)
      echo "unknown part $PART (mfu, run2, b32, study, holdout, exhaustive, gputests)"; exit 2 ;;
  esac
  # The part's runs as one bundle (the peers' results are in peers.json beside it).
  if [ -x /tmp/nodebin/node ] && [ -d /tmp/carry/cli ]; then
    /tmp/nodebin/node /tmp/carry/cli/loraprof.mjs runs export --all -o "$OUT/runs.json" --db "${LORAPROF_HOME:-/tmp/lp}/loraprof.db" 2>&1 | tail -1
  fi
  [ -f /tmp/peers-results.json ] && cp /tmp/peers-results.json "$OUT/peers.json"
done
(cd /tmp && tar -czf "$FINAL/owed.tar.gz" "${PARTS[@]}") && ls -la "$FINAL/owed.tar.gz"
