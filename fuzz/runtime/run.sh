#!/usr/bin/env bash
# Builds the loader fuzz targets (only ganglion itself instrumented, see
# Cargo.toml) and runs each for RUNS iterations (default 1M) from a seed
# corpus of the repository's own configs, cards, models and a recording.
# Needs RUSTC_BOOTSTRAP for the profile-rustflags and libFuzzer flags.
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(cd ../.. && pwd)"
RUNS="${RUNS:-1000000}"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ganglion-fuzz-target}"
cargo build --bins
BIN="$CARGO_TARGET_DIR/debug"
SEEDS="${SEEDS:-$(mktemp -d)}"
mkdir -p "$SEEDS"/{config,card_model,recording} corpus/{config,card_model,recording}
cp "$ROOT"/robots/*.toml "$ROOT"/tests/hostile/configs/*.toml "$ROOT"/tests/fixtures/configs/*.toml "$SEEDS/config/"
for m in cartpole-ppo reacher-ppo cartpole-dt arm-reach affordance-pick; do
  python3 - "$ROOT/models/$m.card.toml" "$ROOT/models/$m.onnx" "$SEEDS/card_model/$m" <<'PY'
import sys
card = open(sys.argv[1], 'rb').read()
model = open(sys.argv[2], 'rb').read()
open(sys.argv[3], 'wb').write(len(card).to_bytes(2, 'little') + card + model)
PY
done
if [ ! -f "$SEEDS/recording/seed.mcap" ]; then
  # The main build, in its own target dir and without RUSTC_BOOTSTRAP (which
  # would invalidate that dir's dependency builds).
  env -u RUSTC_BOOTSTRAP CARGO_TARGET_DIR="$HOME/.cache/ganglion-target" \
    cargo run --quiet --manifest-path "$ROOT/Cargo.toml" -- run --fast --ticks 300 \
    --config "$ROOT/robots/cartpole.toml" --record "$SEEDS/recording/seed.mcap" >/dev/null
fi
for t in config card_model recording; do
  echo "== $t: $RUNS runs"
  start=$(date +%s)
  "$BIN/$t" -runs="$RUNS" -max_len=65536 -rss_limit_mb=4096 -timeout=20 \
    -print_final_stats=1 corpus/$t "$SEEDS/$t" 2>&1 | grep -E "^(stat::|#[0-9]+ +DONE|==|SUMMARY|Done)" || true
  echo "== $t: $(( $(date +%s) - start )) s"
done
