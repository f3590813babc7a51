//! Build script: puts the Pico's memory map (`memory.x`) where cortex-m-rt's
//! `link.x` finds it (the linker search path), so the image links the same
//! from any working directory.

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("memory.x"), include_bytes!("memory.x"))
        .expect("writing memory.x to OUT_DIR");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
}
