//! The `ganglion` command line. Each subcommand lives in `ganglion::cli`.

use clap::Parser;

fn main() {
    let cli = ganglion::cli::Cli::parse();
    if let Err(err) = ganglion::cli::run(cli) {
        eprintln!("error: {err}");
        for cause in err.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        std::process::exit(2);
    }
}

/// Counts allocations per scope so `ganglion run` can report the control
/// loop's allocations per tick (it forwards to the system allocator).
#[global_allocator]
static ALLOC: ganglion::runtime::alloc_count::CountingAlloc =
    ganglion::runtime::alloc_count::CountingAlloc;
