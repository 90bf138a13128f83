# Sourced at the start of every command on a GPU host that has Python + torch but no Node or npm.
# Expects the carried folder .carry/ built by scripts/make-carry.sh (see docs/gpu-host.md): node.xz
# (a Node binary), cli.tar.xz (the bundled CLI), site.tar.xz (bitsandbytes, liger-kernel, jsonschema),
# data.tar.xz (the Alpaca sample), unpacked under /tmp/carry.
set -u
ROOT=$(pwd)
mkdir -p /tmp/nodebin
[ -x /tmp/nodebin/node ] || { xz -dc .carry/node.xz > /tmp/nodebin/node && chmod +x /tmp/nodebin/node; }
export PATH=/tmp/nodebin:$PATH
CARRY=/tmp/carry
mkdir -p "$CARRY"
for d in cli site data; do [ -d "$CARRY/$d" ] || xz -dc ".carry/$d.tar.xz" | tar -C "$CARRY" -xf -; done
# The GPU benchmarks are bundled beside the CLI (scripts/bundle.mjs); an older .carry has none.
[ -d "$CARRY/cli/bench" ] || echo "no $CARRY/cli/bench: rebuild .carry with scripts/make-carry.sh (the GPU benchmarks are bundled there)" >&2
export LORAPROF_ENGINE_SRC=$ROOT/engine/src
export PYTHONPATH=$CARRY/site${PYTHONPATH:+:$PYTHONPATH}
export LORAPROF_HOME=${LORAPROF_HOME:-/tmp/lp}
export LORAPROF_CACHE=${LORAPROF_CACHE:-/tmp/lpcache}
# A check needs more synthetic checkpoints than the host's 64 GiB disk holds at once (check 12: 64 GB of them):
# one without room evicts the least recently used (engine/src/loraprof_engine/model.py EVICT_ENV).
export LORAPROF_EVICT_CHECKPOINTS=1
export PYTHONUNBUFFERED=1 NO_COLOR=1
export OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
LP="node $CARRY/cli/loraprof.mjs"
DATA=$CARRY/data/alpaca_random_9k.json
# Reuse the host's torch/transformers/peft; installs nothing when nothing is missing (no network there).
$LP setup --python python3 --quiet --json > "$OUT/setup.json" 2>&1 || cat "$OUT/setup.json"
