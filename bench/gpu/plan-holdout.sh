# The planner against configurations it was never fitted to (issue 13's "done when"), on an H200.
# Two device calls, each ≤ 8 minutes; results under $OUT as $CHECK-holdout.json and $CHECK-tune.json
# (CHECK, default h200-plan-holdout2: the check bench/lib/measured-runs.ts HOLDOUT_CHECKS lists as not
# yet spent; copy them to bench/results/ as they are: bench/plan-accuracy.ts judges the planner on them
# and no fit reads them until the check is marked spent there):
#   bash bench/gpu/plan-holdout.sh holdout   # 9 configurations: plan --json first, then run --json
#   bash bench/gpu/plan-holdout.sh tune      # tune --top 2 vs tune --all over one 16-configuration space
# Build .carry first (scripts/make-carry.sh) and pass carry [".carry"] to the device tool.
source bench/gpu/env.sh
START=$(date +%s)
PART=${1:-holdout}
CHECK=${CHECK:-h200-plan-holdout2}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/gpu-$PART.txt"
# GPU (default h200): the catalog id plan predicts for (on another card, name it and a CHECK of its own).
# DEADLINE_S (default 440): seconds this part may take, so it can share a call with other work.
DEADLINE_S=${DEADLINE_S:-440}
timeout $(( DEADLINE_S + 30 )) node $CARRY/cli/bench/plan-holdout.mjs --cli "$LP" --dataset "$DATA" --part "$PART" --gpu "${GPU:-h200}" --deadline-s "$DEADLINE_S" \
  --out "$OUT/$CHECK-$PART.json" 2> "$OUT/plan-holdout-$PART.log"
tail -5 "$OUT/plan-holdout-$PART.log"
cp "$LORAPROF_HOME/loraprof.db" "$OUT/plan-holdout-$PART.db" 2>/dev/null || true
echo "elapsed $(( $(date +%s) - START )) s"
