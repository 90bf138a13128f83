# Second H200 batch (shorter runs, 30 steps with 5 warmup): engine vs Trainer at the three presets,
# the five optimizers and fp16 vs bf16 at run 2's shape (one factor at a time), a 16-bit LoRA
# diagnostic, then sampler on/off repeats if time remains.
source bench/gpu/env.sh
START=$(date +%s)
SHORT="--steps 30 --warmup-steps 5"
COMMON="--weights random --dataset $DATA $SHORT"
node $CARRY/cli/bench/baseline.mjs --cli "$LP" --out $OUT/baseline.json -- $COMMON 2> $OUT/baseline.err | tee $OUT/baseline.txt
grep -i -m3 "error\|traceback" $OUT/baseline.err
: > $OUT/runs.jsonl
run() { # name, args...
  local name=$1; shift
  if [ $(( $(date +%s) - START )) -gt ${LIMIT:-440} ]; then echo "$name: skipped (time)"; return; fi
  local j; j=$($LP run "$@" $COMMON --json --quiet --label "$name" 2>/dev/null)
  echo "{\"name\":\"$name\",\"result\":$j}" >> $OUT/runs.jsonl
  echo "$j" | python3 -c "import json,sys;d=json.load(sys.stdin);m=d.get('metrics') or {};e=d.get('error') or {};print('$name', d.get('status'), 'real/s %.1f' % (m.get('realTokensPerSecond') or 0), 'proc/s %.1f' % (m.get('processedTokensPerSecond') or 0), 'step %.3f' % (m.get('stepSecondsMedian') or 0), 'alloc', m.get('peakAllocatedBytes'), 'dev', m.get('peakDeviceBytes'), e.get('kind') or '', (e.get('message') or '')[:120])"
}
for o in adamw_torch adamw_torch_fused adamw_8bit paged_adamw_32bit; do run opt-$o --preset paper-run2 --optimizer $o; done
run prec-bf16 --preset paper-run2 --precision bf16
run diag-lora16 --preset paper-run1 --method lora
run diag-nockpt --preset paper-run1 --no-grad-checkpointing
for i in 1 2 3; do run sampler-on-$i --preset paper-run1; LIMIT=470 run sampler-off-$i --preset paper-run1 --no-telemetry; done
cp $LORAPROF_HOME/loraprof.db $OUT/suite-b.db
echo "elapsed $(( $(date +%s) - START )) s"
