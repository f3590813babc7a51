#!/usr/bin/env python3
"""Stable-Baselines3 PPO/A2C baseline for ganglion's CartPole time-to-solve benchmark.

Trains SB3 PPO (or A2C with --algo a2c) on gymnasium CartPole-v1 with the
RL-Zoo hyperparameters and stops as soon as the deterministic policy solves
the task, under the same rule and timing as the ganglion side of
`ganglion bench train-cartpole`:

  * A2C (--algo a2c): RL-Zoo's CartPole-v1 entry (8 envs, ent_coef 0.0) on
    SB3's A2C defaults (n_steps 5, lr 7e-4 constant, gamma 0.99, lambda 1,
    vf_coef 0.5, max_grad_norm 0.5, RMSprop alpha 0.99 eps 1e-5), 64-64 tanh.
  * PPO: 8 envs, n_steps=32 (256 env steps per update), batch_size=256,
    gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
    learning_rate linear 1e-3 -> 0 and clip_range linear 0.2 -> 0 over
    --max-steps, MlpPolicy default net (64-64 tanh), CPU.
  * Threads (--threads T): torch.set_num_threads(T) (intra-op threads of
    the update and of the policy forward passes), OMP_WAIT_POLICY=PASSIVE
    unless set otherwise. The 8 envs run in this process (DummyVecEnv)
    unless --vec-env subproc (one process per env).
  * Stop rule: after each PPO update, once the total env steps (all 8 envs)
    reach the next multiple of --eval-every, run --eval-episodes episodes of
    a separate CartPole-v1 env with the deterministic policy; stop as soon as
    the mean return >= --threshold. The eval env is seeded once from --seed,
    so each evaluation sees fresh episodes (the sequence is reproducible).
    The check runs at the start of the next rollout (SB3 calls no callback
    between an update and the next rollout), so the policy evaluated at N
    steps has been trained on all N steps, as on the ganglion side; the
    stop then takes effect on that rollout's first vec step (8 env steps
    more, not counted in env_steps).
  * wall_s is measured from just before model construction to the stop,
    evaluation time included (the same rule applies to the ganglion side).
  * The policy with the best evaluation is kept (as ganglion keeps it) and
    scored at the end over --final-episodes more episodes (not timed):
    final_mean_return.

Run (venv from benches/python/setup_venv.sh):

    $HOME/.cache/ganglion-venv/bin/python benches/python/sb3_cartpole.py --seed 1 --threads 1 --json

With --json a single JSON line is printed:
    {"framework":"sb3","seed":..,"solved":..,"env_steps":..,"wall_s":..,
     "threads":{..},"evals":[{"steps":..,"mean_return":..},...],"versions":{...}}
"""

import argparse
import copy
import json
import os
import sys
import time

# Idle OpenMP threads sleep instead of spinning. On a 2-core VM shared with
# other work, spinning workers (the default) made torch with 2 threads ~10x
# slower than with 1 (123.7 s vs 11.6 s for seed 2), which measured the
# machine's load rather than SB3. Set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gymnasium as gym
import numpy as np
import stable_baselines3
import torch
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

ENV_ID = "CartPole-v1"
N_ENVS = 8
# Offset so the eval env's seed never coincides with a training env's seed
# (make_vec_env seeds training env i with seed + i).
EVAL_SEED_OFFSET = 10_000
FINAL_SEED_OFFSET = 20_000


def linear(start):
    """SB3 schedule: progress_remaining goes 1 -> 0 over total_timesteps."""
    return lambda progress_remaining: start * progress_remaining


def evaluate(model, env, episodes):
    """Mean undiscounted return of the deterministic policy over `episodes`."""
    returns = []
    for _ in range(episodes):
        obs, _ = env.reset()
        done, total = False, 0.0
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(int(action))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


