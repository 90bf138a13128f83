# The H200 work for issues 4 and 5, in calls of at most 10 minutes, chained while the machine is warm
# (it keeps /tmp between calls then). Modes run in the order given, each within what is left of
# DEADLINE seconds (default 560) from the start of the call:
#   study     resumes the stored study (39 runs, ~35 s each at these steps); GPUS=0,1 runs two at a time
#   gpus      the same 6-configuration sweep on one GPU (--gpus 0), then on two (--gpus 0,1): wall times
#   sampler   the sampler's overhead, paired design, 3 × 130-step runs
#   sampler-gpu  the same on a GPU-bound run
#   sampler-runs-gpu  whole runs with the sampler on vs off, 3 of each, on that GPU-bound run
#   imports   python -X importtime of the engine: where its start-up goes on this host
# GPU_SEQ (default "512, 1024, 2048") and GPU_ORDER (default "0 0,1") shape the gpus mode.
# e.g. GPUS=0,1 bash bench/gpu/suite-f.sh study gpus
# Every call returns the store as $OUT/lp.db. If the machine went cold between calls, copy that file
# to .carry/lp.db here before the next call: a call that finds no store restores it from there.
source bench/gpu/env.sh
STUDY="--weights random --dataset $DATA --steps 16 --warmup-steps 3"
START=$(date +%s)
left() { echo $(( ${DEADLINE:-560} - ($(date +%s) - START) )); }
if [ ! -f "$LORAPROF_HOME/loraprof.db" ] && [ -f .carry/lp.db ]; then
  cp .carry/lp.db "$LORAPROF_HOME/loraprof.db"
fi
{ nvidia-smi -L; nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1
  python3 -c 'import torch,transformers,peft,bitsandbytes as b; print("torch",torch.__version__,"transformers",transformers.__version__,"peft",peft.__version__,"bitsandbytes",b.__version__,"gpus",torch.cuda.device_count())'
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
gpu_spec() { # name
  cat > "/tmp/$1.json" <<JSON
{ "name": "$1", "repeats": 1, "vramBudget": null,
  "base": { "preset": "paper-run2", "weights": "random", "dataset": "$DATA", "steps": 16, "warmupSteps": 3 },
  "grid": { "batchSize": [1, 2], "seqLen": [${GPU_SEQ:-512, 1024, 2048}] } }
JSON
}
for mode in "$@"; do
  # `timeout 0` would mean no limit at all: a mode that would start with under 30 s left is skipped.
  if [ "$(left)" -lt 30 ]; then echo "skipped $mode: $(left) s of DEADLINE left"; continue; fi
  case "$mode" in
    study)
      # SIGINT at the limit: the current run is stored as cancelled and the study resumes next call.
      timeout -s INT "$(left)" $LP study paper $STUDY ${GPUS:+--gpus $GPUS} --report "$OUT/report" >> "$OUT/study.txt" 2>&1
      code=$?
      tail -25 "$OUT/study.txt"
      if [ $code -eq 0 ]; then echo "study finished"; else echo "study stopped (exit $code): call again"; break; fi
      ;;
    gpus)
      for g in ${GPU_ORDER:-0 0,1}; do
        name="gpus-${g/,/-}"; gpu_spec "$name"
        t0=$(date +%s.%N)
        timeout -s INT "$(left)" $LP sweep "/tmp/$name.json" --gpus "$g" --json > "$OUT/$name.json" 2> "$OUT/$name.err"
        code=$?
        t1=$(date +%s.%N)
        echo "sweep $name --gpus $g: exit $code, wall $(python3 -c "print(round($t1-$t0,1))") s" | tee -a "$OUT/gpus.txt"
        [ $code -eq 0 ] || { tail -5 "$OUT/$name.err"; break; }
      done
      ;;
    sampler)
      timeout -k 15 "$(left)" node $CARRY/cli/bench/sampler-overhead.mjs --cli "$LP" --design paired --repeats 3 \
        --out "$OUT/sampler-paired.json" -- --preset paper-run1 --weights random --dataset "$DATA" \
        --steps 130 --warmup-steps 10 2>&1 | tail -6
      ;;
    sampler-gpu|sampler-runs-gpu)
      # The same benchmark on a GPU-bound run (16-bit LoRA, no checkpointing, chunked loss, 16 × 2048 tokens
      # per step, ~0.4 s of GPU work by the planner): GPU-bound steps should vary far less than the
      # ~20% of the host-bound paper-run1 steps, so a 1% effect may be resolvable. sampler-gpu: paired
      # design (3 runs); sampler-runs-gpu: whole runs with the sampler on vs off (3 of each, alternating).
      if [ "$mode" = sampler-gpu ]; then design=paired; else design=runs; fi
      timeout -k 15 "$(left)" node $CARRY/cli/bench/sampler-overhead.mjs --cli "$LP" --design $design --repeats 3 \
        --out "$OUT/$mode.json" -- --preset paper-run2 --method lora --precision bf16 \
        --no-grad-checkpointing --loss chunked --batch-size 16 --seq-len 2048 --padding max_length \
        --weights random --dataset "$DATA" --steps ${SAMPLER_STEPS:-70} --warmup-steps 10 2>&1 | tail -8
      ;;
    imports)
      # Where the engine's ~16 s of imports go on this host (the slowest 25 modules, cumulative µs).
      (cd engine/src && python3 -X importtime -c "import loraprof_engine.recipe" 2> "$OUT/importtime.txt")
      sort -t'|' -k2 -n "$OUT/importtime.txt" | tail -25
      ;;
    *) echo "usage: bash bench/gpu/suite-f.sh study|gpus|sampler|sampler-gpu|sampler-runs-gpu|imports ..."; exit 2 ;;
  esac
done
cp "$LORAPROF_HOME/loraprof.db" "$OUT/lp.db"
echo "elapsed $(( $(date +%s) - START )) s"
