//! The `kiln` binary's allocator on Linux: small blocks from the system allocator, large ones
//! (1 MiB and up) each its own mapping, the freed ones kept for reuse.
//!
//! A training step allocates and frees the same large tensors (activations, gradients) every
//! step. In glibc's heap those blocks split and merge with everything else, and the heap's
//! extent, which is the process's resident memory, ended 35-70 MiB above what was live at its
//! peak for the character model; returning every block to the kernel instead (a lower mmap
//! threshold) made each step pay its page faults again (19% slower). Here a freed large block
//! waits for the next request of its size (the next step's same tensor). A request no cached
//! block fits gets a fresh mapping as long as the mapped total stays within the most ever in
//! use at once; past that, the smallest larger cached block is split (its tail stays cached),
//! or, when every cached block is smaller, their pages are moved into one new range (`mremap`
//! moves pages without copying them or faulting them in again). Resident memory stays at the
//! live peak, and in steady state no page is faulted in twice: cutting blocks to size and
//! growing others, as this allocator did before, faulted in 4 to 15 MiB of pages again at every
//! step of the ResNet preset, whose tensors of 1.5, 3 and 6 MiB are live at different times.
//! Moved pages do not always merge into one kernel mapping, so each block counts the mappings
//! it spans (at most: its seams) and one of too many goes back to the kernel when freed:
//! the process's mappings stay few (`vm.max_map_count` is 65,530). The live peak that bounds the
//! mapped total is that of the last two windows of [`WINDOW`] requests, and cached blocks go
//! back while the total is past it: with every page kept, a one-off peak (a validation pass, a
//! checkpoint written) would otherwise hold its memory for the rest of a run (the character
//! model's crept from 185 to 207-213 MiB over its epochs). Blocks of 2 MiB and more ask for
//! transparent huge pages: fewer, cheaper faults the first time.

mod seams;

use std::alloc::{GlobalAlloc, Layout, System};

use seams::Seams;
use std::ptr;
use std::sync::{Mutex, MutexGuard};

/// Blocks of at least this many bytes are mapped on their own.
const LARGE: usize = 1 << 20;
/// Freed large blocks kept for reuse, at most this many.
const SLOTS: usize = 32;
/// Blocks in use that span several kernel mappings, tracked at most this many (past that, no
/// block is assembled from others).
const SPLIT_SLOTS: usize = 256;
/// Requests per window over which the live peak that bounds the mapped total is taken: a
/// training step of the character model makes about 40, one of the ResNet preset about 28.
const WINDOW: usize = 1024;
/// The page size mappings are rounded to.
const PAGE: usize = 4096;
/// Mappings from this size on ask for transparent huge pages.
const HUGE: usize = 2 << 20;
/// Freed blocks larger than this go back to the kernel at once (glibc's own mmap threshold
/// behaviour, which the binary sets at 32 MiB), so that a one-off buffer is not held.
const KEEP_AT_MOST: usize = 64 << 20;

/// A large block: its bytes, its address and where the kernel mappings it spans meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    len: usize,
    address: usize,
    seams: Seams,
}

impl Block {
    const NONE: Self = Self {
        len: 0,
        address: 0,
        seams: Seams::NONE,
    };

    /// A block of one mapping.
    fn whole(len: usize, address: usize) -> Self {
        Self {
            len,
            address,
            seams: Seams::NONE,
        }
    }
}

/// Pages in `bytes` (a multiple of the page size), as a seam's offset.
fn pages(bytes: usize) -> u32 {
    u32::try_from(bytes / PAGE).unwrap_or(u32::MAX)
}

/// The freed large blocks and the byte counts that bound them.
struct Cache {
    /// The freed blocks, oldest first.
    blocks: [Block; SLOTS],
    /// Blocks in `blocks`.
    count: usize,
    /// `(address, seams)` of the blocks in use that span several mappings.
    split: [(usize, Seams); SPLIT_SLOTS],
    /// Entries in `split`.
    split_count: usize,
    /// Bytes in `blocks`.
    idle: usize,
    /// Bytes of large blocks in use.
    live: usize,
    /// The most bytes of large blocks in use at once in this window of requests.
    high: usize,
    /// The same for the window before.
    earlier_high: usize,
    /// Requests so far.
    takes: usize,
}

