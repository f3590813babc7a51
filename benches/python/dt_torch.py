#!/usr/bin/env python3
"""PyTorch baseline for ganglion's Decision Transformer training-throughput benchmark.

Implements the same architecture as ganglion's Rust DT (src/nn/dt/config.rs,
src/nn/dt/model.rs) so tokens/s compare fairly:

  * per timestep: return-to-go [1], state [state_dim], action [act_dim], each
    embedded by a Linear to E, plus a learned timestep embedding
    nn.Embedding(max_timestep, E) added to all three tokens (timesteps are
    clamped to max_timestep-1, as in Rust); interleaved R_1, s_1, a_1, R_2, ...
    -> 3K tokens; embed LayerNorm; dropout.
  * `layers` GPT-2 pre-LN blocks: x += drop(proj(attn(LN1(x)))),
    x += drop(fc2(gelu_tanh(fc1(LN2(x))))). Attention is written out with
    matmuls: fused QKV Linear(E, 3E), scaled scores, causal mask, key-padding
    bias (mask-1)*1e9 from attention_mask, softmax, dropout on the weights.
  * final LayerNorm on the state tokens, Linear(E, act_dim), tanh; MSE against
    the target actions over mask=1 timesteps (mean over valid entries).
  * AdamW(lr 1e-4, weight_decay 1e-4), clip_grad_norm_(0.25), one step per batch.

Synthetic batches are generated once before timing; `warmup` untimed steps,
then `steps` timed optimisation steps. Tokens = 3*K per sample.
`--prune-last` mirrors an optimisation in the Rust model: in the last block,
only the state tokens (the only ones read by the head) go through the
attention output projection and MLP. It does not change the outputs.

Run (venv from benches/python/setup_venv.sh):

    $HOME/.cache/ganglion-venv/bin/python benches/python/dt_torch.py --threads 1 --json
    $HOME/.cache/ganglion-venv/bin/python benches/python/dt_torch.py --latency --json

With --json prints one JSON line:
    {"framework":"pytorch","torch":..,"threads":..,"batch":..,"context":..,"embed":..,
     "layers":..,"params":..,"steps":..,"seconds":..,"tokens_per_s":..,"ms_per_step":..}
or with --latency (batch 1, eval mode, torch.no_grad(), forward only):
    {"framework":"pytorch","mode":"latency","median_us":..,"p99_us":..}
"""

import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PAD_BIAS = -1e9


class Block(nn.Module):
    def __init__(self, e, heads, dropout, mlp_ratio=4):
        super().__init__()
        assert e % heads == 0, "embed must be divisible by heads"
        self.e, self.h = e, heads
        self.ln1, self.ln2 = nn.LayerNorm(e), nn.LayerNorm(e)
        self.qkv, self.proj = nn.Linear(e, 3 * e), nn.Linear(e, e)
        self.fc, self.fc_proj = nn.Linear(e, mlp_ratio * e), nn.Linear(mlp_ratio * e, e)
        self.attn_drop, self.resid_drop = nn.Dropout(dropout), nn.Dropout(dropout)

    def attn(self, x, bias, causal):
        b, t, e = x.shape
        d = e // self.h
        q, k, v = self.qkv(x).split(e, dim=2)
        q = q.view(b, t, self.h, d).transpose(1, 2)
        k = k.view(b, t, self.h, d).transpose(1, 2)
        v = v.view(b, t, self.h, d).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d)) + bias  # bias [B,1,1,T]
        att = att.masked_fill(causal, float("-inf"))
        att = self.attn_drop(F.softmax(att, dim=-1))
        return (att @ v).transpose(1, 2).reshape(b, t, e)

    def forward(self, x, bias, causal, state_only=False):
        y = self.attn(self.ln1(x), bias, causal)
        if state_only:  # last block: only the state tokens feed the head
            x, y = x[:, 1::3], y[:, 1::3]
        x = x + self.resid_drop(self.proj(y))
        h = self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))
        return x + self.resid_drop(h)


