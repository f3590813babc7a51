#!/usr/bin/env python3
"""Plain PyTorch REINFORCE baseline for `ganglion bench train-cartpole --algo reinforce`.

REINFORCE has no Stable-Baselines3 counterpart, so this is the textbook
algorithm written out in PyTorch with the settings of ganglion's
`ganglion train cartpole --algo reinforce` (learn/reinforce.rs):

  * policy: 4 -> 64 -> 64 -> 2 logits, tanh, orthogonal init (gain sqrt 2,
    output gain 0.01, zero biases), as SB3's and ganglion's MLP policies;
  * one whole episode per update with the stochastic policy, Monte-Carlo
    returns G_t with gamma 0.99, standardised over the episode
    (population deviation, + 1e-8), loss = -mean_t(G_t * log pi(a_t|s_t)),
    no baseline, Adam lr 1e-3, no gradient clipping;
  * stop rule as the other baselines: after each update, once the env-step
    count reaches the next multiple of --eval-every, the greedy (argmax)
    policy plays --eval-episodes fresh episodes of a separate CartPole-v1
    env (seeded once); stop at mean return >= --threshold. The parameters
    with the best evaluation are kept (as ganglion keeps them) and scored
    at the end over --final-episodes more episodes (not timed);
  * wall_s from just before the network is built to the stop, evaluations
    included; torch intra-op threads = --threads.

    $HOME/.cache/ganglion-venv/bin/python benches/python/reinforce_cartpole.py --seed 1 --json
"""

import argparse
import copy
import json
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gymnasium as gym
import numpy as np
import torch
from torch import nn

ENV_ID = "CartPole-v1"
EVAL_SEED_OFFSET = 10_000
FINAL_SEED_OFFSET = 20_000


def policy_net(obs_dim, n_actions):
    layers = [nn.Linear(obs_dim, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(),
              nn.Linear(64, n_actions)]
    for i, layer in enumerate(l for l in layers if isinstance(l, nn.Linear)):
        gain = 0.01 if i == 2 else np.sqrt(2)
        nn.init.orthogonal_(layer.weight, gain=gain)
        nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


@torch.no_grad()
def evaluate(net, env, episodes):
    """Mean return of the greedy policy over `episodes` (env seeded once by the caller)."""
    returns = []
    for _ in range(episodes):
        obs, _ = env.reset()
        done, total = False, 0.0
        while not done:
            logits = net(torch.as_tensor(obs, dtype=torch.float32))
            obs, reward, terminated, truncated, _ = env.step(int(torch.argmax(logits)))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--eval-every", type=int, default=8192)
    p.add_argument("--eval-episodes", type=int, default=20)
    p.add_argument("--threshold", type=float, default=475.0)
    p.add_argument("--max-steps", type=int, default=500_000)
    p.add_argument("--final-episodes", type=int, default=100)
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    env = gym.make(ENV_ID)
    env.reset(seed=args.seed)
    eval_env = gym.make(ENV_ID)
    eval_env.reset(seed=args.seed + EVAL_SEED_OFFSET)

    t0 = time.perf_counter()
    net = policy_net(env.observation_space.shape[0], env.action_space.n)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    steps, next_eval, evals = 0, args.eval_every, []
    best, best_state, solved = -np.inf, None, False
    while steps < args.max_steps:
        # One episode with the stochastic policy.
        obs, _ = env.reset()
        observations, actions, rewards = [], [], []
        done = False
        while not done:
            with torch.no_grad():
                logits = net(torch.as_tensor(obs, dtype=torch.float32))
            action = int(torch.distributions.Categorical(logits=logits).sample())
            observations.append(obs)
            actions.append(action)
            obs, reward, terminated, truncated, _ = env.step(action)
            rewards.append(float(reward))
            done = terminated or truncated
        steps += len(rewards)

        # Monte-Carlo returns, standardised; one gradient step.
        returns = np.zeros(len(rewards), dtype=np.float32)
        g = 0.0
        for t in reversed(range(len(rewards))):
            g = rewards[t] + args.gamma * g
            returns[t] = g
        if len(returns) > 1:
            returns = (returns - returns.mean()) / (returns.std() + 1e-8)
        logits = net(torch.as_tensor(np.asarray(observations), dtype=torch.float32))
        logp = torch.distributions.Categorical(logits=logits).log_prob(
            torch.as_tensor(actions))
        loss = -(torch.as_tensor(returns) * logp).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

        if args.eval_every > 0 and steps >= next_eval:
            while next_eval <= steps:
                next_eval += args.eval_every
            mean_return = evaluate(net, eval_env, args.eval_episodes)
            evals.append({"steps": steps, "mean_return": mean_return})
            if not args.json:
                print(f"steps={steps:7d} mean_return={mean_return:7.2f}",
                      file=sys.stderr, flush=True)
            if mean_return >= best:
                best, best_state = mean_return, copy.deepcopy(net.state_dict())
            if mean_return >= args.threshold:
                solved = True
                break
    wall_s = time.perf_counter() - t0

    if best_state is not None:
        net.load_state_dict(best_state)
    final_env = gym.make(ENV_ID)
    final_env.reset(seed=args.seed + FINAL_SEED_OFFSET)
    final = evaluate(net, final_env, args.final_episodes)

    result = {
        "framework": "pytorch",
        "algo": "reinforce",
        "seed": args.seed,
        "solved": solved,
        "env_steps": steps,
        "wall_s": round(wall_s, 3),
        "final_mean_return": final,
        "final_episodes": args.final_episodes,
        "threads": {"torch_intra_op": torch.get_num_threads(),
                    "omp_wait_policy": os.environ["OMP_WAIT_POLICY"]},
        "evals": evals,
        "versions": {"torch": torch.__version__, "gymnasium": gym.__version__},
    }
    if args.json:
        print(json.dumps(result, separators=(",", ":")))
    else:
        state = "solved" if solved else "NOT solved"
        print(f"reinforce seed={args.seed}: {state} after {steps} env steps, "
              f"{wall_s:.2f} s wall; final {args.final_episodes}-episode mean {final:.1f}")


if __name__ == "__main__":
    main()