impl Cache {
    const fn new() -> Self {
        Self {
            blocks: [Block::NONE; SLOTS],
            count: 0,
            split: [(0, Seams::NONE); SPLIT_SLOTS],
            split_count: 0,
            idle: 0,
            live: 0,
            high: 0,
            earlier_high: 0,
            takes: 0,
        }
    }

    /// A block of `len` bytes (a multiple of the page size) and whether it is fresh (and so
    /// zeroed); null if the kernel refuses the memory.
    fn take(&mut self, len: usize) -> (*mut u8, bool) {
        self.takes += 1;
        if self.takes.is_multiple_of(WINDOW) {
            self.next_window();
        }
        let room = self.split_count < SPLIT_SLOTS;
        let usable = |b: &Block| b.seams == Seams::NONE || room;
        let cached = &self.blocks[..self.count];
        if let Some(at) = cached.iter().rposition(|b| b.len == len && usable(b)) {
            let block = self.remove(at);
            return (self.lend(block), false);
        }
        let bound = self.peak().max(self.live + len);
        if self.live + self.idle + len <= bound {
            return (self.map_fresh(len), true);
        }
        let larger = (0..cached.len())
            .filter(|&i| cached[i].len > len && usable(&cached[i]))
            .min_by_key(|&i| cached[i].len);
        if let Some(at) = larger {
            // Split: the head serves the request, the tail stays cached, both already faulted
            // in (and each within the mappings the whole spanned).
            let block = self.remove(at);
            self.store(Block {
                len: block.len - len,
                address: block.address + len,
                seams: block.seams.tail(pages(len)),
            });
            let head = Block {
                len,
                seams: block.seams.head(pages(len)),
                ..block
            };
            return (self.lend(head), false);
        }
        if room {
            // Every cached block is smaller: move their pages into one new range.
            return self.assemble(len);
        }
        // No room to track another block of several mappings: give back cached blocks while
        // over the bound, then map afresh.
        while self.count > 0 && self.live + self.idle + len > bound {
            let block = self.remove(0);
            unmap(block.address as *mut u8, block.len);
        }
        (self.map_fresh(len), true)
    }

    /// The bound on the mapped total: the most bytes in use at once over this window of requests
    /// and the one before.
    fn peak(&self) -> usize {
        self.high.max(self.earlier_high)
    }

    /// Starts a window of requests; cached blocks go back, oldest first, while the mapped total
    /// is past the peak of the last two windows. A one-off peak (a validation pass, a
    /// checkpoint being written) so does not hold its memory for the rest of the run.
    fn next_window(&mut self) {
        self.earlier_high = self.high;
        self.high = self.live;
        while self.count > 0 && self.live + self.idle > self.peak() {
            let block = self.remove(0);
            unmap(block.address as *mut u8, block.len);
        }
    }

    /// A block of `len` bytes built from the cached blocks (largest first), whose pages
    /// `mremap` moves into a new range without copying them or faulting them in again; what
    /// the cached blocks do not cover is fresh. The last block moved may leave a tail cached.
    /// Called when every cached block is smaller than `len` and the mapped total is at its
    /// bound, so that the total stays within it. Null if the kernel refuses the memory.
    fn assemble(&mut self, len: usize) -> (*mut u8, bool) {
        let range = map(len);
        if range.is_null() {
            return (range, true);
        }
        let (mut filled, mut seams, mut moved_any) = (0, Seams::NONE, false);
        while filled < len {
            let Some(largest) = (0..self.count).max_by_key(|&i| self.blocks[i].len) else {
                break;
            };
            let block = self.remove(largest);
            let part = block.len.min(len - filled);
            moved_any = true;
            // SAFETY: `part` bytes of a cached block nothing uses, moved over part of `range`,
            // which this function owns.
            if !unsafe { move_pages(block.address as *mut u8, range.add(filled), part) } {
                unmap(block.address as *mut u8, block.len);
                // Where its pages went is unknown: count the range as too many mappings.
                seams = Seams::TOO_MANY;
                break;
            }
            if part < block.len {
                self.store(Block {
                    len: block.len - part,
                    address: block.address + part,
                    seams: block.seams.tail(pages(part)),
                });
            }
            seams.append(pages(filled), &block.seams.head(pages(part)));
            filled += part;
        }
        if moved_any && filled < len {
            // The rest of the range: its own mapping's pages, fresh.
            seams.append(pages(filled), &Seams::NONE);
        }
        let block = Block {
            len,
            address: range as usize,
            seams,
        };
        (self.lend(block), !moved_any)
    }

