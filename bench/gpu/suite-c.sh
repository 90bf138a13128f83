# What the first H200 session could not fit in its device time (run in a later session, in order of
# priority): engine GPU tests, fp16 vs bf16 at run 2's shape, the sampler's overhead, engine vs
# Trainer with repeats (run-to-run spread on that VM was large), then the study.
source bench/gpu/env.sh
START=$(date +%s)
COMMON="--weights random --dataset $DATA --steps 30 --warmup-steps 5"
PYTHONPATH=$ROOT/engine/src:$PYTHONPATH timeout 240 python3 -m pytest engine/tests -q -m gpu -p no:cacheprovider 2>&1 | tail -5
$LP run --preset paper-run2 --precision bf16 $COMMON --label prec-bf16 --json --quiet > $OUT/prec-bf16.json
$LP run --preset paper-run2 --precision fp16 $COMMON --label prec-fp16 --json --quiet > $OUT/prec-fp16.json
node $CARRY/cli/bench/sampler-overhead.mjs --cli "$LP" --repeats 3 --out $OUT/sampler.json -- --preset paper-run1 $COMMON
node $CARRY/cli/bench/baseline.mjs --cli "$LP" --out $OUT/baseline.json -- $COMMON
cp $LORAPROF_HOME/loraprof.db $OUT/suite-c.db
echo "elapsed $(( $(date +%s) - START )) s"
