#!/usr/bin/env bash
# Create the Python dev/benchmark virtualenv for ganglion and install the
# pinned deps from requirements.txt (torch, stable-baselines3, gymnasium,
# onnx, onnxruntime, numpy, pybullet). Python is never a ganglion runtime dependency;
# this venv only serves the baseline benchmarks in benches/python/ and the
# fixture generator in tests/fixtures/.
#
# Usage:  benches/python/setup_venv.sh
#         GANGLION_VENV=/some/dir benches/python/setup_venv.sh
#         PYTHON=python3.11 benches/python/setup_venv.sh
#
# Idempotent: a stamp file inside the venv records the sha256 of the
# requirements.txt it was installed from; if it matches, nothing is done.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
req="$here/requirements.txt"
venv="${GANGLION_VENV:-$HOME/.cache/ganglion-venv}"
python="${PYTHON:-python3}"
stamp="$venv/.ganglion-requirements.sha256"

want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "ganglion venv up to date: $venv"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    echo "creating venv: $venv"
    "$python" -m venv "$venv"
fi

"$venv/bin/python" -m pip install --quiet --upgrade pip
# pip is itself a no-op for requirements that are already satisfied.
"$venv/bin/python" -m pip install -r "$req"
echo "$want" > "$stamp"
echo "ganglion venv ready: $venv"
