# Engine start on a GPU host (issue 18): a plain engine process vs a child forked from the zygote,
# tiny-qwen2 on CUDA (the child's own CUDA context is part of its start), and a 12-run sweep's wall
# time vs Σ measured windows + 3 s per run. Writes $OUT/gpu-engine-start.json.
#   bash bench/gpu/engine-start.sh          (REPEATS, RUNS override the defaults 3 and 12)
source bench/gpu/env.sh
timeout "${ES_TIMEOUT:-300}" node $CARRY/cli/bench/engine-start.mjs --cli "$LP" --device cuda --repeats "${REPEATS:-3}" \
  --runs "${RUNS:-12}" --steps 8 --out "$OUT/gpu-engine-start.json" 2>&1 | tail -8
