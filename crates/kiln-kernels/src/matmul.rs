//! Row-major matrix products on host slices through the `gemm` crate (Burn's own).

use std::cell::Cell;

/// Multiply-adds above which [`product_by_rows`] hands its chunks of rows to the thread pool:
/// the ResNet preset's 3x3 convolutions of 64 and 128 filters at batch 1 (7.2 million each) do,
/// the reference CNN's second convolution (2.2 million) does not, since waking a thread costs
/// more than its share of that product.
const PARALLEL_CHUNKS_WORK: usize = 4 << 20;

/// Multiply-adds above this many go to gemm's thread pool; below it one thread is faster.
const PARALLEL_WORK: usize = 128 * 128 * 128;

thread_local! {
    /// Set while this thread works on one part of a batch split across threads: its products
    /// then stay on this thread.
    static SERIAL: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with every product on this thread single-threaded.
pub fn serial<T>(f: impl FnOnce() -> T) -> T {
    let before = SERIAL.with(|s| s.replace(true));
    let value = f();
    SERIAL.with(|s| s.set(before));
    value
}

/// A row-major matrix view: `rows x cols` with `stride` floats between rows, optionally read
/// transposed.
#[derive(Clone, Copy)]
pub struct View<'a> {
    /// The values.
    pub data: &'a [f32],
    /// Distance between consecutive rows of the stored matrix.
    pub stride: usize,
    /// Read the stored matrix transposed.
    pub transposed: bool,
}

impl<'a> View<'a> {
    /// A densely stored matrix with `cols` columns.
    pub fn dense(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            stride: cols,
            transposed: false,
        }
    }

    /// The transpose of a densely stored matrix with `cols` columns.
    pub fn dense_t(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            stride: cols,
            transposed: true,
        }
    }

    /// The matrix as read from its row `first` on.
    pub fn from_row(self, first: usize) -> Self {
        let start = if self.transposed {
            first
        } else {
            first * self.stride
        };
        Self {
            data: &self.data[start..],
            ..self
        }
    }

    /// (column stride, row stride) of the matrix as read.
    fn strides(&self) -> (isize, isize) {
        if self.transposed {
            (self.stride as isize, 1)
        } else {
            (1, self.stride as isize)
        }
    }
}

/// `out (+)= a · b` with `a` read as `m x k`, `b` as `k x n` and `out` an `m x n` matrix whose
/// rows are `out_stride` apart. Adds to `out` when `accumulate`, else overwrites it.
///
/// # Panics
/// If a slice is too short for the shapes, or `out_stride < n` (rows would overlap, and gemm
/// writes rows from several threads).
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    out: &mut [f32],
    out_stride: usize,
    a: View,
    b: View,
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        m == 1 || out_stride >= n,
        "matmul: out_stride {out_stride} < n {n}: output rows would overlap"
    );
    assert!(
        out.len() >= (m - 1) * out_stride + n,
        "matmul: output too short"
    );
    check_inputs(&a, &b, m, k, n);
    if k == 0 {
        if !accumulate {
            for row in 0..m {
                out[row * out_stride..row * out_stride + n].fill(0.0);
            }
        }
        return;
    }
    // SAFETY: the asserts above keep every index gemm reads or writes inside the slices.
    unsafe { run_gemm(out.as_mut_ptr(), out_stride, a, b, m, k, n, accumulate) }
}

/// Rows of `a` per gemm call in [`matmul_unpacked`]: gemm copies ("packs") the wide operand of a
/// product with more rows than this before multiplying, and reads it where it lies for this many
/// or fewer.
pub const UNPACKED_ROWS: usize = 48;

/// [`matmul`] in calls of at most [`UNPACKED_ROWS`] rows of `a`, so that gemm reads `b` where it
/// lies instead of copying it first: for a product with few rows and a large `b` that is used
/// once, such as a recurrent step's weight, whose copy costs more than the product saves (the
/// character model's batch-128 inference ran 8% faster). The same values as [`matmul`], bit for
/// bit (test).
///
/// # Panics
/// As [`matmul`].
#[allow(clippy::too_many_arguments)]
pub fn matmul_unpacked(
    out: &mut [f32],
    out_stride: usize,
    a: View,
    b: View,
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    for rows in unpacked_row_chunks(m) {
        matmul(
            &mut out[rows.start * out_stride..],
            out_stride,
            a.from_row(rows.start),
            b,
            rows.len(),
            k,
            n,
            accumulate,
        );
    }
}

