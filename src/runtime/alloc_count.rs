//! Allocation accounting for the control loop. `CountingAlloc` wraps the system
//! allocator and counts allocations made while the current thread is inside a
//! tagged scope: the loop's own code, or the policy engine. The `ganglion`
//! binary and the zero-allocation test install it; elsewhere the counters stay
//! at zero and `is_active()` says so. It also keeps the live heap bytes of a
//! sandboxed program (`program_heap_*`): what the thread allocated minus
//! what it freed while the program's interpreter was running, which is the
//! program's memory limit.
//!
//! The policy arena (`PolicyArena`): a block fixed at the loop's start from
//! which the policy engine's allocations inside a tick are served (a bump
//! pointer: O(1), no lock, no system call), reset at the end of the tick when
//! everything allocated in it has been freed. tract allocates its operators'
//! outputs on every run and frees them before returning; with the arena
//! those allocations never reach the system allocator. A block that outlives
//! its tick (the engine kept it) stops the arena for that loop, so nothing
//! live is ever overwritten; a tick that needs more than the arena holds is
//! served by the system allocator and reported (the loop treats it as a
//! policy error).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};

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

thread_local! {
    // This thread's counts (loop, policy engine, policy arena): a control
    // loop reads its own thread's, so loops on other threads never mix in.
    static T_LOOP: Cell<u64> = const { Cell::new(0) };
    static T_POLICY: Cell<u64> = const { Cell::new(0) };
    static T_ARENA: Cell<u64> = const { Cell::new(0) };
}

/// This thread's allocations so far: (loop's own code, policy engine from
/// the system allocator, policy engine from its arena).
pub fn thread_counts() -> (u64, u64, u64) {
    (
        T_LOOP.with(|c| c.get()),
        T_POLICY.with(|c| c.get()),
        T_ARENA.with(|c| c.get()),
    )
}

#[inline]
fn bump(c: &'static std::thread::LocalKey<Cell<u64>>) {
    let _ = c.try_with(|c| c.set(c.get() + 1));
}

#[inline]
fn count() {
    ACTIVE.store(true, Ordering::Relaxed);
    let scope = SCOPE.try_with(|s| s.get()).unwrap_or(0);
    match scope {
        1 => {
            LOOP_ALLOCS.fetch_add(1, Ordering::Relaxed);
            bump(&T_LOOP);
        }
        2 => {
            POLICY_ALLOCS.fetch_add(1, Ordering::Relaxed);
            bump(&T_POLICY);
        }
        _ => {}
    }
}

/// Bytes of a loop's policy arena: address space reserved at start; only
/// the pages the engine touches are ever backed by memory.
pub const POLICY_ARENA_BYTES: usize = 64 << 20;

/// How many arenas may exist at once in a process (one per control loop).
const MAX_ARENAS: usize = 32;

/// A registered arena: its address range and how many of its blocks are
/// live. Deallocation finds an arena block here from any thread.
struct Slot {
    base: AtomicUsize,
    end: AtomicUsize,
    live: AtomicI64,
    taken: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_SLOT: Slot = Slot {
    base: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    live: AtomicI64::new(0),
    taken: AtomicBool::new(false),
};
static SLOTS: [Slot; MAX_ARENAS] = [EMPTY_SLOT; MAX_ARENAS];
/// Bounds of every arena ever made: most pointers are rejected by these.
static ARENA_LO: AtomicUsize = AtomicUsize::new(usize::MAX);
static ARENA_HI: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // The arena serving this thread's policy scope: its slot, cursor and
    // end (end 0: none), and whether a tick overflowed it.
    static A_SLOT: Cell<usize> = const { Cell::new(0) };
    static A_CURSOR: Cell<usize> = const { Cell::new(0) };
    static A_END: Cell<usize> = const { Cell::new(0) };
    static A_OVERFLOW: Cell<bool> = const { Cell::new(false) };
}

/// A bump allocation from this thread's arena, when the thread is in the
/// policy scope with an arena installed and the block fits.
#[inline]
fn arena_alloc(layout: Layout) -> Option<*mut u8> {
    let end = A_END.try_with(|c| c.get()).unwrap_or(0);
    if end == 0 || SCOPE.try_with(|s| s.get()).unwrap_or(0) != Scope::Policy as u8 {
        return None;
    }
    let cursor = A_CURSOR.with(|c| c.get());
    let start = cursor.checked_add(layout.align() - 1)? & !(layout.align() - 1);
    let stop = start.checked_add(layout.size())?;
    if stop > end {
        A_OVERFLOW.with(|o| o.set(true));
        return None;
    }
    A_CURSOR.with(|c| c.set(stop));
    SLOTS[A_SLOT.with(|s| s.get())]
        .live
        .fetch_add(1, Ordering::Relaxed);
    bump(&T_ARENA);
    Some(start as *mut u8)
}

/// The arena slot `ptr` lies in, if any.
#[inline]
fn arena_of(ptr: *mut u8) -> Option<&'static Slot> {
    let p = ptr as usize;
    if p < ARENA_LO.load(Ordering::Relaxed) || p >= ARENA_HI.load(Ordering::Relaxed) {
        return None;
    }
    SLOTS.iter().find(|s| {
        s.taken.load(Ordering::Acquire)
            && p >= s.base.load(Ordering::Relaxed)
            && p < s.end.load(Ordering::Relaxed)
    })
}

