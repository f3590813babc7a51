//! The language layer with the real models: fetching them, the LM and MiniLM
//! against references, an OpenAI-compatible server, the planner, execution in
//! the simulator, and hostile instructions.
//!
//! One test binary per area (issue 15): each links tract, candle and
//! zenoh once. Run one file with `cargo test --test lang <module>::`.

#[path = "../common/mod.rs"]
mod common;

mod code_planner;
mod collect;
mod eval_tabletop;
mod exec;
mod fetch;
mod hostile;
mod model;
mod openai;
mod planner;
mod programs;

/// Counts the programs' heap use (their memory limit), as in the binary.
#[global_allocator]
static ALLOC: ganglion::runtime::alloc_count::CountingAlloc =
    ganglion::runtime::alloc_count::CountingAlloc;
