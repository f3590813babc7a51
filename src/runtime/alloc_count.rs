//! Allocation accounting for the control loop. `CountingAlloc` wraps the system
//! allocator and counts allocations made while the current thread is inside a
//! tagged scope: the loop's own code, or the policy engine. The `ganglion`
//! binary and the zero-allocation test install it; elsewhere the counters stay
//! at zero and `is_active()` says so. It also keeps the live heap bytes of a
//! sandboxed program (`program_heap_*`): what the thread allocated minus
//! what it freed while the program's interpreter was running, which is the
//! program's memory limit.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Allocation scopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Scope {
    None = 0,
    /// The control loop's own code within a tick.
    Loop = 1,
    /// Inside `Policy::act` (the inference engine).
    Policy = 2,
}

thread_local! {
    // `const` initialisation: reading it never allocates or registers a
    // destructor, so the allocator itself may read it.
    static SCOPE: Cell<u8> = const { Cell::new(0) };
}

thread_local! {
    // Whether this thread's heap use is being counted for a program, and
    // the bytes allocated minus freed since it started.
    static PROGRAM_ON: Cell<bool> = const { Cell::new(false) };
    static PROGRAM_BYTES: Cell<i64> = const { Cell::new(0) };
}

/// Starts (`true`, counting from zero) or pauses/ends (`false`) counting
/// this thread's live heap bytes for a sandboxed program.
pub fn program_heap_count(on: bool, reset: bool) {
    PROGRAM_ON.with(|c| c.set(on));
    if reset {
        PROGRAM_BYTES.with(|c| c.set(0));
    }
}

/// The thread's live heap bytes counted since `program_heap_count(true,
/// true)` (0 when `CountingAlloc` is not the global allocator).
pub fn program_heap_bytes() -> i64 {
    PROGRAM_BYTES.with(|c| c.get())
}

#[inline]
fn program_bytes(delta: i64) {
    let _ = PROGRAM_ON.try_with(|on| {
        if on.get() {
            let _ = PROGRAM_BYTES.try_with(|b| b.set(b.get() + delta));
        }
    });
}

static LOOP_ALLOCS: AtomicU64 = AtomicU64::new(0);
static POLICY_ALLOCS: AtomicU64 = AtomicU64::new(0);
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Enters `scope` on this thread; returns the previous scope.
#[inline]
pub fn enter(scope: Scope) -> Scope {
    SCOPE.with(|s| {
        let prev = s.replace(scope as u8);
        match prev {
            1 => Scope::Loop,
            2 => Scope::Policy,
            _ => Scope::None,
        }
    })
}

/// Allocations counted so far: (loop's own code, policy engine).
pub fn counts() -> (u64, u64) {
    (
        LOOP_ALLOCS.load(Ordering::Relaxed),
        POLICY_ALLOCS.load(Ordering::Relaxed),
    )
}

/// Whether `CountingAlloc` is the global allocator of this process.
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

#[inline]
fn count() {
    ACTIVE.store(true, Ordering::Relaxed);
    let scope = SCOPE.try_with(|s| s.get()).unwrap_or(0);
    match scope {
        1 => {
            LOOP_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        2 => {
            POLICY_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    }
}

/// The system allocator, counting allocations per scope.
pub struct CountingAlloc;

// SAFETY: every call forwards to `System` with the same arguments; counting
// touches only atomics and a const thread-local.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        program_bytes(layout.size() as i64);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        program_bytes(layout.size() as i64);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        program_bytes(new_size as i64 - layout.size() as i64);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        program_bytes(-(layout.size() as i64));
        unsafe { System.dealloc(ptr, layout) }
    }
}
