//! The `kiln` binary's allocator: small blocks from the system allocator, large ones straight
//! from the kernel with the last few freed kept for reuse.
//!
//! A training step allocates and frees the same large tensors (activations, gradients) every
//! step. In glibc's heap those blocks split and merge with everything else, so the heap's
//! extent, which is the process's resident memory, ends up tens of MiB above what is live at
//! its peak; returning each one to the kernel instead (a lower mmap threshold) makes every step
//! pay page faults again. Here each large block is its own mapping, and a freed one waits in a
//! small cache for the next request of the same size (the next step's same tensor), so neither
//! happens.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;
use std::sync::Mutex;

/// Blocks of at least this many bytes are mapped on their own.
const LARGE: usize = 1 << 20;
/// How far the mapped total (in use and cached) may exceed the most ever in use at once.
const SLACK: usize = 8 << 20;
/// At most this many of them.
const CACHE_SLOTS: usize = 32;
/// The page size the mappings are rounded to.
const PAGE: usize = 4096;
/// Blocks from this size on ask the kernel for transparent huge pages (fewer page faults when a
/// block is first written).
const HUGE: usize = 2 << 20;

/// Freed large blocks, oldest first, with the byte counts that bound them.
struct Cache {
    /// `(length, address)` of each freed block, oldest first.
    blocks: [(usize, usize); CACHE_SLOTS],
    count: usize,
    /// Bytes in `blocks`.
    idle: usize,
    /// Bytes of large blocks in use.
    live: usize,
    /// The most bytes of large blocks ever in use at once.
    high: usize,
}

impl Cache {
    /// A block of `len` bytes: a cached one of exactly that length, else a fresh mapping, made
    /// after giving back the oldest cached blocks that would take the mapped total past the
    /// most ever in use (plus [`SLACK`]). The second value says whether the block is fresh
    /// (and so already zeroed).
    fn take(&mut self, len: usize) -> (*mut u8, bool) {
        // The newest cached block of exactly `len` bytes, else the smallest larger one, its
        // tail given back to the kernel (the pages kept are already faulted in).
        let cached = &self.blocks[..self.count];
        let found = cached.iter().rposition(|b| b.0 == len).or_else(|| {
            (0..cached.len())
                .filter(|&i| cached[i].0 > len)
                .min_by_key(|&i| cached[i].0)
        });
        if let Some(at) = found {
            let (block_len, address) = self.blocks[at];
            self.remove(at);
            self.idle -= block_len;
            if block_len > len {
                unmap((address + len) as *mut u8, block_len - len);
            }
            self.use_bytes(len);
            STATS[if block_len > len { 5 } else { 4 }].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return (address as *mut u8, false);
        }
        let bound = self.high.max(self.live + len) + LIMIT.load(std::sync::atomic::Ordering::Relaxed);
        while self.count > 0 && self.live + self.idle + len > bound {
            let (old_len, old) = self.blocks[0];
            self.remove(0);
            self.idle -= old_len;
            unmap(old as *mut u8, old_len);
        }
        let block = map(len);
        STATS[if len >= HUGE { 1 } else { 0 }].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        STATS[if len >= HUGE { 3 } else { 2 }].fetch_add(len >> 10, std::sync::atomic::Ordering::Relaxed);
        if !block.is_null() {
            self.use_bytes(len);
        }
        (block, true)
    }

    fn use_bytes(&mut self, len: usize) {
        self.live += len;
        self.high = self.high.max(self.live);
    }

    fn remove(&mut self, at: usize) {
        self.blocks.copy_within(at + 1..self.count, at);
        self.count -= 1;
    }

    /// Keeps a freed block for reuse (giving back the oldest when every slot is taken).
    fn keep(&mut self, len: usize, block: *mut u8) {
        self.live -= len;
        if self.count == CACHE_SLOTS {
            let (old_len, old) = self.blocks[0];
            self.remove(0);
            self.idle -= old_len;
            unmap(old as *mut u8, old_len);
        }
        self.blocks[self.count] = (len, block as usize);
        self.count += 1;
        self.idle += len;
    }
}

/// Experiment stats.
pub static STATS: [std::sync::atomic::AtomicUsize; 6] = [const { std::sync::atomic::AtomicUsize::new(0) }; 6];
/// Experiment knob.
pub static LARGE_KNOB: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(LARGE);
/// Experiment knob.
pub static LIMIT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(SLACK);
/// Experiment knob.
pub static HUGE_ON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

static CACHE: Mutex<Cache> = Mutex::new(Cache {
    blocks: [(0, 0); CACHE_SLOTS],
    count: 0,
    idle: 0,
    live: 0,
    high: 0,
});

/// The global allocator of the `kiln` binary (see the module's documentation).
pub struct LargeBlocks;

/// The mapped length of a large block, or `None` for a block the system allocator serves.
fn mapped_len(layout: Layout) -> Option<usize> {
    (layout.size() >= LARGE_KNOB.load(std::sync::atomic::Ordering::Relaxed) && layout.align() <= PAGE)
        .then(|| layout.size().div_ceil(PAGE) * PAGE)
}

/// A fresh zeroed mapping of `len` bytes, or null.
fn map(len: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing.
    let block = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if block == libc::MAP_FAILED {
        return ptr::null_mut();
    }
    if len >= HUGE && HUGE_ON.load(std::sync::atomic::Ordering::Relaxed) {
        // SAFETY: advice on a mapping we own; failing to follow it changes nothing.
        unsafe { libc::madvise(block, len, libc::MADV_HUGEPAGE) };
    }
    block.cast()
}

fn unmap(block: *mut u8, len: usize) {
    // SAFETY: `block` is a mapping of `len` bytes made by `map` and no longer used.
    unsafe { libc::munmap(block.cast(), len) };
}

fn cache() -> std::sync::MutexGuard<'static, Cache> {
    CACHE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// SAFETY: large blocks are page-aligned mappings of at least the layout's size (alignment up to
// a page); everything else is the system allocator's. `mapped_len` decides which for both
// allocation and deallocation from the same layout.
unsafe impl GlobalAlloc for LargeBlocks {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match mapped_len(layout) {
            None => unsafe { System.alloc(layout) },
            Some(len) => cache().take(len).0,
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match mapped_len(layout) {
            None => unsafe { System.alloc_zeroed(layout) },
            Some(len) => {
                let (block, fresh) = cache().take(len);
                if !fresh {
                    // SAFETY: a cached block of `len` bytes that nothing else uses.
                    unsafe { ptr::write_bytes(block, 0, len) };
                }
                block
            }
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        match mapped_len(layout) {
            None => unsafe { System.dealloc(block, layout) },
            Some(len) => cache().keep(len, block),
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees a valid layout of `new_size` with the same alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if mapped_len(layout).is_none() && mapped_len(new_layout).is_none() {
            return unsafe { System.realloc(block, layout, new_size) };
        }
        if mapped_len(layout) == mapped_len(new_layout) {
            return block;
        }
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            // SAFETY: both blocks hold at least the smaller size and do not overlap.
            unsafe {
                ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                self.dealloc(block, layout);
            }
        }
        moved
    }
}
