# The planner against configurations it was never fitted to (issue 13's "done when"), on a GPU.
# Parts, one or more per device call (each call ≤ 10 minutes); results under $OUT as $CHECK-<part>.json
# (CHECK: the check bench/lib/measured-runs.ts HOLDOUT_CHECKS lists as not yet spent, named for the card
# found here, e.g. h200-plan-holdout3 or h100-plan-holdout4; copy the files to bench/results/ as they are:
# bench/plan-accuracy.ts judges the planner on them and no fit reads them until the check is spent):
#   bash bench/gpu/plan-holdout.sh holdout tune     # the check's configurations (9 in check 15) (plan --json for each, then
#                                                   # one sweep of them: ~4 min), then tune --top 2 (~1.5 min)
#   bash bench/gpu/plan-holdout.sh exhaustive       # tune --all over the tune's 32 configurations (~5-8 min);
#                                                   # again resumes a sweep a call's deadline cut
# A resumed exhaustive sweep needs the store it started in: the same warm machine (LORAPROF_HOME), or the
# previous call's $OUT/plan-holdout-exhaustive.db and $CHECK-exhaustive.json copied to .carry/holdout/
# (its wall time is added to this call's). Build .carry first (scripts/make-carry.sh) and pass carry [".carry"].
CALL_START=$(date +%s)
source bench/gpu/env.sh
# CALL_S (default 560): seconds this call may take in all, env setup included; the parts share what is left.
# CONFIGS: the configuration set of bench/plan-holdout.ts, by default the next check not yet run: holdout15 on
# either card (session 28 spent check 14: the graphs' pool rule its chunked-loss run prompted, and a refit with its
# runs). Session 29 ran its holdout part on an H200 (h200-plan-holdout15-holdout.json; its tune part, on the same
# card, is still to run: HOLDOUT_PARTS="tune exhaustive" through owed.sh); an H100 has not run it. After it, a card
# needs a new set.
CALL_S=${CALL_S:-560}
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
case "$GPU_NAME" in
  *H200*) CARD=h200 ;;
  *H100*) CARD=h100 ;;
  *) CARD=other ;;
esac
# GPU: the catalog id plan predicts for (h200, or h100-sxm on an H100); CHECK: the result files' name.
GPU=${GPU:-$([ "$CARD" = h100 ] && echo h100-sxm || echo h200)}
CONFIGS=${CONFIGS:-holdout15}
CHECK=${CHECK:-$CARD-plan-$CONFIGS}
echo "card: $GPU_NAME -> --gpu $GPU, check $CHECK"
SAVED=.carry/holdout
if [ -f "$SAVED/loraprof.db" ] && [ ! -f "$LORAPROF_HOME/loraprof.db" ]; then
  mkdir -p "$LORAPROF_HOME" && cp "$SAVED/loraprof.db" "$LORAPROF_HOME/loraprof.db"
  echo "restored the store of the previous call ($SAVED/loraprof.db)"
fi
# A check writes a synthetic checkpoint per model (Qwen3-14B's is 29.5 GB; the host has 64 GiB of disk): where
# an earlier call on this lease left too little room, the cached checkpoints go (the engine writes them again).
FREE_GB=$(df -Pk "$LORAPROF_CACHE" 2>/dev/null | awk 'NR==2 {print int($4 / 1048576)}')
if [ -d "$LORAPROF_CACHE/checkpoints" ] && [ "${FREE_GB:-0}" -lt "${MIN_FREE_GB:-55}" ]; then
  echo "${FREE_GB} GB free: clearing $LORAPROF_CACHE/checkpoints ($(du -sh "$LORAPROF_CACHE/checkpoints" | cut -f1))"
  rm -rf "$LORAPROF_CACHE/checkpoints"
fi
for PART in "${@:-holdout}"; do
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/gpu-$PART.txt"
  LEFT=$(( CALL_S - ($(date +%s) - CALL_START) ))
  if [ "$LEFT" -lt 60 ]; then echo "skipped $PART: ${LEFT} s left of CALL_S=$CALL_S (run it in a call of its own)"; continue; fi
  EXTRA=()
  # holdout and exhaustive run as named sweeps: the same part again resumes what a deadline cut
  [ "$PART" = holdout ] && EXTRA=(--sweep "$CHECK-holdout")
  if [ "$PART" = exhaustive ]; then
    EXTRA=(--sweep "$CHECK-exhaustive")
    [ -f "$SAVED/$CHECK-exhaustive.json" ] && EXTRA+=(--previous "$SAVED/$CHECK-exhaustive.json")
  fi
  timeout $(( LEFT + 20 )) node $CARRY/cli/bench/plan-holdout.mjs --cli "$LP" --dataset "$DATA" --part "$PART" --gpu "$GPU" \
    --configs "$CONFIGS" --deadline-s "$LEFT" "${EXTRA[@]}" --out "$OUT/$CHECK-$PART.json" 2> "$OUT/plan-holdout-$PART.log"
  tail -5 "$OUT/plan-holdout-$PART.log"
  cp "$LORAPROF_HOME/loraprof.db" "$OUT/plan-holdout-$PART.db" 2>/dev/null || true
done
echo "elapsed $(( $(date +%s) - CALL_START )) s"
# The device tool brings back 8 files at most: logs, GPU lines and stores in one archive.
(cd "$OUT" && tar -czf plan-holdout-extra.tar.gz gpu-*.txt plan-holdout-*.log plan-holdout-*.db 2>/dev/null \
  && rm -f gpu-*.txt plan-holdout-*.log plan-holdout-*.db)