    /// `block` (`old_len` bytes in use) resized to `new_len` bytes, its contents kept: by the
    /// kernel where the block is one mapping, else (a block assembled from several) copied into
    /// a block from [`Cache::take`], the old one given back. Null if the kernel refuses the
    /// memory.
    fn resize(&mut self, block: *mut u8, old_len: usize, new_len: usize) -> *mut u8 {
        if self.seams_of(block as usize) == Seams::NONE
            && let Some(moved) = grow(block, old_len, new_len)
        {
            self.live -= old_len;
            return self.lend(Block::whole(new_len, moved as usize));
        }
        let (moved, _) = self.take(new_len);
        if !moved.is_null() {
            // SAFETY: two distinct blocks of at least `old_len.min(new_len)` bytes.
            unsafe { ptr::copy_nonoverlapping(block, moved, old_len.min(new_len)) };
            // Not cached: a buffer that grows (a file read to its end) leaves one block per
            // size it passes through, each held while the next is in use.
            self.live -= old_len;
            self.forget(block as usize);
            unmap(block, old_len);
        }
        moved
    }

    /// Keeps a freed block for reuse, giving back the oldest when every slot is taken (and a
    /// block over [`KEEP_AT_MOST`] bytes or of too many mappings, [`Seams::too_many`], at once).
    fn keep(&mut self, len: usize, block: *mut u8) {
        self.live -= len;
        let seams = self.forget(block as usize);
        if len > KEEP_AT_MOST || seams.too_many() {
            unmap(block, len);
            return;
        }
        self.store(Block {
            len,
            address: block as usize,
            seams,
        });
    }

    /// Caches a block without counting it as freed (a split's tail): the oldest cached block
    /// goes back when every slot is taken.
    fn store(&mut self, block: Block) {
        if self.count == SLOTS {
            let old = self.remove(0);
            unmap(old.address as *mut u8, old.len);
        }
        self.blocks[self.count] = block;
        self.count += 1;
        self.idle += block.len;
    }

    /// Takes cached block `at` out of the cache.
    fn remove(&mut self, at: usize) -> Block {
        let block = self.blocks[at];
        self.blocks.copy_within(at + 1..self.count, at);
        self.count -= 1;
        self.idle -= block.len;
        block
    }

    /// Counts `block` as in use (tracking its seams when it has any); its address.
    fn lend(&mut self, block: Block) -> *mut u8 {
        if block.seams != Seams::NONE {
            self.split[self.split_count] = (block.address, block.seams);
            self.split_count += 1;
        }
        self.live += block.len;
        self.high = self.high.max(self.live);
        block.address as *mut u8
    }

    /// The seams of a block in use at `address`, no longer tracked.
    fn forget(&mut self, address: usize) -> Seams {
        let Some(at) = self.tracked(address) else {
            return Seams::NONE;
        };
        let seams = self.split[at].1;
        self.split.copy_within(at + 1..self.split_count, at);
        self.split_count -= 1;
        seams
    }

    /// The seams of a block in use at `address`.
    fn seams_of(&self, address: usize) -> Seams {
        self.tracked(address)
            .map_or(Seams::NONE, |at| self.split[at].1)
    }

    /// Where `split` tracks the block in use at `address`, if it does.
    fn tracked(&self, address: usize) -> Option<usize> {
        self.split[..self.split_count]
            .iter()
            .position(|&(a, _)| a == address)
    }

    fn map_fresh(&mut self, len: usize) -> *mut u8 {
        let block = map(len);
        if block.is_null() {
            return block;
        }
        self.lend(Block::whole(len, block as usize))
    }
}

