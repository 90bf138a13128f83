# Sweep throughput on one multi-GPU host (issue 19; run on nvidia-h200-x2 or -x4 with carry [".carry"]):
# the same 8-configuration sweep (the fast recipe, QLoRA and bf16 LoRA, Qwen2.5-1.5B architecture, the
# Alpaca sample) with `sweep --gpus 0`, `--gpus 0,1` and, where present, `--gpus 0,1,2,3`, each a fresh
# sweep of its own name so none resumes another. Writes $OUT/sweep-N.json (each sweep's outcome),
# $OUT/sweep-scaling.json (wall seconds per GPU count, the ratio to one GPU, the runs' summed measured
# windows) and $OUT/env.txt (GPUs, driver, NCCL and library versions). NCCL's NVLink multicast stays off.
#   DEADLINE (default 560 s from the start of the call) bounds the whole script; GPU_COUNTS overrides "1 2 4".
source bench/gpu/env.sh
export NCCL_NVLS_ENABLE=0
START=$(date +%s)
left() { echo $((${DEADLINE:-560} - ($(date +%s) - START))); }
GPUS=$(nvidia-smi --query-gpu=index --format=csv,noheader | wc -l)
{
  nvidia-smi -L
  nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1
  python3 -c 'import torch,transformers,peft; print("torch",torch.__version__,"nccl",".".join(map(str,torch.cuda.nccl.version())),"transformers",transformers.__version__,"peft",peft.__version__,"gpus",torch.cuda.device_count())'
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
cat > /tmp/sweep-scaling.json <<JSON
{ "name": "scaling", "repeats": 1, "vramBudget": "8GiB",
  "base": { "preset": "paper-run3", "recipe": "fast", "weights": "random", "dataset": "$DATA", "subset": 5000,
            "steps": 16, "warmupSteps": 4 },
  "grid": { "method": ["qlora", "lora"], "batchSize": [2, 8], "seqLen": [1024, 2048] } }
JSON
for N in ${GPU_COUNTS:-1 2 4}; do
  [ "$N" -le "$GPUS" ] || break
  [ "$(left)" -gt 60 ] || { echo "skipped $N GPUs: $(left) s left"; break; }
  LIST=$(seq -s, 0 $((N - 1)))
  sed "s/\"name\": \"scaling\"/\"name\": \"scaling-$N\"/" /tmp/sweep-scaling.json > "/tmp/sweep-scaling-$N.json"
  t0=$(date +%s%N)
  timeout -s INT "$(left)" $LP sweep "/tmp/sweep-scaling-$N.json" --gpus "$LIST" --fresh --json \
    > "$OUT/sweep-$N.json" 2> "$OUT/sweep-$N.err"
  echo "$N $(( ($(date +%s%N) - t0) / 1000000 ))" >> /tmp/sweep-walls.txt  # milliseconds
  tail -3 "$OUT/sweep-$N.err"
done
python3 - <<'PY'
import json, os
out = os.environ["OUT"]
rows, base = [], None
for line in open("/tmp/sweep-walls.txt"):
    n, wall = line.split()
    n, wall = int(n), int(wall) / 1000.0
    outcome = json.load(open(f"{out}/sweep-{n}.json")) if os.path.getsize(f"{out}/sweep-{n}.json") else {}
    base = base or wall
    rows.append({"gpus": n, "wallSeconds": wall, "speedupOverOneGpu": base / wall, "outcome": outcome})
json.dump({"benchmark": "sweep scaling (issue 19)", "rows": rows, "env": open(f"{out}/env.txt").read()},
          open(f"{out}/sweep-scaling.json", "w"), indent=1)
for r in rows:
    print(r["gpus"], "GPUs:", round(r["wallSeconds"], 1), "s, x", round(r["speedupOverOneGpu"], 2))
PY
