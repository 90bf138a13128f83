# The fast recipe on an H200 (issue 12), in one call of the device tool: shards and synthetic
# checkpoints for the study's shapes, then bench/fast_probe.py over many variants in one process.
#   MODE=probe bash bench/gpu/fast.sh          (VARIANTS overrides the list; STEPS, WARMUP)
# Everything is written under $OUT (probe.json, probe.txt, env.txt).
source bench/gpu/env.sh
export PYTHONPATH=$PWD/engine/src:$PYTHONPATH
{ nvidia-smi -L; nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1
  python3 -c 'import torch,transformers,peft,bitsandbytes as b,triton; import liger_kernel; from importlib.metadata import version; print("torch",torch.__version__,"transformers",transformers.__version__,"peft",peft.__version__,"bitsandbytes",b.__version__,"triton",triton.__version__,"liger-kernel",version("liger-kernel"))'
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
COMMON="--weights random --dataset $DATA --subset 5000 --lora-dropout 0 --steps 2 --warmup-steps 1 --json --quiet --no-telemetry"
spec_for() { # preset seq → prints the run's spec.json path
  $LP run --preset "$1" --seq-len "$2" $COMMON --label "shard-$2" > "/tmp/shard-$2.json" 2> "/tmp/shard-$2.err"
  python3 -c "import json,os; d=json.load(open('/tmp/shard-$2.json')); print(os.path.join(os.environ['LORAPROF_HOME'],'runs',d['id'],'spec.json'))"
}
# One run first (it writes the synthetic checkpoint and is the probe's base spec), then the other
# shards (SEQS: the sequence lengths the variants use) in parallel.
SEQS=${SEQS:-512 1024 2048 4096}
FIRST=${SEQS%% *}
BASE=$(spec_for paper-run1 $FIRST) || { cat /tmp/shard-$FIRST.err; exit 1; }
echo "$BASE" > /tmp/spec-$FIRST.path
for s in ${SEQS#$FIRST}; do (spec_for paper-run1 $s > /tmp/spec-$s.path) & done; wait
shard() { python3 -c "import json; print(json.load(open('$1'))['data']['shardDir'])"; }
SHARDS=$(for s in $SEQS; do printf '%s=%s,' $s "$(shard "$(cat /tmp/spec-$s.path)")"; done)
echo "shards: $SHARDS"
FAST="data.padding=packed,train.kernels=liger,train.lossImplementation=fused"
R2="data.seqLen=2048,data.batchSize=2,optimizer.name=paged_adamw_8bit"
R3="data.seqLen=1024,data.batchSize=2,optimizer.name=paged_adamw_8bit,train.precision=bf16"
BIG="train.precision=bf16,optimizer.name=adamw_8bit,$FAST"
LORA="train.method=lora,train.precision=bf16,train.gradCheckpointing=false,optimizer.name=adamw_torch_fused,$FAST"
DEFAULT_VARIANTS="r1-ref:data.padding=longest;r1-packed:data.padding=packed;r1-fast:$FAST;\
r2-ref:$R2,data.padding=longest;r2-fast:$R2,$FAST;\
r3-ref:$R3,data.padding=longest;r3-fast:$R3,$FAST;\
big-b16-s512:$BIG,data.batchSize=16;big-b32-s512:$BIG,data.batchSize=32;\
big-b8-s1024:$BIG,data.seqLen=1024,data.batchSize=8;big-b16-s1024:$BIG,data.seqLen=1024,data.batchSize=16;\
big-b8-s2048:$BIG,data.seqLen=2048,data.batchSize=8;\
abl-packed-chunked:train.precision=bf16,optimizer.name=adamw_8bit,data.padding=packed,train.lossImplementation=chunked,data.seqLen=1024,data.batchSize=16;\
abl-liger-chunked:train.precision=bf16,optimizer.name=adamw_8bit,data.padding=packed,train.kernels=liger,train.lossImplementation=chunked,data.seqLen=1024,data.batchSize=16;\
lora-b8-s2048:$LORA,data.seqLen=2048,data.batchSize=8;lora-b16-s2048:$LORA,data.seqLen=2048,data.batchSize=16;\
lora-b8-s4096:$LORA,data.seqLen=4096,data.batchSize=8"
PF="data.padding=packed,train.lossImplementation=fused"
ABLATE="r1-pf:$PF;r1-pf-fl:$PF,train.fusedLora=true;r1-pf-fl-liger:$PF,train.fusedLora=true,train.kernels=liger;\
big-pf:train.precision=bf16,optimizer.name=adamw_8bit,data.seqLen=2048,data.batchSize=8,$PF;\
big-pf-fl:train.precision=bf16,optimizer.name=adamw_8bit,data.seqLen=2048,data.batchSize=8,$PF,train.fusedLora=true;\
big-pf-fl-liger:train.precision=bf16,optimizer.name=adamw_8bit,data.seqLen=2048,data.batchSize=8,$PF,train.fusedLora=true,train.kernels=liger;\
lora-pf:train.method=lora,train.precision=bf16,train.gradCheckpointing=false,optimizer.name=adamw_torch_fused,data.seqLen=2048,data.batchSize=16,$PF;\
lora-pf-fl:train.method=lora,train.precision=bf16,train.gradCheckpointing=false,optimizer.name=adamw_torch_fused,data.seqLen=2048,data.batchSize=16,$PF,train.fusedLora=true;\
lora-pf-fl-liger:train.method=lora,train.precision=bf16,train.gradCheckpointing=false,optimizer.name=adamw_torch_fused,data.seqLen=2048,data.batchSize=16,$PF,train.fusedLora=true,train.kernels=liger"
[ "${VARIANT_SET:-}" = ablate ] && VARIANTS=$ABLATE
# CUDA graphs (train.cudaGraphs) on and off at the study's shapes, the 8 GiB best and 16-bit LoRA (MFU).
F="$FAST,train.fusedLora=true"; G="train.cudaGraphs=true"
GRAPHS="r1-fast:$F;r1-graphs:$F,$G;r2-graphs:$R2,$F,$G;r3-graphs:$R3,$F,$G;\
big-b8-s2048:$BIG,train.fusedLora=true,data.seqLen=2048,data.batchSize=8;big-b8-s2048-graphs:$BIG,train.fusedLora=true,data.seqLen=2048,data.batchSize=8,$G;\
big-b32-s512-graphs:$BIG,train.fusedLora=true,data.batchSize=32,$G;\
lora-b16-s2048-graphs:$LORA,train.fusedLora=true,data.seqLen=2048,data.batchSize=16,$G"
[ "${VARIANT_SET:-}" = graphs ] && VARIANTS=$GRAPHS
# Diagnostics (VARIANT_SET=diagnose SEQS="2048 4096"): where run 2's graphed memory goes (the allocator's
# segments by pool and stream; the graphs' warm-up on a side stream and on the run's own), and 16-bit
# LoRA's MFU candidates with a kernel profile of the eager step. (probe.clearWorkspaces=true broke the
# replay on the H200 and left the process's CUDA context unusable for the variants after it: not listed.)
# VARIANT_SET=warmup SEQS="2048": only the two warm-ups at run 2.
M="probe.memory=true"
WARMUPS="r2-graphs-side:$R2,$F,$G,$M,probe.warmup=side;r2-graphs-current:$R2,$F,$G,$M"
[ "${VARIANT_SET:-}" = warmup ] && VARIANTS=$WARMUPS
DIAGNOSE="r2-fast-mem:$R2,$F,$M;$WARMUPS;\
lora-b16-s2048-graphs:$LORA,train.fusedLora=true,data.seqLen=2048,data.batchSize=16,$G;\
lora-b32-s2048-graphs:$LORA,train.fusedLora=true,data.seqLen=2048,data.batchSize=32,$G;\
lora-b16-s4096-graphs:$LORA,train.fusedLora=true,data.seqLen=4096,data.batchSize=16,$G;\
lora-b16-s2048-profile:$LORA,train.fusedLora=true,data.seqLen=2048,data.batchSize=16,probe.profile=true"
[ "${VARIANT_SET:-}" = diagnose ] && VARIANTS=$DIAGNOSE
# VARIANT_SET=compile SEQS="4096": the MFU shape (16-bit LoRA bf16, b8 × s4096, no checkpointing, eager)
# without and with regional torch.compile of the decoder layers (probe.compile=layers).
MFU="$LORA,train.fusedLora=true,data.seqLen=4096,data.batchSize=8"
[ "${VARIANT_SET:-}" = compile ] && VARIANTS="mfu-eager:$MFU;mfu-compiled:$MFU,probe.compile=layers"
timeout -k 10 "${PROBE_SECONDS:-420}" python3 bench/fast_probe.py --spec "$BASE" --shards "${SHARDS%,}" \
  --variants "${VARIANTS:-$DEFAULT_VARIANTS}" --steps "${STEPS:-14}" --warmup "${WARMUP:-4}" \
  --out "$OUT/probe.json" 2>&1 | tee "$OUT/probe.txt" | grep -v "^  \|Traceback\|^\s*$"
# GPU tests after the probe (GPU_TESTS: a pytest -k expression), with what time the call has left.
if [ -n "${GPU_TESTS:-}" ]; then
  timeout -k 10 "${TESTS_SECONDS:-200}" python3 -m pytest engine/tests/test_gpu.py -q -k "$GPU_TESTS" > "$OUT/gpu-tests.txt" 2>&1
  tail -40 "$OUT/gpu-tests.txt"
fi
