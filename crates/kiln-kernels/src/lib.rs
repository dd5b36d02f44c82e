//! Host-side helpers shared by Kiln's fused CPU kernels (the recurrent layers of `kiln-rnn`, the
//! convolution blocks of `kiln-cnn`, the MLP of `kiln-fnn`), and two fused operations of their own:
//! the dense layer ([`dense`]) and bit-mask dropout ([`dropout`]).
//!
//! A fused kernel reads its Burn tensor primitives into host `f32` vectors ([`host`]), runs its
//! maths there with Burn's own `gemm` ([`matmul`]) on parts of the batch in parallel
//! ([`batch_parts`], [`run_parts`]: on helper threads that stay awake between parts, [`pool`]),
//! and writes the result back as a primitive of the input's dtype.
#![warn(missing_docs)]

pub mod dense;
pub mod dropout;
pub mod host;
pub mod matmul;
pub mod pool;
pub mod subnormal;
pub mod testing;
pub mod vector_isa;
mod widest;

use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::Mutex;

use burn::prelude::*;
use rayon::prelude::*;

/// `weight` in floating point: an int8 (quantized) weight is dequantized first, as Burn's own
/// layers do on the CPU backends, since the fused kernels compute in f32/f16.
pub fn float_weight<const D: usize>(weight: Tensor<D>) -> Tensor<D> {
    match weight.dtype() {
        burn::tensor::DType::QFloat(_) => weight.dequantize(),
        _ => weight,
    }
}

/// Whether `device` is a CPU backend the fused kernels run on (flex or ndarray, with or
/// without autodiff) given the features this crate was built with.
pub fn has_fused_kernel(device: &Device) -> bool {
    #[allow(unused_variables)]
    let inner = device.clone().inner();
    #[cfg(feature = "flex")]
    if inner == Device::flex() {
        return true;
    }
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    if inner == Device::ndarray() {
        return true;
    }
    false
}

/// Splits `batch` rows into contiguous parts, one per thread of rayon's pool, but no more than
/// `batch * work_per_row / min_part_work` parts (a part smaller than `min_part_work` costs more to
/// hand to a thread than it saves). Always at least one part.
pub fn batch_parts(batch: usize, work_per_row: usize, min_part_work: usize) -> Vec<Range<usize>> {
    let by_work = (batch * work_per_row / min_part_work.max(1)).max(1);
    let count = rayon::current_num_threads().min(batch).min(by_work).max(1);
    let (size, extra) = (batch / count, batch % count);
    let mut start = 0;
    (0..count)
        .map(|p| {
            let len = size + usize::from(p < extra);
            start += len;
            start - len..start
        })
        .collect()
}

/// Runs `job` on every part of a batch: on this thread when there is one part, otherwise in
/// parallel with each part's products single-threaded (the parts are the parallelism): on
/// [`pool`]'s helper threads, which stay awake between calls, or on rayon's pool when that is in
/// use. The results come back in the parts' order.
pub fn run_parts<P: Send, R: Send>(parts: Vec<P>, job: impl Fn(P) -> R + Sync + Send) -> Vec<R> {
    if parts.len() == 1 {
        return parts.into_iter().map(job).collect();
    }
    let count = parts.len();
    let inputs: Vec<Mutex<Option<P>>> = parts.into_iter().map(|p| Mutex::new(Some(p))).collect();
    let outputs: Vec<Mutex<Option<R>>> = (0..count).map(|_| Mutex::new(None)).collect();
    let task = |index: usize| {
        let part = take(&inputs[index]).expect("each part runs once");
        let result = job(part);
        *outputs[index].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
    };
    if pool::run(count, &task).is_none() {
        (0..count)
            .into_par_iter()
            .for_each(|index| matmul::serial(|| task(index)));
    }
    outputs
        .iter()
        .map(|out| take(out).expect("every part ran"))
        .collect()
}

/// The value in `slot`, taken out.
fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// `data` cut into one mutable slice per part, `row_len` values per row of the part (the parts
/// contiguous and in order, as [`batch_parts`] gives them), for [`run_parts`] to fill in parallel.
pub fn split_rows<'a, T>(
    mut data: &'a mut [T],
    parts: &[Range<usize>],
    row_len: usize,
) -> Vec<&'a mut [T]> {
    parts
        .iter()
        .map(|rows| {
            let (head, tail) = std::mem::take(&mut data).split_at_mut(rows.len() * row_len);
            data = tail;
            head
        })
        .collect()
}

