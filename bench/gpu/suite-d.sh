# Session 3, call 1 (≤ 10 min): engine GPU tests, a profile + torch.compile probe of run 1's step,
# fp16 vs bf16 at run 2's shape, then engine vs Trainer (same records, 2 alternating repeats).
source bench/gpu/env.sh
export PYTHONPATH=$ROOT/engine/src:$PYTHONPATH
START=$(date +%s)
left() { echo $(( 570 - ($(date +%s) - START) )); }
COMMON="--weights random --dataset $DATA --steps 30 --warmup-steps 5"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > $OUT/gpu.txt
timeout 150 python3 -m pytest engine/tests -q -m gpu -p no:cacheprovider > $OUT/pytest-gpu.txt 2>&1; tail -3 $OUT/pytest-gpu.txt
mkdir -p $OUT/r
$LP run --preset paper-run1 --weights random --dataset $DATA --steps 4 --warmup-steps 1 --label probe-spec --json --quiet > $OUT/r/probe-spec.json
SPEC=$LORAPROF_HOME/runs/$(python3 -c "import json;print(json.load(open('$OUT/r/probe-spec.json'))['id'])")/spec.json
timeout 170 python3 bench/compile_probe.py --spec $SPEC --steps 10 --out $OUT/r/compile-probe.json > $OUT/r/compile-probe.log 2>&1; tail -12 $OUT/r/compile-probe.log
echo "after probe: $(left) s left"
$LP run --preset paper-run2 --precision bf16 $COMMON --label prec-bf16 --json --quiet > $OUT/r/prec-bf16.json
$LP run --preset paper-run2 --precision fp16 $COMMON --label prec-fp16 --json --quiet > $OUT/r/prec-fp16.json
echo "after precision: $(left) s left"
timeout $(left) node $CARRY/cli/bench/baseline.mjs --cli "$LP" --repeats 2 --out $OUT/r/baseline.json -- $COMMON 2> $OUT/r/baseline.log
cp $LORAPROF_HOME/loraprof.db $OUT/r/suite-d.db
tar czf $OUT/r.tgz -C $OUT r && rm -rf $OUT/r
echo "elapsed $(( $(date +%s) - START )) s"
