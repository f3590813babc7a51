//! The `ganglion` command line: `cli` parses the arguments, calls the
//! library (`ganglion`) and prints. It lives in the binary, not the library,
//! so nothing else can depend on it.

use clap::Parser;

mod cli;

fn main() {
    let cli = cli::Cli::parse();
    if let Err(err) = cli::run(cli) {
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
