# Issue 3/4 on an H200 (synthetic weights): the study's three presets through loraprof's engine and
# through the HF Trainer (bench/baseline.ts, bundled as $CARRY/cli/bench/baseline.mjs), then the 8 GiB budget runs and an OOM followed by a
# run that must succeed. Results land in $OUT.
source bench/gpu/env.sh
START=$(date +%s)
COMMON="--weights random --dataset $DATA"
node $CARRY/cli/bench/baseline.mjs --cli "$LP" --out $OUT/baseline.json -- $COMMON 2> $OUT/baseline.err | tee $OUT/baseline.txt
tail -3 $OUT/baseline.err
run() { # name, args...
  local name=$1; shift
  if [ $(( $(date +%s) - START )) -gt 500 ]; then echo "$name: skipped (time)"; return; fi
  $LP run "$@" $COMMON --json --quiet > $OUT/$name.json 2> $OUT/$name.err
  python3 -c "import json,sys;d=json.load(open('$OUT/$name.json'));m=d.get('metrics') or {};e=d.get('error') or {};print('$name', d.get('status'), 'real/s', m.get('realTokensPerSecond'), 'peakAlloc', m.get('peakAllocatedBytes'), 'peakDev', m.get('peakDeviceBytes'), e.get('kind'), (e.get('message') or '')[:160])" 2>&1 | tail -1
}
run budget-run2 --preset paper-run2 --vram-budget 8GiB
run oom-b16 --preset paper-run2 --vram-budget 8GiB --batch-size 16 --no-grad-checkpointing
run after-oom --preset paper-run1 --vram-budget 8GiB
$LP runs list > $OUT/runs.txt
cp $LORAPROF_HOME/loraprof.db $OUT/suite-a.db
echo "elapsed $(( $(date +%s) - START )) s"