class DecisionTransformer(nn.Module):
    def __init__(self, state_dim, act_dim, context, embed, layers, heads, dropout,
                 max_timestep, prune_last=False):
        super().__init__()
        self.max_timestep, self.prune_last = max_timestep, prune_last
        self.embed_timestep = nn.Embedding(max_timestep, embed)
        self.embed_return = nn.Linear(1, embed)
        self.embed_state = nn.Linear(state_dim, embed)
        self.embed_action = nn.Linear(act_dim, embed)
        self.embed_ln = nn.LayerNorm(embed)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(embed, heads, dropout) for _ in range(layers))
        self.ln_f = nn.LayerNorm(embed)
        self.predict_action = nn.Linear(embed, act_dim)
        t = 3 * context
        self.register_buffer("causal", torch.ones(t, t, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, states, actions, rtg, timesteps, mask):
        b, k, _ = states.shape
        te = self.embed_timestep(timesteps.clamp(max=self.max_timestep - 1))
        toks = torch.stack(
            (self.embed_return(rtg) + te, self.embed_state(states) + te, self.embed_action(actions) + te),
            dim=2,
        ).reshape(b, 3 * k, -1)  # R_1, s_1, a_1, R_2, ...
        x = self.drop(self.embed_ln(toks))
        bias = ((mask - 1.0) * -PAD_BIAS).repeat_interleave(3, dim=1).view(b, 1, 1, 3 * k)
        causal = self.causal[: 3 * k, : 3 * k]
        last = len(self.blocks) - 1
        for i, blk in enumerate(self.blocks):
            x = blk(x, bias, causal, state_only=self.prune_last and i == last)
        if not (self.prune_last and last >= 0):
            x = x[:, 1::3]  # state tokens
        return torch.tanh(self.predict_action(self.ln_f(x)))


def make_batch(g, batch, k, state_dim, act_dim, max_pad=None):
    states = torch.randn(batch, k, state_dim, generator=g)
    actions = torch.rand(batch, k, act_dim, generator=g) * 2 - 1
    rtg = torch.rand(batch, k, 1, generator=g)
    timesteps = torch.randint(0, 1000, (batch, k), generator=g)
    mask = torch.ones(batch, k)
    n_pad_rows = max(1, batch // 8) if batch > 1 else 0
    for r in range(n_pad_rows):  # left-pad a few rows
        pad = int(torch.randint(1, max(2, k // 2), (1,), generator=g))
        mask[r, :pad] = 0.0
        states[r, :pad] = actions[r, :pad] = rtg[r, :pad] = 0.0
        timesteps[r, :pad] = 0
    target = actions.clone()
    return states, actions, rtg, timesteps, mask, target


def masked_mse(pred, target, mask):
    m = mask.unsqueeze(-1)
    count = (m.sum() * pred.shape[-1]).clamp(min=1.0)
    return (((pred - target) ** 2) * m).sum() / count


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--state-dim", type=int, default=10)
    p.add_argument("--act-dim", type=int, default=2)
    p.add_argument("--context", type=int, default=20)
    p.add_argument("--embed", type=int, default=128)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--heads", type=int, default=1)
    p.add_argument("--max-timestep", type=int, default=1024)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prune-last", action="store_true",
                   help="last block: proj+MLP on state tokens only (as the Rust model)")
    p.add_argument("--latency", action="store_true", help="batch-1 eval forward latency instead")
    p.add_argument("--iters", type=int, default=500, help="latency: timed runs")
    p.add_argument("--latency-warmup", type=int, default=50)
    p.add_argument("--json", action="store_true", help="print one JSON line")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # can only be set once per process
    torch.manual_seed(a.seed)
    g = torch.Generator().manual_seed(a.seed)
    model = DecisionTransformer(a.state_dim, a.act_dim, a.context, a.embed, a.layers, a.heads,
                                a.dropout, a.max_timestep, a.prune_last)
    n_params = sum(t.numel() for t in model.parameters())

    if a.latency:
        model.eval()
        s, act, r, ts, m, _ = make_batch(g, 1, a.context, a.state_dim, a.act_dim)
        times = []
        with torch.no_grad():
            for i in range(a.latency_warmup + a.iters):
                t0 = time.perf_counter_ns()
                model(s, act, r, ts, m)
                if i >= a.latency_warmup:
                    times.append((time.perf_counter_ns() - t0) / 1e3)
        t = np.array(times)
        out = {"framework": "pytorch", "mode": "latency", "torch": torch.__version__,
               "threads": a.threads, "context": a.context, "embed": a.embed, "layers": a.layers,
               "params": n_params, "iters": a.iters, "median_us": float(np.median(t)),
               "p99_us": float(np.percentile(t, 99))}
    else:
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
        s, act, r, ts, m, tgt = make_batch(g, a.batch, a.context, a.state_dim, a.act_dim)

        def step():
            pred = model(s, act, r, ts, m)
            loss = masked_mse(pred, tgt, m)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            opt.step()
            return loss

        for _ in range(a.warmup):
            step()
        t0 = time.perf_counter()
        for _ in range(a.steps):
            loss = step()
        secs = time.perf_counter() - t0
        out = {"framework": "pytorch", "torch": torch.__version__, "threads": a.threads,
               "batch": a.batch, "context": a.context, "embed": a.embed, "layers": a.layers,
               "params": n_params, "steps": a.steps, "seconds": secs,
               "tokens_per_s": a.steps * a.batch * 3 * a.context / secs,
               "ms_per_step": 1e3 * secs / a.steps, "final_loss": loss.item()}
    if a.json:
        print(json.dumps(out))
    else:
        for key, v in out.items():
            print(f"{key:>14}: {v}")


if __name__ == "__main__":
    main()
