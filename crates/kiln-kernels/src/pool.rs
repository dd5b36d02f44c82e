//! A small pool of helper threads that stay awake between the fused kernels' parallel parts.
//!
//! Rayon puts an idle worker to sleep after a few dozen rounds of looking for work, and waking
//! it again costs tens of microseconds: on this project's 2-core VM two 10 µs parts take 88 µs
//! on `rayon::join` after 100 µs of single-threaded work, against 11.6 µs here
//! (`cargo bench -p kiln-kernels --bench pool`). A training step of a small model runs a dozen
//! parallel parts of 50-300 µs each, separated by single-threaded tensor operations, so it paid
//! that wake-up again and again: the MLP's training step was no faster on two threads than on
//! one.
//!
//! [`run`] hands parts to helper threads that, after finishing one, keep polling for the next
//! for [`SPIN`] (yielding their core to any other runnable thread every few polls) before they
//! park, as OpenMP runtimes do. One caller uses the pool at a time; a second caller at the same
//! moment (another thread, or a part itself) gets `None` and runs its parts some other way.

use std::any::Any;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock, TryLockError};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long a helper keeps polling for the next part after finishing one before it parks.
/// 2 ms rather than 0.5: the ResNet preset's single-threaded stretches between parallel parts
/// (Burn's own operations, the autodiff graph) often outlast 0.5 ms, and a parked helper
/// starts its next part late (docs/performance.md, fifth session).
pub const SPIN: Duration = Duration::from_millis(2);

/// Polls between two checks of the clock (and yields of the core).
const POLLS_PER_CHECK: u32 = 64;

const IDLE: u8 = 0;
const ASSIGNED: u8 = 1;
const DONE: u8 = 2;

/// The work of one call: run part `index` (it lives on the caller's stack; see `Work`).
type Task = dyn Fn(usize) + Sync;

/// One helper thread's mailbox.
struct Slot {
    state: AtomicU8,
    /// Set by the helper just before it parks; the caller then unparks it.
    parked: AtomicBool,
    /// The task and the part indices assigned to this helper (`first`, `first + stride`, ...).
    work: Mutex<Option<Work>>,
    /// A panic of the helper's parts, handed back to the caller.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    thread: OnceLock<Thread>,
}

/// A task pointer with the lifetime erased: [`run`] waits for every helper to finish with it
/// before it returns (or unwinds), so the pointee outlives every use.
struct Work {
    task: *const Task,
    first: usize,
    stride: usize,
    count: usize,
}

// SAFETY: `Task` is `Sync`, and [`run`] keeps it alive until the helper reports `DONE`.
unsafe impl Send for Work {}

struct Pool {
    slots: Vec<&'static Slot>,
    /// Held by the one caller using the pool.
    busy: Mutex<()>,
}

thread_local! {
    /// Set on the pool's own threads: a part that calls [`run`] again gets `None`.
    static IS_HELPER: Cell<bool> = const { Cell::new(false) };
}

/// The pool, with one helper per thread of rayon's pool besides the caller (none on one core,
/// or with `RAYON_NUM_THREADS=1`), started on first use.
fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let helpers = rayon::current_num_threads().saturating_sub(1);
        let slots = (0..helpers).map(spawn).collect();
        Pool {
            slots,
            busy: Mutex::new(()),
        }
    })
}

fn spawn(index: usize) -> &'static Slot {
    let slot: &'static Slot = Box::leak(Box::new(Slot {
        state: AtomicU8::new(IDLE),
        parked: AtomicBool::new(false),
        work: Mutex::new(None),
        panic: Mutex::new(None),
        thread: OnceLock::new(),
    }));
    let handle = std::thread::Builder::new()
        .name(format!("kiln-helper-{index}"))
        .spawn(move || helper(slot))
        .expect("a helper thread starts");
    let _ = slot.thread.set(handle.thread().clone());
    slot
}

/// A helper's loop: wait for work (polling, then parked), run it, report `DONE`.
fn helper(slot: &'static Slot) {
    IS_HELPER.with(|h| h.set(true));
    loop {
        wait_for_work(slot);
        let work = slot.work.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(work) = work {
            let result = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: the caller keeps the task alive until it sees `DONE` (see `Work`).
                let task = unsafe { &*work.task };
                crate::matmul::serial(|| {
                    for k in 0..work.count {
                        task(work.first + k * work.stride);
                    }
                })
            }));
            if let Err(payload) = result {
                *slot.panic.lock().unwrap_or_else(|e| e.into_inner()) = Some(payload);
            }
        }
        slot.state.store(DONE, Ordering::Release);
    }
}