/// The rows `0..m` in the chunks [`matmul_unpacked`] multiplies: [`UNPACKED_ROWS`] at a time,
/// but never a single row when `m` > 1 (gemm's matrix-vector path sums in another order).
fn unpacked_row_chunks(m: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let mut first = 0;
    std::iter::from_fn(move || {
        (first < m).then(|| {
            let left = m - first;
            let rows = if left == UNPACKED_ROWS + 1 {
                UNPACKED_ROWS - 1
            } else {
                UNPACKED_ROWS.min(left)
            };
            first += rows;
            first - rows..first
        })
    })
}

/// The product `a · b` (`a` read as `m x k`, `b` as `k x n`) as a new dense `m x n` matrix,
/// written once by gemm (no zeroing first).
///
/// # Panics
/// If a slice is too short for the shapes.
pub fn product(a: View, b: View, m: usize, k: usize, n: usize) -> Vec<f32> {
    product_by_rows(a, b, m, k, n, m.max(1))
}

/// [`product`] computed `rows` rows of `a` at a time (for `a` with few rows and a wide `b`).
///
/// gemm multiplies such a product as `bᵀ · aᵀ`, and it copies ("packs") the wide operand before
/// multiplying when `m` is above 48; at or below 48 it reads that operand where it lies, which
/// for the convolutions' im2col matrices is faster than packing all of it. `rows` <= 48 keeps
/// every call below that threshold.
pub fn product_by_rows(a: View, b: View, m: usize, k: usize, n: usize, rows: usize) -> Vec<f32> {
    assert!(rows > 0, "product_by_rows: at least one row per call");
    if m == 0 || n == 0 || k == 0 {
        return vec![0.0; m * n];
    }
    check_inputs(&a, &b, m, k, n);
    let mut out: Vec<f32> = Vec::with_capacity(m * n);
    let chunk = |first: usize| a.from_row(first);
    // Rows `first..` of the product into `dst`, which has room for them.
    let rows_into = |first: usize, dst: *mut f32| {
        let count = rows.min(m - first);
        // SAFETY: `dst` holds `count x n` values (checked by the callers below), which gemm
        // writes; the inputs' shapes were checked above.
        unsafe { run_gemm(dst, n, chunk(first), b, count, k, n, false) }
    };
    // Outside a part of a batch already split across threads (a batch of one sample, say), the
    // chunks of rows go to the helper threads: gemm's own threads do little at these sizes.
    let parallel = m > rows && m * n * k >= PARALLEL_CHUNKS_WORK && !SERIAL.with(Cell::get);
    if parallel {
        let spare = &mut out.spare_capacity_mut()[..m * n];
        let blocks: Vec<_> = spare.chunks_mut(rows * n).enumerate().collect();
        // `run_parts` runs each block's product single-threaded, on threads that stay awake.
        crate::run_parts(blocks, |(index, block)| {
            rows_into(index * rows, block.as_mut_ptr().cast())
        });
    } else {
        for first in (0..m).step_by(rows) {
            // SAFETY: `out` has room for `m x n` values, so for rows `first..` of them.
            rows_into(first, unsafe { out.as_mut_ptr().add(first * n) });
        }
    }
    // SAFETY: every one of the `m x n` values was written by gemm above.
    unsafe { out.set_len(m * n) };
    out
}

/// Asserts that `a` and `b` hold `m x k` and `k x n` matrices.
fn check_inputs(a: &View, b: &View, m: usize, k: usize, n: usize) {
    let need = |v: &View, rows: usize, cols: usize| {
        let (r, c) = if v.transposed {
            (cols, rows)
        } else {
            (rows, cols)
        };
        r == 0 || c == 0 || v.data.len() >= (r - 1) * v.stride + c
    };
    assert!(need(a, m, k) && need(b, k, n), "matmul: input too short");
}

