#!/usr/bin/env python3
"""PyTorch side of the GPU DT benchmark: the same architecture as ganglion's
DT (the model class of benches/python/dt_torch.py, imported, with
--prune-last), AdamW(1e-4, wd 1e-4), clip 0.25, on one CUDA GPU, eager FP32
(TF32 matmuls off, PyTorch's default) and with TF32 on. Batches are made once
on the GPU; CUDA is synchronised before and after the timed steps.

    python benches/gpu/dt_torch_gpu.py --batch 64 --steps 200 --json

Prints one JSON line; without torch or CUDA prints {"skipped": why}.
"""

import argparse
import json
import os
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--context", type=int, default=20)
    p.add_argument("--embed", type=int, default=128)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--tf32", action="store_true")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    try:
        import torch
    except ImportError as e:
        print(json.dumps({"framework": "pytorch", "skipped": f"torch not importable: {e}"}))
        return
    if not torch.cuda.is_available():
        print(json.dumps({"framework": "pytorch", "skipped": "torch.cuda.is_available() is False"}))
        return
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
    from dt_torch import DecisionTransformer, make_batch, masked_mse

    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    dev = torch.device("cuda")
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = DecisionTransformer(10, 2, a.context, a.embed, a.layers, 1, 0.1, 1024,
                                prune_last=True).to(dev)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
    batch = [t.to(dev) for t in make_batch(g, a.batch, a.context, 10, 2)]
    s, act, r, ts, m, tgt = batch

    def step():
        loss = masked_mse(model(s, act, r, ts, m), tgt, m)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        opt.step()
        return loss

    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    out = {"framework": "pytorch", "torch": torch.__version__,
           "device": torch.cuda.get_device_name(0), "tf32": a.tf32, "batch": a.batch,
           "steps": a.steps, "seconds": secs,
           "tokens_per_s": a.steps * a.batch * 3 * a.context / secs,
           "ms_per_step": 1e3 * secs / a.steps, "final_loss": loss.item()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
