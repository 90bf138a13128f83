# An engine change on the GPU (issue 12): the GPU tests it touches, then an A/B of `loraprof run` against the
# engine before it (mfu.sh's `prev` variant: .carry/prev-engine.tar.xz, `git archive REV engine/src | xz`).
#   TESTS="tracks_the_reference or cuda_graphs" REPEATS=2 bash bench/gpu/verify-engine.sh
# The A/B's shape follows the card: b8 x s4096 on an H200, b4 x s4096 on an H100 (80 GB). Results under $OUT:
# gpu-tests.txt, and the A/B's runs in mfu-ab.tar.gz (the device tool brings back 8 files at most).
START=$(date +%s)
source bench/gpu/env.sh
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
timeout "${TEST_SECONDS:-300}" python3 -m pytest engine/tests/test_gpu.py -q -m gpu \
  -k "${TESTS:-tracks_the_reference or cuda_graphs or compiled_decoder}" > "$OUT/gpu-tests.txt" 2>&1
echo "tests exit $?"; tail -4 "$OUT/gpu-tests.txt"
if grep -q H200 "$OUT/gpu.txt"; then SHAPE_DEFAULT="--batch-size 8 --seq-len 4096"; else SHAPE_DEFAULT="--batch-size 4 --seq-len 4096"; fi
LEFT=$(( ${CALL_S:-570} - ($(date +%s) - START) ))
SHAPE=${SHAPE-$SHAPE_DEFAULT} VARIANTS="eager prev" REPEATS=${REPEATS:-2} RUN_SECONDS=${RUN_SECONDS:-110} DEADLINE=$LEFT \
  bash bench/gpu/mfu.sh
(cd "$OUT" && tar -czf mfu-ab.tar.gz mfu-* && rm -f mfu-eager-* mfu-prev-*)
echo "elapsed $(( $(date +%s) - START )) s"
