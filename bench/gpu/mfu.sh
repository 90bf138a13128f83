# MFU of 16-bit LoRA without a budget (issue 12): `loraprof run` at one shape, the eager fast recipe and the
# same with regional torch.compile of the decoder layers (--compile layers), alternating, REPEATS each.
#   SHAPE="--batch-size 8 --seq-len 4096" REPEATS=2 STEPS=24 WARMUP=4 bash bench/gpu/mfu.sh
# VARIANTS may also name `nocudnn` (the run with --no-cudnn-attention) or `prev`: the eager run on an earlier engine (.carry/prev-engine.tar.xz, made by
# `git archive REV engine/src | xz > .carry/prev-engine.tar.xz`), for an A/B of an engine change.
# Writes $OUT/mfu-VARIANT-N.json (each run's --json result) and prints each run's figures; stops starting
# runs when fewer than RUN_SECONDS (default 150) are left of DEADLINE (default 560) seconds.
START=$(date +%s)
source bench/gpu/env.sh
SHAPE=${SHAPE-"--batch-size 8 --seq-len 4096"}
# RUN: the configuration (default: 16-bit LoRA bf16 without checkpointing, the fast recipe eager); e.g. run 2
# under the 8 GiB budget: RUN="--preset paper-run2 --recipe fast --lora-dropout 0 --vram-budget 8GiB" SHAPE=""
RUN=${RUN:-"--preset paper-run3 --method lora --precision bf16 --no-grad-checkpointing --recipe fast --no-cuda-graphs --optimizer adamw_torch_fused"}
VARIANTS=${VARIANTS:-"eager compiled"}
for r in $(seq 1 "${REPEATS:-2}"); do
  for v in $VARIANTS; do
    if [ $(( ${DEADLINE:-560} - ($(date +%s) - START) )) -lt "${RUN_SECONDS:-150}" ]; then echo "skipped $v-$r: deadline"; continue; fi
    extra=""; [ "$v" = compiled ] && extra="--compile layers"
    [ "$v" = nocudnn ] && extra="--no-cudnn-attention"
    engine=$LORAPROF_ENGINE_SRC
    if [ "$v" = prev ]; then
      [ -d /tmp/prev-engine ] || { mkdir -p /tmp/prev-engine && xz -dc .carry/prev-engine.tar.xz | tar -C /tmp/prev-engine -xf -; }
      engine=/tmp/prev-engine/engine/src
    fi
    # shellcheck disable=SC2086  # flag lists
    LORAPROF_ENGINE_SRC=$engine timeout -k 10 "${RUN_SECONDS:-150}" $LP run $RUN $SHAPE --weights random \
      --dataset "$DATA" --subset 5000 --steps "${STEPS:-24}" --warmup-steps "${WARMUP:-4}" $extra \
      --label "mfu-$v-$r" --json --quiet > "$OUT/mfu-$v-$r.json" 2> "$OUT/mfu-$v-$r.err"
    echo "exit $? $v-$r"
    python3 - "$OUT/mfu-$v-$r.json" <<'PY' || tail -5 "$OUT/mfu-$v-$r.err"
import json, sys
run = json.load(open(sys.argv[1]))
m = run["metrics"]
notes = [n for n in run["loaded"]["notes"] if "compile" in n]
print(f"  {run['status']}: {m['realTokensPerSecond']:.0f} real tok/s, MFU {m['mfu']:.4f}, step median "
      f"{m['stepSecondsMedian']:.4f} s, device peak {m.get('peakDeviceBytes')} B", notes[:1])
PY
  done
done
echo "elapsed $(( $(date +%s) - START )) s"
