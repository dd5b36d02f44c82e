//! Products with a mostly-zero left operand: each block of a few rows is multiplied over only
//! the columns that are nonzero in at least one of its rows. An image with a black background
//! (81% of MNIST's pixels are 0) or one-hot categorical features is such an input, and neighbouring
//! rows share most of their zeros (the same border pixels), so a dense layer's first product then
//! costs a fraction of its size. The kernel is a small register-blocked product (a block of rows
//! times a strip of outputs held in registers), reading the right operand's rows in place.

use std::ops::Range;

/// Share of a block's columns kept (nonzero in one of its rows) at or below which [`product`]
/// beats gemm on the dense matrix: it runs at about half of gemm's speed per multiply-add over
/// the columns it keeps. Blocks of 4 MNIST digits keep 39% of the pixels (dense: gemm), one
/// digit 19% (`cargo bench -p kiln-fnn --bench mlp`: batch 1).
pub const MAX_KEPT_SHARE: f64 = 0.3;

/// A left operand read in place: element `(row, col)` at `row * row_stride + col * col_stride`
/// (a row-major matrix, or the transpose of one).
#[derive(Debug, Clone, Copy)]
pub struct Operand<'a> {
    /// The values.
    pub data: &'a [f32],
    /// Number of columns (the inner dimension of the product).
    pub cols: usize,
    /// Distance between consecutive rows.
    pub row_stride: usize,
    /// Distance between consecutive columns.
    pub col_stride: usize,
}

impl Operand<'_> {
    #[inline(always)]
    fn at(&self, row: usize, col: usize) -> f32 {
        self.data[row * self.row_stride + col * self.col_stride]
    }
}

/// Rows `rows` of `a · b` (`b` dense row-major with `n` columns and `a.cols` rows) into `out`
/// (their `rows.len() x n` values), each output row starting from `init` (a row of `n`, the
/// bias) or 0, when it is worth it: when the blocks of rows keep at most [`MAX_KEPT_SHARE`] of
/// their columns. Returns whether it did; `out` is untouched when it did not.
///
/// # Panics
/// If `out`, `init` or `b` has the wrong length, or `a` is too short for `rows`.
pub fn product(
    a: Operand,
    rows: Range<usize>,
    b: &[f32],
    n: usize,
    init: Option<&[f32]>,
    out: &mut [f32],
) -> bool {
    assert_eq!(out.len(), rows.len() * n, "sparse product: output length");
    assert!(
        init.is_none_or(|i| i.len() == n),
        "sparse product: init length"
    );
    assert!(
        b.len() >= a.cols * n,
        "sparse product: right operand too short"
    );
    if let (Some(last_row), Some(last_col)) = (rows.end.checked_sub(1), a.cols.checked_sub(1)) {
        let last = last_row * a.row_stride + last_col * a.col_stride;
        assert!(
            last < a.data.len(),
            "sparse product: left operand too short"
        );
    }
    #[cfg(target_arch = "x86_64")]
    {
        if kiln_kernels::avx512_kernels() {
            // SAFETY: the CPU has AVX-512F (checked at run time); the shapes were checked above.
            return unsafe { product_avx512(a, rows, b, n, init, out) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has the features `product_avx2` was compiled for.
            return unsafe { product_avx2(a, rows, b, n, init, out) };
        }
    }
    product_body::<16, 512>(a, rows, b, n, init, out)
}

/// [`product_body`] with AVX-512: 4 rows x 64 outputs (sixteen registers) at a time, over
/// strips of 128 rows of `b` (32 KiB, in the L1 cache).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn product_avx512(
    a: Operand,
    rows: Range<usize>,
    b: &[f32],
    n: usize,
    init: Option<&[f32]>,
    out: &mut [f32],
) -> bool {
    product_body::<64, 128>(a, rows, b, n, init, out)
}

/// [`product_body`] with AVX2: 4 rows x 16 outputs (eight registers) at a time, over strips of
/// 512 rows of `b` (32 KiB).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn product_avx2(
    a: Operand,
    rows: Range<usize>,
    b: &[f32],
    n: usize,
    init: Option<&[f32]>,
    out: &mut [f32],
) -> bool {
    product_body::<16, 512>(a, rows, b, n, init, out)
}

/// Rows of `a` per block: their columns with a nonzero are multiplied together.
const BLOCK: usize = 4;

