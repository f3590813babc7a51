//! Training and shipped models: PPO, A2C and REINFORCE learn CartPole, PPO Reacher, the Decision
//! Transformer (model, pipeline from recordings, shipped DTs), the SB3 fixture,
//! and the shipped models' card numbers.
//!
//! One test binary per area (issue 15): each links tract, candle and
//! zenoh once. Run one file with `cargo test --test learning <module>::`.

#[path = "../common/mod.rs"]
mod common;

mod dt_model;
mod dt_pipeline;
mod perception;
mod ppo_learns;
mod reacher_ppo;
mod sb3_fixture;
mod shipped_dt;
mod shipped_model;
mod textbook;
