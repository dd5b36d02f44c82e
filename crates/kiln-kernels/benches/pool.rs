//! What handing work to another thread costs after the threads have been idle: two 10 µs parts
//! run in parallel right after 100 µs of single-threaded work, on rayon's pool (`rayon::join`)
//! and on Kiln's helper threads (`kiln_kernels::pool::run`). Ideal: 10 µs.
//!
//! `cargo bench -p kiln-kernels --bench pool`

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

/// Keeps this thread busy for `micros` microseconds.
fn busy(micros: u64) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_micros(micros) {
        std::hint::spin_loop();
    }
}

/// The time of `parallel` alone, each call after 100 µs of single-threaded work.
fn after_idle(iters: u64, parallel: impl Fn()) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        busy(100);
        let start = Instant::now();
        parallel();
        total += start.elapsed();
    }
    total
}

fn bench(c: &mut Criterion) {
    c.bench_function("rayon::join of 2 x 10 us after 100 us idle", |b| {
        b.iter_custom(|iters| {
            after_idle(iters, || {
                rayon::join(|| busy(10), || busy(10));
            })
        })
    });
    c.bench_function("pool::run of 2 x 10 us after 100 us idle", |b| {
        b.iter_custom(|iters| {
            after_idle(iters, || {
                let ran = kiln_kernels::pool::run(2, &|_| busy(10));
                assert!(ran.is_some(), "the pool has a helper (2 threads or more)");
            })
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