/// The body of [`product`], blocked like a matrix product: each block of rows scanned for its
/// kept columns (giving up when they are too many), the output started from `init`, then
/// for each strip of `TILE` output columns and each strip of `STRIP` rows of `b` (which stays in
/// the L1 cache), every block of [`BLOCK`] rows of `a` adds its kept columns' scaled rows of that
/// strip to its outputs, held in registers. The last columns (fewer than a tile) follow, unblocked.
#[inline(always)]
fn product_body<const TILE: usize, const STRIP: usize>(
    a: Operand,
    rows: Range<usize>,
    b: &[f32],
    n: usize,
    init: Option<&[f32]>,
    out: &mut [f32],
) -> bool {
    // Gives up as soon as the kept columns pass the budget of all the blocks, or after 4 blocks
    // that kept more than their share (a dense input costs a few blocks' scans).
    let block_count = rows.len().div_ceil(BLOCK);
    let budget = MAX_KEPT_SHARE * (block_count * a.cols) as f64;
    let mut blocks: Vec<Kept> = Vec::with_capacity(block_count);
    let mut kept = 0;
    for first in rows.clone().step_by(BLOCK) {
        let block = Kept::scan(a, first, BLOCK.min(rows.end - first));
        kept += block.cols.len();
        blocks.push(block);
        let early =
            blocks.len() == 4 && kept as f64 > MAX_KEPT_SHARE * (blocks.len() * a.cols) as f64;
        if kept as f64 > budget || early {
            return false;
        }
    }
    for row in out.chunks_exact_mut(n.max(1)) {
        match init {
            Some(init) => row.copy_from_slice(init),
            None => row.fill(0.0),
        }
    }
    let mut cursors = vec![0usize; blocks.len()];
    let full_tiles = n / TILE * TILE;
    for start in (0..full_tiles).step_by(TILE) {
        cursors.fill(0);
        for strip_start in (0..a.cols).step_by(STRIP) {
            let strip_end = strip_start + STRIP;
            for (index, (kept, cursor)) in blocks.iter().zip(&mut cursors).enumerate() {
                let from = *cursor;
                let to = from + kept.cols[from..].partition_point(|c| (*c as usize) < strip_end);
                *cursor = to;
                if from == to {
                    continue;
                }
                let rows_out = &mut out[index * BLOCK * n..][..kept.count * n];
                let (cols, values) = (&kept.cols[from..to], &kept.values[from..to]);
                tile::<TILE>(cols, values, b, n, start, kept.count, rows_out);
            }
        }
    }
    if full_tiles < n {
        for (index, kept) in blocks.iter().enumerate() {
            let rows_out = &mut out[index * BLOCK * n..][..kept.count * n];
            for (&col, v) in kept.cols.iter().zip(&kept.values) {
                let b_row = &b[col as usize * n + full_tiles..(col as usize + 1) * n];
                for (r, row) in rows_out.chunks_exact_mut(n).enumerate() {
                    for (acc, b) in row[full_tiles..].iter_mut().zip(b_row) {
                        *acc = v[r].mul_add(*b, *acc);
                    }
                }
            }
        }
    }
    true
}

