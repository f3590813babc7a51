#!/usr/bin/env bash
# Everything issue #9 needs from a GPU machine, in one go (< 8 min on an
# H100/H200 with 16 cores; no network needed). Results go to $OUT (default
# ./gpu-results):
#   nvidia-smi.txt       the card
#   parity.txt           per-op GPU/CPU parity, DT step parity, PPO update
#                        parity, DT and PPO training on CUDA (tests/cuda_*.rs)
#   gpu_bench.json       ganglion: DT tokens/s (GPU FP32/TF32, CPU) at batch 64
#                        and 640, PPO update time GPU vs CPU
#   torch_b64*.json, torch_b640*.json   PyTorch on the same GPU (if importable)
#   summary.txt          the ratios
# It needs libcuda (driver), libnvrtc and libcublas on the loader path; with
# the pip wheels (nvidia-cuda-nvrtc-cu12, nvidia-cublas-cu12) in a venv that
# travels with the tree, point GANGLION_CUDA_LIBS at their lib folders.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-$PWD/gpu-results}"
mkdir -p "$OUT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ganglion-target}"
if [ -n "${GANGLION_CUDA_LIBS:-}" ]; then
  export LD_LIBRARY_PATH="$GANGLION_CUDA_LIBS:${LD_LIBRARY_PATH:-}"
fi
PY="${PYTHON:-python3}"
[ -x "$HOME/.cache/ganglion-venv/bin/python" ] && PY="${PYTHON:-$HOME/.cache/ganglion-venv/bin/python}"
# NVRTC and cuBLAS: a CUDA toolkit, or NVIDIA's pip wheels (torch pulls them
# in) in any site-packages we can see.
SITES="$("$PY" -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null || true)"
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
         $(for s in $SITES "$PWD"/.venv/lib/python3*/site-packages; do echo "$s"/nvidia/*/lib; done); do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}" > "$OUT/env.txt"

(nvidia-smi || echo "nvidia-smi not found") > "$OUT/nvidia-smi.txt" 2>&1
echo "== build (release, --features cuda)"
cargo build --release --features cuda --bench gpu_bench --tests 2>&1 | tail -3

echo "== parity and training tests"
timeout 300 cargo test --release --features cuda --test cuda \
  -- --nocapture --test-threads 1 > "$OUT/parity.txt" 2>&1
echo "tests exit $?" >> "$OUT/parity.txt"
grep -E "SKIPPED|test result|panicked|FAILED|on NVIDIA|PPO CartPole" "$OUT/parity.txt"

echo "== ganglion GPU bench"
timeout 240 cargo bench --features cuda --bench gpu_bench -- --out "$OUT/gpu_bench.json" \
  > "$OUT/gpu_bench.stdout" 2> "$OUT/gpu_bench.stderr"
cat "$OUT/gpu_bench.stderr" | tail -12

echo "== PyTorch on the same GPU ($PY)"
for b in 64 640; do
  steps=200; [ "$b" = 640 ] && steps=60
  timeout 120 "$PY" benches/gpu/dt_torch_gpu.py --batch $b --steps $steps --json > "$OUT/torch_b$b.json" 2>&1
  timeout 120 "$PY" benches/gpu/dt_torch_gpu.py --batch $b --steps $steps --tf32 --json > "$OUT/torch_b${b}_tf32.json" 2>&1
  tail -1 "$OUT/torch_b$b.json"
done

"$PY" - "$OUT" > "$OUT/summary.txt" 2>&1 <<'PYEOF' || true
import json, sys, os
out = sys.argv[1]
def last_json(p):
    try:
        lines = [l for l in open(p) if l.strip().startswith("{")]
        return json.loads(lines[-1]) if lines else {}
    except OSError:
        return {}
g = json.load(open(os.path.join(out, "gpu_bench.json")))
for run in g["dt"]["runs"]:
    b = run["batch"]
    for mode, key in (("fp32", ""), ("tf32", "_tf32")):
        ours = run[f"gpu_{mode}"]["tokens_per_s"]
        t = last_json(os.path.join(out, f"torch_b{b}{key}.json"))
        tt = t.get("tokens_per_s")
        ratio = f"{ours / tt:.2f}x PyTorch" if tt else f"PyTorch: {t.get('skipped', 'no result')}"
        print(f"DT batch {b} {mode}: ganglion GPU {ours:,.0f} tok/s; {ratio}; "
              f"{ours / run['cpu']['tokens_per_s']:.1f}x ganglion CPU ({run['gpu_fp32'].get('device')})")
for p in g["ppo_update"]:
    print(f"PPO update {p['config']}: GPU {p['gpu_ms_per_update']:.2f} ms, CPU {p['cpu_ms_per_update']:.2f} ms ({p['cpu_over_gpu']:.1f}x)")
PYEOF
cat "$OUT/summary.txt"
