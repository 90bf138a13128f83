# A short check of the GPU paths before spending time on the full suite.
source bench/gpu/env.sh
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
$LP doctor
$LP run --preset paper-run1 --weights random --dataset $DATA --steps 12 --warmup-steps 2 --json > $OUT/smoke-run1.json 2> $OUT/smoke-run1.err
python3 -c "import json;d=json.load(open('$OUT/smoke-run1.json'));print(d['status'], d.get('error'));m=d.get('metrics') or {};print({k:m.get(k) for k in ['realTokensPerSecond','processedTokensPerSecond','peakAllocatedBytes','peakDeviceBytes','energyJoules','mfu']})"
tail -5 $OUT/smoke-run1.err
PYTHONPATH=$ROOT/engine/src:$PYTHONPATH timeout 300 python3 -m pytest engine/tests -q -m gpu -x -p no:cacheprovider 2>&1 | tail -15