/// Adds `Σ values[c][r] · b[cols[c], start..start + TILE]` to outputs `start..start + TILE` of the
/// block's first `count` rows in `out` (`count x n`), the sums held in registers.
#[inline(always)]
fn tile<const TILE: usize>(
    cols: &[u32],
    values: &[[f32; BLOCK]],
    b: &[f32],
    n: usize,
    start: usize,
    count: usize,
    out: &mut [f32],
) {
    let mut acc = [[0.0f32; TILE]; BLOCK];
    for (r, acc) in acc.iter_mut().enumerate().take(count) {
        acc.copy_from_slice(&out[r * n + start..r * n + start + TILE]);
    }
    for (&col, v) in cols.iter().zip(values) {
        let offset = col as usize * n + start;
        let b_row: &[f32; TILE] = b[offset..offset + TILE].try_into().expect("a tile");
        for (acc, &scale) in acc.iter_mut().zip(v) {
            for (acc, b) in acc.iter_mut().zip(b_row) {
                *acc = scale.mul_add(*b, *acc);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate().take(count) {
        out[r * n + start..r * n + start + TILE].copy_from_slice(acc);
    }
}

/// The columns of a block of rows with a nonzero in at least one row, in increasing order, and
/// the rows' values in them (zero beyond the block's `count` rows).
#[derive(Debug, Default)]
struct Kept {
    count: usize,
    cols: Vec<u32>,
    values: Vec<[f32; BLOCK]>,
}

impl Kept {
    /// Scans rows `first..first + count` of `a` (`count` <= [`BLOCK`]), sixteen columns at a
    /// time: a mask of the columns with a nonzero, then those columns' values.
    #[inline(always)]
    fn scan(a: Operand, first: usize, count: usize) -> Self {
        let mut kept = Self {
            count,
            cols: Vec::with_capacity(a.cols),
            values: Vec::with_capacity(a.cols),
        };
        let value = |r: usize, col: usize| {
            if r < count { a.at(first + r, col) } else { 0.0 }
        };
        for start in (0..a.cols).step_by(16) {
            let width = 16.min(a.cols - start);
            let mut mask = 0u32;
            for j in 0..width {
                let mut any = false;
                for r in 0..count {
                    any |= a.at(first + r, start + j) != 0.0;
                }
                mask |= u32::from(any) << j;
            }
            while mask != 0 {
                let col = start + mask.trailing_zeros() as usize;
                mask &= mask - 1;
                kept.cols.push(col as u32);
                kept.values.push(std::array::from_fn(|r| value(r, col)));
            }
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a · b` (`m x k` by `k x n`) plus `init` on every row, by definition.
    fn reference(a: &[f32], b: &[f32], m: usize, k: usize, n: usize, init: &[f32]) -> Vec<f32> {
        (0..m)
            .flat_map(|i| {
                (0..n).map(move |j| {
                    init[j] + (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum::<f32>()
                })
            })
            .collect()
    }

    fn assert_near(actual: &[f32], expected: &[f32], what: &str) {
        assert_eq!(actual.len(), expected.len(), "{what}: length");
        for (a, e) in actual.iter().zip(expected) {
            assert!(
                (a - e).abs() <= 1e-4 * e.abs().max(1.0),
                "{what}: {a} vs {e}"
            );
        }
    }

    #[test]
    fn sparse_product_matches_the_definition_for_every_block_and_tile_split() {
        let (m, k) = (11, 23);
        // Every row nonzero in columns 0, 5, 10 and 15 only (17% of them), row 2 all zero.
        let a: Vec<f32> = (0..m * k)
            .map(|v| {
                let (row, col) = (v / k, v % k);
                if col % 5 == 0 && col < 20 && row != 2 {
                    (v % 7) as f32 - 3.0
                } else {
                    0.0
                }
            })
            .collect();
        let rows = Operand {
            data: &a,
            cols: k,
            row_stride: k,
            col_stride: 1,
        };
        // Widths below, at and across the tile sizes (16, 64).
        for n in [1, 15, 16, 64, 130] {
            let b: Vec<f32> = (0..k * n)
                .map(|v| ((v * 37) % 11) as f32 * 0.25 - 1.0)
                .collect();
            let init: Vec<f32> = (0..n).map(|j| j as f32 * 0.1).collect();
            let mut out = vec![f32::NAN; m * n];
            assert!(product(rows, 0..m, &b, n, Some(&init), &mut out));
            assert_near(&out, &reference(&a, &b, m, k, n, &init), &format!("n={n}"));
            // Rows 1..8 alone (a block of 4, then 3 single rows), from zero.
            let mut part = vec![f32::NAN; 7 * n];
            assert!(product(rows, 1..8, &b, n, None, &mut part));
            let zero = vec![0.0; n];
            let expected = reference(&a[k..8 * k], &b, 7, k, n, &zero);
            assert_near(&part, &expected, &format!("n={n}, rows 1..8"));
        }
    }

    #[test]
    fn too_many_kept_columns_are_left_to_gemm() {
        // Each row nonzero in a different third of the columns: a block keeps all of them.
        let (m, k, n) = (4, 30, 3);
        let a: Vec<f32> = (0..m * k)
            .map(|v| f32::from(v % k / 10 == v / k % 3))
            .collect();
        let operand = Operand {
            data: &a,
            cols: k,
            row_stride: k,
            col_stride: 1,
        };
        let mut out = vec![f32::NAN; m * n];
        assert!(!product(
            operand,
            0..m,
            &vec![1.0; k * n],
            n,
            None,
            &mut out
        ));
        assert!(out.iter().all(|v| v.is_nan()), "untouched");
        // One row alone keeps a third: still too many (the share is at most 0.3).
        assert!(!product(
            operand,
            0..1,
            &vec![1.0; k * n],
            n,
            None,
            &mut out[..n]
        ));
    }

    #[test]
    fn a_transposed_operand_is_read_in_place() {
        // aᵀ of an 8x2 matrix `a`: 2 rows of 8 columns, one nonzero in each (a share of 0.25).
        let mut a = [0.0f32; 16];
        (a[1], a[2]) = (2.0, 1.0);
        let transposed = Operand {
            data: &a,
            cols: 8,
            row_stride: 1,
            col_stride: 2,
        };
        let b: Vec<f32> = (0..8).map(|p| 10f32.powi(p)).collect();
        let mut out = [0.0f32; 2];
        assert!(product(transposed, 0..2, &b, 1, None, &mut out));
        assert_eq!(out, [10.0, 2.0]);
    }
}
