//! Argon2 working memory, reused from one hash to the next.
//!
//! Each Argon2id hash needs `m` KiB of scratch memory (19 MiB with the OWASP
//! parameters). Allocating it afresh for every hash leaves the decision of
//! where it comes from, and whether it is ever given back, to the process
//! allocator: glibc's dynamic mmap threshold moves such blocks onto the heap
//! after the first free, and per-thread arenas then keep them, so a login
//! storm used to grow the process by a gigabyte that stayed. Fresh pages for
//! every hash (a fixed mmap threshold) keep memory low but cost ~20 % of the
//! login throughput in page faults.
//!
//! The pool owns the memory instead: at most one buffer per hashing permit
//! exists (whoever holds a permit holds at most one [`Lease`]), buffers are
//! handed from one hash to the next while hashes keep coming, and once no
//! hash has started for `release_after` the idle buffers are dropped so that
//! a quiet server returns to its idle size.
//!
//! Dropping only helps if the allocator gives the pages back. Each buffer
//! therefore *reserves* at least [`MAPPED_BYTES`] (32 MiB) of address space
//! while touching only the `m` KiB it uses: glibc serves requests of that
//! size with their own `mmap` and unmaps them on free whatever its dynamic
//! threshold says (the threshold never rises above 32 MiB on 64-bit targets,
//! see mallopt(3), `DEFAULT_MMAP_THRESHOLD_MAX`), and other allocators
//! (musl, jemalloc, mimalloc) map such sizes directly too. The untouched
//! rest costs address space, not memory.

use std::mem;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use argon2::Block;

/// How long buffers are kept after the last hash started.
pub(super) const RELEASE_AFTER: Duration = Duration::from_secs(2);

/// Working memory of one hash.
pub(super) type Buffer = Vec<Block>;

/// Bytes every buffer reserves at least, so that it is mapped on its own
/// and returned to the system when freed (see the module documentation).
pub(super) const MAPPED_BYTES: usize = 32 * 1024 * 1024;

/// A buffer of `blocks` zeroed blocks whose allocation is at least [`MAPPED_BYTES`].
pub(super) fn new_buffer(blocks: usize) -> Buffer {
    let mut buffer = Vec::with_capacity(blocks.max(MAPPED_BYTES / Block::SIZE));
    buffer.resize(blocks, Block::new()); // touches only what Argon2 will use
    buffer
}

#[derive(Debug)]
pub(super) struct MemoryPool {
    /// Blocks per buffer (`m` of the configured parameters, rounded as Argon2 does).
    blocks: usize,
    release_after: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Buffers nobody uses now.
    idle: Vec<Buffer>,
    /// Buffers in existence (idle or leased).
    allocated: usize,
    /// Leases handed out so far: the release timer compares it before and
    /// after its wait to tell whether the pool was used meanwhile.
    leases: u64,
    /// Whether a release timer is pending.
    timer: bool,
}

impl MemoryPool {
    pub(super) fn new(blocks: usize, release_after: Duration) -> Self {
        Self { blocks, release_after, state: Mutex::new(State::default()) }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every
        // critical section is a handful of field updates.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle buffer, or a new one. Call only while holding a hashing
    /// permit: that is what bounds the number of buffers.
    pub(super) fn lease(self: &Arc<Self>) -> Lease {
        let reused = {
            let mut state = self.state();
            state.leases = state.leases.wrapping_add(1);
            let reused = state.idle.pop();
            if reused.is_none() {
                state.allocated += 1;
            }
            reused
        };
        // A new buffer is allocated outside the lock (it touches every page).
        let buffer = reused.unwrap_or_else(|| new_buffer(self.blocks));
        Lease { buffer, pool: Arc::clone(self) }
    }

    /// Takes a buffer back, and makes sure a timer will drop the idle ones
    /// once the pool has not been used for `release_after`.
    fn give_back(self: &Arc<Self>, buffer: Buffer) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No timer outside a runtime: let the buffer go now.
            self.state().allocated -= 1;
            return;
        };
        let mut state = self.state();
        state.idle.push(buffer);
        if !state.timer {
            state.timer = true;
            drop(state);
            let pool = Arc::clone(self);
            runtime.spawn(async move { pool.release_when_quiet().await });
        }
    }

    async fn release_when_quiet(self: Arc<Self>) {
        loop {
            let seen = self.state().leases;
            tokio::time::sleep(self.release_after).await;
            let released = {
                let mut state = self.state();
                if state.leases != seen {
                    continue; // used meanwhile: wait again
                }
                state.timer = false;
                state.allocated -= state.idle.len();
                mem::take(&mut state.idle)
            };
            drop(released); // freed outside the lock
            return;
        }
    }

    /// Buffers in existence now (idle or leased).
    #[cfg(test)]
    pub(super) fn allocated(&self) -> usize {
        self.state().allocated
    }
}

/// One buffer, lent for one hash; returned to the pool when dropped.
#[derive(Debug)]
pub(super) struct Lease {
    buffer: Buffer,
    pool: Arc<MemoryPool>,
}

impl Lease {
    pub(super) fn blocks(&mut self) -> &mut [Block] {
        &mut self.buffer
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let buffer = mem::take(&mut self.buffer);
        self.pool.give_back(buffer);
    }
}