/// Calls gemm: `out (+)= a · b`, on gemm's thread pool when the product is large and this thread
/// is not [`serial`].
///
/// # Safety
/// `out` must be valid for writes (and for reads when `accumulate`) of an `m x n` matrix with rows
/// `out_stride` apart; `a` and `b` must hold `m x k` and `k x n` matrices; `m`, `n`, `k` > 0.
#[allow(clippy::too_many_arguments)]
unsafe fn run_gemm(
    out: *mut f32,
    out_stride: usize,
    a: View,
    b: View,
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    let parallelism = if m * n * k >= PARALLEL_WORK && !SERIAL.with(Cell::get) {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    let (a_cs, a_rs) = a.strides();
    let (b_cs, b_rs) = b.strides();
    // SAFETY: the caller guarantees the shapes (see above).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out,
            1,
            out_stride as isize,
            accumulate,
            a.data.as_ptr(),
            a_cs,
            a_rs,
            b.data.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "output rows would overlap")]
    fn overlapping_output_rows_are_refused() {
        let a = [1.0f32; 4];
        let b = [1.0f32; 4];
        let mut out = [0.0f32; 8];
        matmul(
            &mut out,
            1,
            View::dense(&a, 2),
            View::dense(&b, 2),
            2,
            2,
            2,
            false,
        );
    }

    /// Values from a fixed sequence in [-1, 1).
    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| {
                let v = i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8;
                (v % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn unpacked_products_give_the_same_bits() {
        // The recurrent layers' shapes: the character model's steps (64 rows of 576 or 640 by
        // the LSTM's four gates) and its way back through the weight, and sequential MNIST's
        // LSTM.
        for (m, k, n, out_stride) in [
            (64, 576, 2304, 2304 * 3),
            (64, 2304, 576, 576),
            (64, 640, 2560, 2560 * 50),
            (64, 2560, 640, 640),
            (128, 128, 512, 512 * 2),
            (97, 40, 30, 31),
            (49, 40, 30, 30),
        ] {
            let a = values(m * k, 1);
            let b = values(k * n, 2);
            let start = values((m - 1) * out_stride + n, 3);
            for transposed in [false, true] {
                let a_view = if transposed {
                    View::dense_t(&a, m)
                } else {
                    View::dense(&a, k)
                };
                for accumulate in [false, true] {
                    let mut whole = start.clone();
                    let mut unpacked = start.clone();
                    let b_view = View::dense(&b, n);
                    matmul(&mut whole, out_stride, a_view, b_view, m, k, n, accumulate);
                    matmul_unpacked(
                        &mut unpacked,
                        out_stride,
                        a_view,
                        b_view,
                        m,
                        k,
                        n,
                        accumulate,
                    );
                    let first_difference = whole
                        .iter()
                        .zip(&unpacked)
                        .position(|(x, y)| x.to_bits() != y.to_bits());
                    assert_eq!(
                        first_difference, None,
                        "{m} x {k} x {n}, transposed {transposed}, accumulate {accumulate}: \
                         unpacked values differ"
                    );
                    let moved = whole.iter().zip(&start).any(|(x, y)| x != y);
                    assert!(moved, "{m} x {k} x {n}: the product wrote nothing");
                }
            }
        }
    }

    #[test]
    fn products_with_transposes_and_strides_match_the_definition() {
        let a: Vec<f32> = (0..6).map(|v| v as f32).collect(); // 2x3
        let b: Vec<f32> = (0..12).map(|v| v as f32 * 0.5).collect(); // 3x4
        let mut out = vec![1.0; 8];
        matmul(
            &mut out,
            4,
            View::dense(&a, 3),
            View::dense(&b, 4),
            2,
            3,
            4,
            false,
        );
        let expected: Vec<f32> = (0..2)
            .flat_map(|i| {
                let (a, b) = (&a, &b);
                (0..4).map(move |j| (0..3).map(|p| a[i * 3 + p] * b[p * 4 + j]).sum::<f32>())
            })
            .collect();
        assert_eq!(out, expected);
        // aᵀ (3x2) · a (2x3), accumulated onto ones.
        let mut gram = vec![1.0; 9];
        matmul(
            &mut gram,
            3,
            View::dense_t(&a, 3),
            View::dense(&a, 3),
            3,
            2,
            3,
            true,
        );
        assert_eq!(gram[0], 1.0 + 0.0 * 0.0 + 3.0 * 3.0);
        assert_eq!(gram[5], 1.0 + 1.0 * 2.0 + 4.0 * 5.0);
        // A new product equals an overwriting matmul.
        let fresh = product(View::dense(&a, 3), View::dense(&b, 4), 2, 3, 4);
        assert_eq!(fresh, expected);
        // Row by row (1 row per call) and in uneven chunks, the same values, for a transposed
        // `a` too: aᵀ (3x2) · b' (2x4).
        for rows in [1, 2, 5] {
            let by_rows = product_by_rows(View::dense(&a, 3), View::dense(&b, 4), 2, 3, 4, rows);
            assert_eq!(by_rows, expected);
            let at = product(View::dense_t(&a, 3), View::dense(&b[..8], 4), 3, 2, 4);
            let at_by_rows =
                product_by_rows(View::dense_t(&a, 3), View::dense(&b[..8], 4), 3, 2, 4, rows);
            assert_eq!(at_by_rows, at);
            assert_eq!(at[4], 1.0 * b[0] + 4.0 * b[4], "row 1 of aᵀ is (1, 4)");
        }
    }
}