class EvalStopCallback(BaseCallback):
    """Evaluates after each update once num_timesteps has reached the next
    multiple of eval_every; stops learn() once mean return >= threshold."""

    def __init__(self, eval_env, eval_every, episodes, threshold, log):
        super().__init__()
        self.eval_env = eval_env
        self.eval_every = eval_every
        self.episodes = episodes
        self.threshold = threshold
        self.log = log
        self.next_eval = eval_every
        self.evals = []
        self.solved = False
        self.solved_at = None
        self.best = -np.inf
        self.best_state = None

    def _maybe_evaluate(self):
        if self.eval_every <= 0 or self.num_timesteps < self.next_eval:
            return
        while self.next_eval <= self.num_timesteps:
            self.next_eval += self.eval_every
        mean_return = evaluate(self.model, self.eval_env, self.episodes)
        self.evals.append({"steps": int(self.num_timesteps), "mean_return": mean_return})
        if self.log:
            print(f"steps={self.num_timesteps:7d} mean_return={mean_return:7.2f}",
                  file=sys.stderr, flush=True)
        if mean_return >= self.best:
            self.best = mean_return
            self.best_state = copy.deepcopy(self.model.policy.state_dict())
        if mean_return >= self.threshold:
            self.solved = True
            self.solved_at = int(self.num_timesteps)

    def _on_rollout_start(self):
        # Called after every update (and once before the first rollout).
        self._maybe_evaluate()

    def _on_training_end(self):
        # The last update is followed by no rollout.
        if not self.solved:
            self._maybe_evaluate()

    def _on_step(self):
        return not self.solved


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--algo", choices=["ppo", "a2c"], default="ppo")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--eval-every", type=int, default=8192,
                   help="evaluate every N total env steps (all envs)")
    p.add_argument("--eval-episodes", type=int, default=20)
    p.add_argument("--threshold", type=float, default=475.0)
    p.add_argument("--max-steps", type=int, default=200_000,
                   help="step budget; also the horizon of the linear schedules")
    p.add_argument("--final-episodes", type=int, default=100,
                   help="episodes scoring the kept policy after the run (not timed)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--vec-env", choices=["dummy", "subproc"], default="dummy",
                   help="the 8 training envs in this process, or one process each")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    args = p.parse_args()

    torch.set_num_threads(args.threads)

    vec_cls = DummyVecEnv if args.vec_env == "dummy" else SubprocVecEnv
    vec_env = make_vec_env(ENV_ID, n_envs=N_ENVS, seed=args.seed, vec_env_cls=vec_cls)
    eval_env = gym.make(ENV_ID)
    eval_env.reset(seed=args.seed + EVAL_SEED_OFFSET)  # later resets continue this RNG
    callback = EvalStopCallback(eval_env, args.eval_every, args.eval_episodes,
                                args.threshold, log=not args.json)

    t0 = time.perf_counter()
    if args.algo == "a2c":
        model = A2C("MlpPolicy", vec_env, ent_coef=0.0, seed=args.seed, device="cpu",
                    verbose=0)
    else:
        model = PPO(
            "MlpPolicy",
            vec_env,
            n_steps=32,
            batch_size=256,
            gae_lambda=0.8,
            gamma=0.98,
            n_epochs=20,
            ent_coef=0.0,
            learning_rate=linear(1e-3),
            clip_range=linear(0.2),
            seed=args.seed,
            device="cpu",
            verbose=0,
        )
    model.learn(total_timesteps=args.max_steps, callback=callback)
    wall_s = time.perf_counter() - t0
    vec_env.close()

    if callback.best_state is not None:
        model.policy.load_state_dict(callback.best_state)
    final_env = gym.make(ENV_ID)
    final_env.reset(seed=args.seed + FINAL_SEED_OFFSET)
    final = evaluate(model, final_env, args.final_episodes)

    result = {
        "framework": "sb3",
        "algo": args.algo,
        "seed": args.seed,
        "solved": callback.solved,
        # Steps at the solving evaluation (else all steps taken).
        "env_steps": callback.solved_at if callback.solved else int(model.num_timesteps),
        "wall_s": round(wall_s, 3),
        "final_mean_return": final,
        "final_episodes": args.final_episodes,
        "threads": {
            "torch_intra_op": torch.get_num_threads(),
            "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
            "vec_env": "DummyVecEnv (in process)" if args.vec_env == "dummy"
            else f"SubprocVecEnv ({N_ENVS} processes)",
        },
        "evals": callback.evals,
        "versions": {
            "sb3": stable_baselines3.__version__,
            "torch": torch.__version__,
            "gymnasium": gym.__version__,
        },
    }
    if args.json:
        print(json.dumps(result, separators=(",", ":")))
    else:
        state = "solved" if result["solved"] else "NOT solved"
        print(f"sb3 {args.algo} seed={args.seed}: {state} after {result['env_steps']} env steps, "
              f"{result['wall_s']:.2f} s wall ({len(result['evals'])} evals); "
              f"final {args.final_episodes}-episode mean {final:.1f}")


if __name__ == "__main__":
    main()