/// What one tick did with the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArenaTick {
    /// Everything freed: the arena starts over next tick.
    Clean,
    /// A block outlived the tick: the arena stops for this loop.
    Escaped,
    /// A block did not fit: the system allocator served it.
    Overflowed,
}

/// A control loop's policy arena (see the module doc).
pub struct PolicyArena {
    slot: usize,
    base: usize,
    size: usize,
    cursor: usize,
    stopped: bool,
}

impl PolicyArena {
    /// Reserves `bytes`; `None` without `CountingAlloc` (the arena could not
    /// serve anything) or when every slot is taken.
    pub fn new(bytes: usize) -> Option<PolicyArena> {
        if !is_active() || bytes == 0 {
            return None;
        }
        let slot = SLOTS.iter().position(|s| {
            s.taken
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        let layout = Layout::from_size_align(bytes, 4096).ok()?;
        // SAFETY: a non-zero layout; freed in Drop with the same layout.
        let base = unsafe { System.alloc(layout) } as usize;
        if base == 0 {
            SLOTS[slot].taken.store(false, Ordering::Release);
            return None;
        }
        let s = &SLOTS[slot];
        s.live.store(0, Ordering::Relaxed);
        s.base.store(base, Ordering::Relaxed);
        s.end.store(base + bytes, Ordering::Relaxed);
        ARENA_LO.fetch_min(base, Ordering::Relaxed);
        ARENA_HI.fetch_max(base + bytes, Ordering::Relaxed);
        Some(PolicyArena {
            slot,
            base,
            size: bytes,
            cursor: base,
            stopped: false,
        })
    }

    /// Serves this thread's policy-scope allocations from the arena until
    /// `end` (nothing, once the arena has stopped).
    pub fn begin(&mut self) {
        if self.stopped {
            return;
        }
        A_SLOT.with(|c| c.set(self.slot));
        A_CURSOR.with(|c| c.set(self.cursor));
        A_OVERFLOW.with(|c| c.set(false));
        A_END.with(|c| c.set(self.base + self.size));
    }

    /// Stops serving; starts the arena over when all its blocks are free.
    pub fn end(&mut self) -> ArenaTick {
        if self.stopped {
            return ArenaTick::Clean;
        }
        A_END.with(|c| c.set(0));
        self.cursor = A_CURSOR.with(|c| c.get());
        let overflowed = A_OVERFLOW.with(|c| c.replace(false));
        if SLOTS[self.slot].live.load(Ordering::Acquire) == 0 {
            self.cursor = self.base;
        } else {
            self.stopped = true;
            return ArenaTick::Escaped;
        }
        if overflowed {
            ArenaTick::Overflowed
        } else {
            ArenaTick::Clean
        }
    }

    /// Whether the arena still serves the policy (no block escaped a tick).
    pub fn serving(&self) -> bool {
        !self.stopped
    }
}

impl Drop for PolicyArena {
    fn drop(&mut self) {
        let s = &SLOTS[self.slot];
        if s.live.load(Ordering::Acquire) != 0 {
            // Blocks still point into it: leave it mapped and registered.
            return;
        }
        s.end.store(0, Ordering::Relaxed);
        s.base.store(0, Ordering::Relaxed);
        s.taken.store(false, Ordering::Release);
        if let Ok(layout) = Layout::from_size_align(self.size, 4096) {
            // SAFETY: allocated in `new` with this layout; no block is live.
            unsafe { System.dealloc(self.base as *mut u8, layout) };
        }
    }
}

/// The system allocator, counting allocations per scope, with the policy
/// arena in front of it for the policy scope.
pub struct CountingAlloc;

// SAFETY: every call either forwards to `System` with the same arguments,
// or serves / frees a block of a policy arena: a range allocated from
// `System` for the arena's whole life, handed out by a bump pointer of the
// one thread it is installed on, never handed out twice while a block of it
// is live (`PolicyArena::end` starts over only at zero live blocks).
// Counting touches only atomics and const thread-locals.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some(p) = arena_alloc(layout) {
            return p;
        }
        count();
        program_bytes(layout.size() as i64);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if let Some(p) = arena_alloc(layout) {
            // SAFETY: `p` has `layout.size()` bytes of the arena.
            unsafe { std::ptr::write_bytes(p, 0, layout.size()) };
            return p;
        }
        count();
        program_bytes(layout.size() as i64);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if let Some(slot) = arena_of(ptr) {
            let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
                return std::ptr::null_mut();
            };
            // SAFETY: a valid layout (as GlobalAlloc::realloc requires).
            let q = unsafe { self.alloc(new_layout) };
            if !q.is_null() {
                // SAFETY: both blocks hold at least the copied bytes.
                unsafe { std::ptr::copy_nonoverlapping(ptr, q, layout.size().min(new_size)) };
                slot.live.fetch_sub(1, Ordering::AcqRel);
            }
            return q;
        }
        count();
        program_bytes(new_size as i64 - layout.size() as i64);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(slot) = arena_of(ptr) {
            slot.live.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        program_bytes(-(layout.size() as i64));
        unsafe { System.dealloc(ptr, layout) }
    }
}