impl Drop for Cache {
    /// Gives the cached blocks back (the global cache lives as long as the process; a test's
    /// own does not).
    fn drop(&mut self) {
        while self.count > 0 {
            let block = self.remove(0);
            unmap(block.address as *mut u8, block.len);
        }
    }
}

static CACHE: Mutex<Cache> = Mutex::new(Cache::new());

fn cache() -> MutexGuard<'static, Cache> {
    CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Asks for transparent huge pages on a mapping of `len` bytes, where it is large enough.
fn advise_huge(block: *mut libc::c_void, len: usize) {
    if len >= HUGE {
        // SAFETY: advice on a mapping this module owns; ignoring it changes nothing.
        unsafe { libc::madvise(block, len, libc::MADV_HUGEPAGE) };
    }
}

/// A fresh zeroed mapping of `len` bytes, or null.
fn map(len: usize) -> *mut u8 {
    let protection = libc::PROT_READ | libc::PROT_WRITE;
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing.
    let block = unsafe { libc::mmap(ptr::null_mut(), len, protection, flags, -1, 0) };
    if block == libc::MAP_FAILED {
        return ptr::null_mut();
    }
    advise_huge(block, len);
    block.cast()
}

/// The mapping `block` of `len` bytes resized to `new_len` (perhaps moved), or `None` (the
/// mapping then stays as it was).
fn grow(block: *mut u8, len: usize, new_len: usize) -> Option<*mut u8> {
    // SAFETY: `block` is a cached mapping of `len` bytes that nothing uses.
    let grown = unsafe { libc::mremap(block.cast(), len, new_len, libc::MREMAP_MAYMOVE) };
    if grown == libc::MAP_FAILED {
        return None;
    }
    advise_huge(grown, new_len);
    Some(grown.cast())
}

/// Moves the `len` bytes of pages at `from` over `to` (both page-aligned, `to` a range this
/// allocator owns), without copying or faulting them in. A range assembled from several
/// mappings is moved piece by piece (`mremap` moves one mapping at a time). False if some page
/// could not be moved (its part of `to` then keeps what it had).
///
/// # Safety
/// `from` and `to` must each be `len` bytes of mappings that nothing else uses.
unsafe fn move_pages(from: *mut u8, to: *mut u8, len: usize) -> bool {
    let flags = libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED;
    // SAFETY: as the caller's.
    let moved = unsafe { libc::mremap(from.cast(), len, len, flags, to.cast::<libc::c_void>()) };
    if moved != libc::MAP_FAILED {
        return true;
    }
    if len <= PAGE {
        return false;
    }
    let half = len / 2 / PAGE * PAGE;
    // SAFETY: the two halves of the caller's ranges.
    unsafe { move_pages(from, to, half) && move_pages(from.add(half), to.add(half), len - half) }
}

fn unmap(block: *mut u8, len: usize) {
    // SAFETY: `block` is a mapping (or the tail of one) of `len` bytes that nothing uses.
    unsafe { libc::munmap(block.cast(), len) };
}

/// The mapped length of a large block, or `None` for a block the system allocator serves.
/// Allocation and deallocation decide from the same layout, so they always agree.
fn mapped_len(layout: Layout) -> Option<usize> {
    (layout.size() >= LARGE && layout.align() <= PAGE).then(|| layout.size().div_ceil(PAGE) * PAGE)
}

/// The global allocator of the `kiln` binary (see the module's documentation).
pub struct LargeBlocks;

