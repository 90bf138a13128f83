# Data-parallel scaling on one GPU host (run on nvidia-h200-x2 / -x4): the same LoRA shape with
# `run --nproc-per-node N` for N = 1, 2, … up to the GPUs present, next to the planner's
# `plan --nproc-per-node N` prediction. Writes $OUT/ddp-run-N.json (the stored run: tokens/s over
# all ranks, metrics.ranks with each rank's allocator peaks) and $OUT/ddp-plan-N.json, then
# $OUT/ddp-scaling.json: measured vs predicted per-rank device peak and speed-up per N.
# The planner's NCCL buffer size and all-reduce bandwidth are assumptions until this has run.
source bench/gpu/env.sh
GPUS=$(nvidia-smi --query-gpu=index --format=csv,noheader | wc -l)
SHAPE="--model qwen2.5-1.5b-instruct --weights random --dataset $DATA --method lora --precision bf16 --batch-size 4 --seq-len 1024 --grad-accum 2 --steps 30 --warmup-steps 5"
for N in 1 2 4 8; do
  [ "$N" -le "$GPUS" ] || break
  $LP plan --gpu h200 $SHAPE --nproc-per-node $N --json > $OUT/ddp-plan-$N.json 2> $OUT/ddp-plan-$N.err
  NCCL_NVLS_ENABLE=0 $LP run $SHAPE --nproc-per-node $N --json > $OUT/ddp-run-$N.json 2> $OUT/ddp-run-$N.err
  tail -3 $OUT/ddp-run-$N.err
done
python3 - <<'PY'
import json, os, glob
out = os.environ["OUT"]
rows = []
base = None
for path in sorted(glob.glob(f"{out}/ddp-run-*.json"), key=lambda p: int(p.rsplit("-", 1)[1].split(".")[0])):
    n = int(path.rsplit("-", 1)[1].split(".")[0])
    run = json.load(open(path))
    plan = json.load(open(f"{out}/ddp-plan-{n}.json"))
    m = run.get("metrics") or {}
    tps = m.get("realTokensPerSecond")
    base = base or tps
    ranks = m.get("ranks") or {}
    rows.append({
        "ranks": n,
        "status": run.get("status"),
        "realTokensPerSecond": tps,
        "measuredSpeedup": (tps / base) if tps and base else None,
        "predictedSpeedup": (plan.get("ranks") or {}).get("scaling", {}).get("speedup"),
        # Allocator peaks: the engine reports each rank's torch.cuda.max_memory_allocated (NVML: rank 0 only).
        "measuredMaxRankAllocatedBytes": ranks.get("maxPeakAllocatedBytes", m.get("peakAllocatedBytes")),
        "predictedPerRankAllocatedBytes": (plan.get("ranks") or {}).get("perRank", {}).get("allocatorPeakBytes"),
        "measuredRank0DeviceBytes": m.get("peakDeviceBytes"),
        "predictedPerRankDevicePeakBytes": (plan.get("ranks") or {}).get("perRank", {}).get("devicePeakBytes"),
        "ranksMetrics": ranks,
    })
json.dump(rows, open(f"{out}/ddp-scaling.json", "w"), indent=2)
print(json.dumps(rows, indent=2)[:3000])
PY
