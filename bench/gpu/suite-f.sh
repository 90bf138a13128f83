# The H200 work left for a later session, in calls of at most 10 minutes, chained while the machine
# is warm (it keeps /tmp between calls then):
#   bash bench/gpu/suite-f.sh study     again and again until it says "study finished": each call
#                                       resumes the stored study (39 runs, ~35 s each at these steps)
#   bash bench/gpu/suite-f.sh sampler   the sampler's overhead, paired design, 3 × 130-step runs
# Every call returns the store as $OUT/lp.db. If the machine went cold between calls, copy that file
# to .carry/lp.db here before the next call: a call that finds no store restores it from there.
source bench/gpu/env.sh
STUDY="--weights random --dataset $DATA --steps 16 --warmup-steps 3"
START=$(date +%s)
case "${1:-}" in
  study)
    if [ ! -f "$LORAPROF_HOME/loraprof.db" ] && [ -f .carry/lp.db ]; then
      cp .carry/lp.db "$LORAPROF_HOME/loraprof.db"
    fi
    # SIGINT at the limit: the current run is stored as cancelled and the study resumes next call.
    timeout -s INT "${LIMIT:-540}" $LP study paper $STUDY --report "$OUT/report" > "$OUT/study.txt" 2>&1
    code=$?
    tail -30 "$OUT/study.txt"
    if [ $code -eq 0 ]; then echo "study finished"; else echo "study stopped (exit $code): call again"; fi
    ;;
  sampler)
    timeout 560 node bench/sampler-overhead.mjs --cli "$LP" --design paired --repeats 3 \
      --out "$OUT/sampler-paired.json" -- --preset paper-run1 --weights random --dataset "$DATA" \
      --steps 130 --warmup-steps 10 2>&1 | tail -6
    ;;
  *) echo "usage: bash bench/gpu/suite-f.sh study|sampler"; exit 2 ;;
esac
cp "$LORAPROF_HOME/loraprof.db" "$OUT/lp.db"
echo "elapsed $(( $(date +%s) - START )) s"