// SAFETY: large blocks are page-aligned mappings of at least the layout's size (for alignments
// up to a page), used by one owner at a time; everything else is the system allocator's.
unsafe impl GlobalAlloc for LargeBlocks {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match mapped_len(layout) {
            // SAFETY: the caller's layout, passed on.
            None => unsafe { System.alloc(layout) },
            Some(len) => cache().take(len).0,
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match mapped_len(layout) {
            // SAFETY: the caller's layout, passed on.
            None => unsafe { System.alloc_zeroed(layout) },
            Some(len) => {
                let (block, fresh) = cache().take(len);
                if !fresh && !block.is_null() {
                    // SAFETY: a reused block of `len` bytes that only this caller holds.
                    unsafe { ptr::write_bytes(block, 0, len) };
                }
                block
            }
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        match mapped_len(layout) {
            // SAFETY: a block the system allocator gave for this layout.
            None => unsafe { System.dealloc(block, layout) },
            Some(len) => cache().keep(len, block),
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` forms a valid layout with this alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let (old_len, new_len) = (mapped_len(layout), mapped_len(new_layout));
        if old_len.is_none() && new_len.is_none() {
            // SAFETY: a system block resized within the system allocator.
            return unsafe { System.realloc(block, layout, new_size) };
        }
        if old_len == new_len {
            return block;
        }
        if let (Some(old_len), Some(new_len)) = (old_len, new_len) {
            // Large to large: the kernel moves the pages where it can (no copy).
            return cache().resize(block, old_len, new_len);
        }
        // SAFETY: a valid layout; the old block holds `layout.size()` bytes, the new one
        // `new_size`, and they do not overlap.
        unsafe {
            let moved = self.alloc(new_layout);
            if !moved.is_null() {
                ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                self.dealloc(block, layout);
            }
            moved
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    fn fill(block: *mut u8, len: usize, byte: u8) {
        // SAFETY: a block of at least `len` bytes that the test owns.
        unsafe { ptr::write_bytes(block, byte, len) };
    }

    /// Whether the `len` bytes at `block` all hold `byte`.
    fn holds(block: *mut u8, len: usize, byte: u8) -> bool {
        bytes(block, len).iter().all(|&v| v == byte)
    }

    fn bytes<'a>(block: *mut u8, len: usize) -> &'a [u8] {
        // SAFETY: a block of at least `len` bytes that the test owns.
        unsafe { std::slice::from_raw_parts(block, len) }
    }

    #[test]
    fn a_freed_block_serves_the_next_request_of_its_size() {
        let mut cache = Cache::new();
        let (a, fresh) = cache.take(3 * MIB);
        assert!(fresh && !a.is_null());
        cache.keep(3 * MIB, a);
        let (b, fresh) = cache.take(3 * MIB);
        assert_eq!((b, fresh), (a, false));
        assert_eq!((cache.live, cache.idle, cache.high), (3 * MIB, 0, 3 * MIB));
        cache.keep(3 * MIB, b);
    }

    #[test]
    fn past_the_live_peak_a_larger_block_is_split_and_its_tail_kept() {
        let mut cache = Cache::new();
        let (a, _) = cache.take(6 * MIB);
        let (b, _) = cache.take(2 * MIB);
        cache.keep(6 * MIB, a);
        cache.keep(2 * MIB, b);
        // Mapping 1 MiB more would take the total (8 MiB cached) past the peak (8 MiB in use):
        // the smallest larger block is split instead, its tail cached.
        let (c, fresh) = cache.take(MIB);
        assert_eq!((c, fresh), (b, false));
        assert_eq!((cache.live, cache.idle), (MIB, 7 * MIB));
        // The tail serves the next request of its size.
        let (d, fresh) = cache.take(MIB);
        assert_eq!((d as usize, fresh), (b as usize + MIB, false));
        assert_eq!(
            (cache.live, cache.idle, cache.high),
            (2 * MIB, 6 * MIB, 8 * MIB)
        );
        fill(c, MIB, 1);
        fill(d, MIB, 2);
        assert!(holds(c, MIB, 1));
        cache.keep(MIB, c);
        cache.keep(MIB, d);
    }

    /// A cache holding two freed blocks, `a` of 2 MiB filled with `a_byte` and `b` of 3 MiB
    /// with `b_byte` (5 MiB, the live peak).
    fn two_cached_blocks(a_byte: u8, b_byte: u8) -> (Cache, *mut u8, *mut u8) {
        let mut cache = Cache::new();
        let (a, _) = cache.take(2 * MIB);
        let (b, _) = cache.take(3 * MIB);
        fill(a, 2 * MIB, a_byte);
        fill(b, 3 * MIB, b_byte);
        cache.keep(2 * MIB, a);
        cache.keep(3 * MIB, b);
        (cache, a, b)
    }

    #[test]
    fn past_the_live_peak_smaller_blocks_are_moved_into_one_with_their_contents() {
        let (mut cache, a, _) = two_cached_blocks(7, 8);
        // 4 MiB fresh would take the total to 9 MiB, past the peak of 5: the 3 MiB block's pages
        // first, then the first 1 MiB of the 2 MiB block's, whose last 1 MiB stays cached.
        let (c, fresh) = cache.take(4 * MIB);
        assert!(!fresh && !c.is_null());
        assert!(holds(c, 3 * MIB, 8));
        assert!(holds(c.wrapping_add(3 * MIB), MIB, 7));
        assert_eq!(
            (cache.live, cache.idle, cache.high),
            (4 * MIB, MIB, 5 * MIB)
        );
        let tail = Block::whole(MIB, a as usize + MIB);
        assert_eq!(cache.blocks[..cache.count], [tail]);
        // The block spans the two mappings it was moved from, at most.
        assert_eq!(cache.seams_of(c as usize).pieces(), 2);
        fill(c, 4 * MIB, 1);
        cache.keep(4 * MIB, c);
    }

    /// Mappings the kernel lists in `[block, block + len)`, from `/proc/self/maps`.
    fn mappings_in(block: *mut u8, len: usize) -> usize {
        let (start, end) = (block as usize, block as usize + len);
        let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
        maps.lines()
            .filter_map(|line| line.split(' ').next()?.split_once('-'))
            .filter_map(|(a, b)| {
                Some((
                    usize::from_str_radix(a, 16).ok()?,
                    usize::from_str_radix(b, 16).ok()?,
                ))
            })
            .filter(|&(a, b)| a < end && b > start)
            .count()
    }

    #[test]
    fn a_block_assembled_from_several_mappings_moves_and_resizes_with_its_contents() {
        let (mut cache, _, _) = two_cached_blocks(1, 2);
        // 3 MiB of `b` and 1 MiB of `a`, made two mappings for certain: the kernel may merge
        // moved pages into one, but not ranges that differ in their huge-page advice.
        let (c, _) = cache.take(4 * MIB);
        // SAFETY: advice on the second half of a block this test holds.
        unsafe { libc::madvise(c.add(2 * MIB).cast(), 2 * MIB, libc::MADV_NOHUGEPAGE) };
        assert!(mappings_in(c, 4 * MIB) >= 2, "c is one mapping");
        cache.keep(4 * MIB, c);
        // 5 MiB from `c` (moved piece by piece) and the 1 MiB left of `a`.
        let (d, fresh) = cache.take(5 * MIB);
        assert!(!fresh);
        assert!(holds(d, 3 * MIB, 2));
        assert!(holds(d.wrapping_add(3 * MIB), 2 * MIB, 1));
        assert_eq!((cache.live, cache.idle, cache.count), (5 * MIB, 0, 0));
        // Resized, it is copied: `mremap` does not resize across mappings.
        let e = cache.resize(d, 5 * MIB, 8 * MIB);
        assert!(!e.is_null());
        assert!(holds(e, 3 * MIB, 2));
        assert!(holds(e.wrapping_add(3 * MIB), 2 * MIB, 1));
        fill(e, 8 * MIB, 3);
        assert_eq!((cache.live, cache.idle), (8 * MIB, 0));
        cache.keep(8 * MIB, e);
    }

    #[test]
    fn a_freed_block_of_too_many_mappings_goes_back() {
        let mut cache = Cache::new();
        let count = seams::MOST_SEAMS + 2;
        let blocks: Vec<_> = (0..count).map(|_| cache.take(MIB).0).collect();
        for (i, &block) in blocks.iter().enumerate() {
            fill(block, MIB, i as u8);
            cache.keep(MIB, block);
        }
        // Past the peak and larger than every cached block: assembled from all of them.
        let (big, fresh) = cache.take(count * MIB);
        assert!(!fresh);
        // Every block's pages, each whole, in some order.
        let mut seen: Vec<u8> = (0..count)
            .map(|i| {
                let part = bytes(big.wrapping_add(i * MIB), MIB);
                assert!(part.iter().all(|&v| v == part[0]));
                part[0]
            })
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..count as u8).collect::<Vec<_>>());
        assert!(cache.seams_of(big as usize).too_many());
        cache.keep(count * MIB, big);
        assert_eq!(
            (cache.count, cache.idle, cache.live, cache.split_count),
            (0, 0, 0, 0)
        );
    }

    #[test]
    fn a_block_larger_than_every_cached_one_together_is_fresh_past_them() {
        let mut cache = Cache::new();
        let (a, _) = cache.take(2 * MIB);
        fill(a, 2 * MIB, 7);
        cache.keep(2 * MIB, a);
        let (b, fresh) = cache.take(4 * MIB);
        assert!(!fresh && !b.is_null());
        assert!(holds(b, 2 * MIB, 7));
        assert!(holds(b.wrapping_add(2 * MIB), 2 * MIB, 0));
        fill(b, 4 * MIB, 1);
        assert_eq!((cache.live, cache.idle, cache.high), (4 * MIB, 0, 4 * MIB));
        cache.keep(4 * MIB, b);
    }

    #[test]
    fn a_peak_two_windows_old_no_longer_holds_its_memory() {
        let mut cache = Cache::new();
        let (big, _) = cache.take(8 * MIB);
        cache.keep(8 * MIB, big);
        // Steps that need 1 MiB at a time: split from the 8 MiB block, then reused.
        for _ in 0..2 * WINDOW {
            let (block, _) = cache.take(MIB);
            cache.keep(MIB, block);
        }
        assert_eq!((cache.live, cache.peak()), (0, MIB));
        assert!(cache.idle <= MIB, "{} bytes still cached", cache.idle);
    }

    #[test]
    fn the_oldest_block_goes_when_every_slot_is_taken() {
        let mut cache = Cache::new();
        let blocks: Vec<_> = (0..=SLOTS).map(|_| cache.take(MIB).0).collect();
        for &block in &blocks {
            cache.keep(MIB, block);
        }
        assert_eq!(cache.count, SLOTS);
        assert_eq!(cache.idle, SLOTS * MIB);
        assert!(
            !cache.blocks[..SLOTS]
                .iter()
                .any(|b| b.address == blocks[0] as usize)
        );
        for _ in 0..SLOTS {
            let (block, _) = cache.take(MIB);
            cache.keep(MIB, block);
        }
    }

    #[test]
    fn a_block_over_the_keeping_limit_goes_back_at_once() {
        let mut cache = Cache::new();
        let (a, _) = cache.take(KEEP_AT_MOST + PAGE);
        cache.keep(KEEP_AT_MOST + PAGE, a);
        assert_eq!((cache.count, cache.idle, cache.live), (0, 0, 0));
    }

    #[test]
    fn zeroed_blocks_are_zero_even_when_reused() {
        let layout = Layout::from_size_align(3 * MIB + 5, 64).expect("a layout");
        // SAFETY: allocations through the allocator with a valid layout, freed with it.
        unsafe {
            let a = LargeBlocks.alloc(layout);
            fill(a, layout.size(), 0xff);
            LargeBlocks.dealloc(a, layout);
            let b = LargeBlocks.alloc_zeroed(layout);
            assert!(bytes(b, layout.size()).iter().all(|&v| v == 0));
            LargeBlocks.dealloc(b, layout);
        }
    }

    #[test]
    fn reallocation_keeps_the_values_across_the_threshold() {
        let sizes = [1000, 3 * MIB, 5 * MIB + 3, 2 * MIB, 512, 4 * MIB];
        let layout = |size| Layout::from_size_align(size, 8).expect("a layout");
        // SAFETY: allocations through the allocator with valid layouts, each resized or freed
        // with the layout it has.
        unsafe {
            let mut block = LargeBlocks.alloc(layout(sizes[0]));
            for (i, pair) in sizes.windows(2).enumerate() {
                let kept = pair[0].min(pair[1]);
                fill(block, pair[0], i as u8 + 1);
                block = LargeBlocks.realloc(block, layout(pair[0]), pair[1]);
                assert!(!block.is_null());
                let moved = bytes(block, kept);
                assert!(moved.iter().all(|&v| v == i as u8 + 1), "{pair:?}");
            }
            LargeBlocks.dealloc(block, layout(sizes[sizes.len() - 1]));
        }
    }
}
