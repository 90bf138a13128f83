# Session 3, calls 2 and 3: `bash bench/gpu/suite-e.sh tests` (engine GPU tests, the Node GPU tier)
# and `bash bench/gpu/suite-e.sh bench` (engine vs Trainer at runs 2 and 3, the sampler's overhead). Each ≤ 10 minutes; results under $OUT.
source bench/gpu/env.sh
export PYTHONPATH=$ROOT/engine/src:$PYTHONPATH
START=$(date +%s)
left() { echo $(( ${BUDGET:-560} - ($(date +%s) - START) )); }
COMMON="--weights random --dataset $DATA --steps 30 --warmup-steps 5"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > $OUT/gpu.txt
mkdir -p $OUT/r
if [ "$1" = tests ]; then
  timeout 330 python3 -m pytest engine/tests -m gpu -rA --tb=short -p no:cacheprovider > $OUT/r/pytest-gpu.txt 2>&1
  tail -20 $OUT/r/pytest-gpu.txt | grep -E "passed|failed|FAILED|Error" | tail -8
  echo "after pytest: $(left) s left"
  LORAPROF_CLI=$CARRY/cli/loraprof.mjs LORAPROF_TEST_DATASET=$DATA \
    timeout 150 node --test test/gpu/ > $OUT/r/node-gpu.txt 2>&1
  grep -E "^# (tests|pass|fail|skipped)|^not ok" $OUT/r/node-gpu.txt
  echo "after node tier: $(left) s left"
else
  timeout 340 node $CARRY/cli/bench/baseline.mjs --cli "$LP" --presets paper-run2,paper-run3 --repeats 2 --out $OUT/r/baseline-run23.json -- $COMMON 2> $OUT/r/baseline-run23.log | tail -4
  echo "after baseline: $(left) s left"
  timeout $(left) node $CARRY/cli/bench/sampler-overhead.mjs --cli "$LP" --repeats 3 --out $OUT/r/sampler.json -- --preset paper-run1 $COMMON 2> $OUT/r/sampler.log | tail -5
fi
cp $LORAPROF_HOME/loraprof.db $OUT/r/suite-e-$1.db
tar czf $OUT/r.tgz -C $OUT r && rm -rf $OUT/r
echo "elapsed $(( $(date +%s) - START )) s"