/// Returns once the slot is `ASSIGNED`: polls for [`SPIN`], yielding the core every
/// [`POLLS_PER_CHECK`] polls, then parks until the caller unparks it.
fn wait_for_work(slot: &Slot) {
    let start = Instant::now();
    let mut polls = 0u32;
    while slot.state.load(Ordering::Acquire) != ASSIGNED {
        polls += 1;
        if !polls.is_multiple_of(POLLS_PER_CHECK) {
            std::hint::spin_loop();
        } else if start.elapsed() < SPIN {
            std::thread::yield_now();
        } else {
            slot.parked.store(true, Ordering::SeqCst);
            if slot.state.load(Ordering::SeqCst) != ASSIGNED {
                std::thread::park();
            }
            slot.parked.store(false, Ordering::SeqCst);
        }
    }
}

/// Runs `task(0)`, ..., `task(parts - 1)` on this thread and the pool's helpers, one part each
/// in turn, and returns when all have finished (fewer than two parts: on this thread). `None`
/// (nothing run) when the pool has no helpers, is in use by another caller, or this is one of
/// its own helpers. A panic in any
/// part is resumed here after every part has stopped.
pub fn run(parts: usize, task: &(dyn Fn(usize) + Sync + '_)) -> Option<()> {
    if IS_HELPER.with(Cell::get) {
        return None;
    }
    if parts < 2 {
        // Nothing to share: this thread runs the part, if any.
        (0..parts).for_each(task);
        return Some(());
    }
    let pool = pool();
    if pool.slots.is_empty() {
        return None;
    }
    let _busy = match pool.busy.try_lock() {
        Ok(guard) => guard,
        // A part panicked under an earlier caller: the pool itself is sound (every helper
        // finished before that panic was resumed).
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => return None,
    };
    let threads = pool.slots.len() + 1;
    let helpers = &pool.slots[..(parts.min(threads) - 1)];
    for (index, slot) in helpers.iter().enumerate() {
        let first = index + 1;
        let count = (parts - first).div_ceil(threads);
        // SAFETY: only the lifetime is erased; every slot given work here is waited for below
        // before this function returns or unwinds, so the task outlives its every use.
        let task =
            unsafe { std::mem::transmute::<*const (dyn Fn(usize) + Sync + '_), *const Task>(task) };
        let work = Work {
            task,
            first,
            stride: threads,
            count,
        };
        // No code panics while holding these locks, so none is poisoned; if one were, its value
        // is still whole.
        *slot.work.lock().unwrap_or_else(|e| e.into_inner()) = Some(work);
        slot.state.store(ASSIGNED, Ordering::SeqCst);
        if slot.parked.load(Ordering::SeqCst)
            && let Some(thread) = slot.thread.get()
        {
            thread.unpark();
        }
    }
    let own = catch_unwind(AssertUnwindSafe(|| {
        crate::matmul::serial(|| {
            for part in (0..parts).step_by(threads) {
                task(part);
            }
        })
    }));
    let mut panic = own.err();
    for slot in helpers {
        while slot.state.load(Ordering::Acquire) != DONE {
            std::hint::spin_loop();
        }
        slot.state.store(IDLE, Ordering::Release);
        if let Some(payload) = slot.panic.lock().unwrap_or_else(|e| e.into_inner()).take() {
            panic.get_or_insert(payload);
        }
    }
    if let Some(payload) = panic {
        resume_unwind(payload);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// [`run`] once the pool is free (other tests use it too); `None` where it has no helpers.
    fn run_when_free(parts: usize, task: &(dyn Fn(usize) + Sync)) -> Option<()> {
        if rayon::current_num_threads() < 2 {
            return None;
        }
        loop {
            if run(parts, task).is_some() {
                return Some(());
            }
            std::thread::yield_now();
        }
    }

    #[test]
    fn every_part_runs_once() {
        for parts in [2, 3, 7, 64] {
            let counts: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
            let task = |p: usize| {
                counts[p].fetch_add(1, Ordering::Relaxed);
            };
            if run_when_free(parts, &task).is_none() {
                eprintln!("skipped: one thread, no helpers");
                return;
            }
            assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1));
        }
    }

    #[test]
    fn no_part_or_one_part_runs_here() {
        let ran = AtomicUsize::new(0);
        let count = |_: usize| {
            ran.fetch_add(1, Ordering::Relaxed);
        };
        assert_eq!(run(0, &count), Some(()));
        assert_eq!(run(1, &count), Some(()));
        assert_eq!(ran.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_part_that_calls_run_again_is_refused_and_a_panic_comes_back() {
        let nested = AtomicUsize::new(0);
        let task = |p: usize| {
            if run(2, &|_| ()).is_none() {
                nested.fetch_add(1, Ordering::Relaxed);
            }
            if p == 1 {
                panic!("part 1 fails");
            }
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| run_when_free(2, &task)));
        if rayon::current_num_threads() < 2 {
            eprintln!("skipped: one thread, no helpers");
            return;
        }
        assert!(outcome.is_err(), "the helper's panic reaches the caller");
        // Neither the helper nor the caller (holding the pool) could nest.
        assert_eq!(nested.load(Ordering::Relaxed), 2);
        // The pool still works afterwards.
        assert_eq!(run_when_free(2, &|_| ()), Some(()));
    }
}
