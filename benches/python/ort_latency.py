#!/usr/bin/env python3
"""onnxruntime batch-1 inference latency baseline for ganglion's policy benchmarks.

Loads an ONNX policy that follows ganglion's convention (input "obs" float32
[N, obs_dim], one output), pins onnxruntime to 1 intra-op thread, 1 inter-op
thread and sequential execution, warms up, then times --iters single-row
inferences one call at a time with time.perf_counter_ns. Each timed call is
one full session.run() from Python, so the numbers include the Python binding
overhead; the observation array is pre-allocated and reused.

This is the *second* onnxruntime row of `ganglion bench latency`: the first
calls the same library (this wheel's capi/libonnxruntime.so) in process from
Rust through the C API, with the same session options, so the two rows differ
by the cost of the Python call.

Run (venv from benches/python/setup_venv.sh):

    $HOME/.cache/ganglion-venv/bin/python benches/python/ort_latency.py \\
        --model tests/fixtures/sb3_cartpole_actor.onnx --obs-dim 4 --iters 20000 --json

With --json prints one JSON line:
    {"framework":"onnxruntime","version":..,"median_us":..,"p99_us":..,"mean_us":..,"iters":..}
"""

import argparse
import json
import time

import numpy as np
import onnxruntime as ort


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="ONNX file")
    p.add_argument("--obs-dim", type=int, default=4)
    p.add_argument("--iters", type=int, default=20_000)
    p.add_argument("--warmup", type=int, default=1_000)
    p.add_argument("--input", default="obs", help="input tensor name")
    p.add_argument("--seed", type=int, default=0, help="seed for the random observation")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    args = p.parse_args()

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(args.model, opts, providers=["CPUExecutionProvider"])
    outputs = [o.name for o in sess.get_outputs()]

    rng = np.random.default_rng(args.seed)
    feed = {args.input: rng.uniform(-0.05, 0.05, size=(1, args.obs_dim)).astype(np.float32)}
    run = sess.run

    for _ in range(args.warmup):
        run(outputs, feed)

    samples = np.empty(args.iters, dtype=np.int64)
    clock = time.perf_counter_ns
    for i in range(args.iters):
        t0 = clock()
        run(outputs, feed)
        samples[i] = clock() - t0

    us = samples / 1e3
    result = {
        "framework": "onnxruntime",
        "version": ort.__version__,
        "median_us": round(float(np.median(us)), 3),
        "p99_us": round(float(np.percentile(us, 99)), 3),
        "mean_us": round(float(us.mean()), 3),
        "iters": args.iters,
    }
    if args.json:
        print(json.dumps(result, separators=(",", ":")))
    else:
        print(f"onnxruntime {result['version']}: batch-1 latency over {args.iters} calls: "
              f"median {result['median_us']:.2f} us, p99 {result['p99_us']:.2f} us, "
              f"mean {result['mean_us']:.2f} us")


if __name__ == "__main__":
    main()