/// A vector of `len` values filled part by part in parallel, as [`run_parts`] runs `job` on
/// each `(rows, input)` part: `job` gets the part's rows of the vector (`row_len` values per
/// row), zeroed on the thread that runs the part. The parts' rows must be contiguous, in order
/// and cover `len / row_len` rows. Returns the vector and the parts' results.
///
/// Zeroing (and the first touch of newly mapped pages) on each part's own thread costs half of
/// what `vec![0.0; len]` costs on the calling thread alone, while the helpers wait.
///
/// # Panics
/// If the parts do not cover the rows as above.
pub fn fill_parts<P: Send, R: Send>(
    len: usize,
    row_len: usize,
    parts: Vec<(Range<usize>, P)>,
    job: impl Fn(&Range<usize>, P, &mut [f32]) -> R + Sync + Send,
) -> (Vec<f32>, Vec<R>) {
    let ranges: Vec<Range<usize>> = parts.iter().map(|(rows, _)| rows.clone()).collect();
    let covered = ranges.iter().try_fold(0, |next, rows| {
        (rows.start == next && rows.end >= rows.start).then_some(rows.end)
    });
    assert_eq!(
        covered.map(|rows| rows * row_len),
        Some(len),
        "the parts cover the rows in order"
    );
    let mut values = Vec::<f32>::with_capacity(len);
    let slices = split_rows(&mut values.spare_capacity_mut()[..len], &ranges, row_len);
    let results = run_parts(
        parts.into_iter().zip(slices).collect(),
        |((rows, input), slice)| {
            for value in slice.iter_mut() {
                value.write(0.0);
            }
            // SAFETY: every value of the slice was written just above.
            let slice = unsafe { &mut *(slice as *mut [MaybeUninit<f32>] as *mut [f32]) };
            job(&rows, input, slice)
        },
    );
    // SAFETY: the parts' slices cover the first `len` values (checked above), each zeroed.
    unsafe { values.set_len(len) };
    (values, results)
}

/// `[f(0), f(1), ..., f(count - 1)]`, the indices split into contiguous parts (one per thread,
/// none under `min_part` work at `work_per_index` each) run with [`run_parts`].
pub fn map_indices<T: Send>(
    count: usize,
    work_per_index: usize,
    min_part: usize,
    f: impl Fn(usize) -> T + Sync + Send,
) -> Vec<T> {
    let parts = batch_parts(count, work_per_index, min_part);
    let results = run_parts(parts, |range| range.map(&f).collect::<Vec<T>>());
    results.into_iter().flatten().collect()
}

/// `sum += values`, element-wise: the weight gradients of the parts of a batch, summed.
pub fn add_into(sum: &mut [f32], values: &[f32]) {
    for (s, v) in sum.iter_mut().zip(values) {
        *s += v;
    }
}

#[cfg(test)]
mod tests {
    use super::{batch_parts, run_parts};

    #[test]
    fn parts_cover_the_batch_in_order() {
        let parts = batch_parts(7, 1_000_000, 1);
        assert_eq!(parts.first().map(|p| p.start), Some(0));
        assert_eq!(parts.last().map(|p| p.end), Some(7));
        for pair in parts.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        // Too little work for more than one part.
        assert_eq!(batch_parts(7, 1, 1_000), vec![0..7]);
        assert_eq!(batch_parts(0, 1, 1), vec![0..0]);
    }

    #[test]
    fn indices_are_each_visited_once_in_order() {
        let squares = super::map_indices(9, 1, 1, |i| i * i);
        assert_eq!(squares, (0..9).map(|i| i * i).collect::<Vec<_>>());
        assert!(super::map_indices(0, 1, 1, |i| i).is_empty());
    }

    #[test]
    fn filled_parts_start_zeroed_and_keep_what_each_part_writes() {
        let parts = vec![(0..2, 10.0f32), (2..5, 20.0), (5..5, 30.0), (5..6, 40.0)];
        let (values, sums) = super::fill_parts(12, 2, parts, |rows, base, slice| {
            assert_eq!(slice.len(), rows.len() * 2);
            let zeros = slice.iter().all(|&v| v == 0.0);
            // Every other value written: the rest stay zero.
            for (k, v) in slice.iter_mut().enumerate().step_by(2) {
                *v = base + k as f32;
            }
            (zeros, rows.len())
        });
        let expected = [
            10.0, 0.0, 12.0, 0.0, 20.0, 0.0, 22.0, 0.0, 24.0, 0.0, 40.0, 0.0,
        ];
        assert_eq!(values, expected);
        assert_eq!(sums, vec![(true, 2), (true, 3), (true, 0), (true, 1)]);
    }

    #[test]
    #[should_panic(expected = "the parts cover the rows in order")]
    fn filled_parts_must_cover_every_row() {
        let parts = vec![(0..2, ()), (3..4, ())];
        super::fill_parts(8, 2, parts, |_, _, _| ());
    }

    #[test]
    fn parts_run_in_order() {
        let squares = run_parts(vec![3, 1, 4, 1, 5], |v| v * v);
        assert_eq!(squares, vec![9, 1, 16, 1, 25]);
        assert_eq!(run_parts(vec![7], |v| v + 1), vec![8]);
    }
}
