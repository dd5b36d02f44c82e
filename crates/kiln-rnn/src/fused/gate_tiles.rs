//! An LSTM's products with its weights (`gates += h · w` and `gates += x_t · w_in`) in register
//! tiles, one block of batch rows at a time (at most 256 KiB of gates), so that each block's cell
//! step follows its products while the block's gates are still in the cache; within a block, each
//! panel of the weight serves every group of rows before the next panel is read.
//!
//! gemm reads the recurrent weight where it lies at every step (packing it 28 times per
//! sequence would cost more than it saves); here a weight `[inputs, 4 hidden]` is packed once
//! per call, panel by panel: each panel holds, for `lanes` hidden units, their four gates'
//! columns side by side, `[inputs, 4, lanes]`. A tile keeps `rows x 4` vectors of sums in
//! registers (6 x 4 with AVX-512, 3 x 4 with AVX2), and for every input unit multiplies one
//! broadcast input value per row by the panel's four vectors.
//!
//! Each sum runs over the input units in order from zero with fused multiply-adds and is then
//! added to the gates, as gemm's kernels do (a sum of more than 512 units in gemm's pieces): the
//! gates come out bit for bit the same as gemm's (tested), so trained and shipped weights do
//! not change.

use kiln_kernels::vector_isa::VectorIsa;
use std::ops::Range;

/// The most batch rows one tile of `isa` holds: `rows x 4` sums, `rows` broadcasts and one
/// weight vector in its registers.
fn most_rows(isa: VectorIsa) -> usize {
    match isa {
        VectorIsa::Avx512 => 6,
        VectorIsa::Avx2 => 3,
    }
}

/// Rows times steps below which packing a weight costs more than the tiles save (a
/// generation step of the character model, one row and one step, keeps gemm).
pub const MIN_ROW_STEPS: usize = 16;

/// An LSTM weight `[inputs, 4 hidden]` packed into panels for the tiles.
#[derive(Debug, Clone)]
pub struct PackedGates {
    isa: VectorIsa,
    inputs: usize,
    hidden: usize,
    /// `[hidden / lanes panels, inputs, 4, lanes]`.
    panels: Vec<f32>,
}

impl PackedGates {
    /// Packs `w` (`[inputs, 4 hidden]`, right-multiplied), or `None` where the CPU has no tile
    /// kernel or `hidden` is not a multiple of its vector width (gemm then does the product).
    pub fn new(w: &[f32], inputs: usize, hidden: usize) -> Option<Self> {
        let isa = VectorIsa::detect(cfg!(feature = "avx512"))?;
        let lanes = isa.lanes();
        let fits = inputs > 0 && hidden > 0 && w.len() == 4 * hidden * inputs;
        if !fits || !hidden.is_multiple_of(lanes) {
            return None;
        }
        let mut panels = Vec::with_capacity(w.len());
        for first in (0..hidden).step_by(lanes) {
            for row in w.chunks_exact(4 * hidden) {
                for gate in 0..4 {
                    let at = gate * hidden + first;
                    panels.extend_from_slice(&row[at..at + lanes]);
                }
            }
        }
        Some(Self {
            isa,
            inputs,
            hidden,
            panels,
        })
    }

    /// Input values per row of the product.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// The most rows in one group of [`row_groups`](Self::row_groups).
    pub fn most_rows(&self) -> usize {
        most_rows(self.isa)
    }

    /// The near-equal groups of at most a tile's rows that `0..batch` is cut into.
    pub fn row_groups(&self, batch: usize) -> impl Iterator<Item = Range<usize>> + use<> {
        let count = batch.div_ceil(most_rows(self.isa)).max(1);
        let (size, extra) = (batch / count, batch % count);
        (0..count).scan(0, move |start, i| {
            let len = size + usize::from(i < extra);
            let group = *start..*start + len;
            *start += len;
            Some(group).filter(|g| !g.is_empty())
        })
    }

    /// Blocks of consecutive groups of [`row_groups`](Self::row_groups), each with at most
    /// [`BLOCK_BYTES`] of gates (at least one group), for [`add_products`](Self::add_products).
    pub fn row_blocks(&self, batch: usize) -> Vec<Vec<Range<usize>>> {
        let most_rows = (BLOCK_BYTES / (4 * self.hidden * size_of::<f32>())).max(1);
        let mut blocks: Vec<Vec<Range<usize>>> = Vec::new();
        for group in self.row_groups(batch) {
            match blocks.last_mut() {
                Some(block) if group.end - block[0].start <= most_rows => block.push(group),
                _ => blocks.push(vec![group]),
            }
        }
        blocks
    }

    /// `gates[b] += a[b] · w` for each batch row `b` of every group in `groups`, where row `b`'s
    /// `inputs` values start at `a[b * a_stride..]` and its `4 hidden` gates at
    /// `gates[b * gate_stride..]`. Panel by panel: each panel of the weight serves all the
    /// groups before the next one is read, so that a weight larger than the L2 cache is read
    /// from memory once per call rather than once per group (each sum is the same either way).
    ///
    /// # Panics
    /// If a group is longer than a tile or a slice is too short for it.
    pub fn add_products(
        &self,
        gates: &mut [f32],
        gate_stride: usize,
        a: &[f32],
        a_stride: usize,
        groups: &[Range<usize>],
    ) {
        let (inputs, hidden) = (self.inputs, self.hidden);
        for rows in groups {
            assert!(rows.len() <= self.most_rows(), "gate tiles: too many rows");
            let Some(last) = rows.end.checked_sub(1).filter(|_| !rows.is_empty()) else {
                continue;
            };
            assert!(
                a.len() >= last * a_stride + inputs,
                "gate tiles: inputs too short"
            );
            assert!(
                gates.len() >= last * gate_stride + 4 * hidden,
                "gate tiles: gates too short"
            );
        }
        let lanes = self.isa.lanes();
        // One pointer to each slice, offset below (a fresh `&mut` borrow per row would retire
        // the pointers taken before it).
        let (a, gates) = (a.as_ptr(), gates.as_mut_ptr());
        for (panel, first) in (0..hidden).step_by(lanes).enumerate() {
            let panel = self.panels[panel * 4 * inputs * lanes..].as_ptr();
            for rows in groups.iter().filter(|rows| !rows.is_empty()) {
                let mut states = [std::ptr::null(); 6];
                let mut outs = [std::ptr::null_mut(); 6];
                for (i, b) in rows.clone().enumerate() {
                    states[i] = a.wrapping_add(b * a_stride);
                    outs[i] = gates.wrapping_add(b * gate_stride + first);
                }
                let tile = Tile {
                    states,
                    outs,
                    depth: inputs,
                    hidden,
                    panel,
                };
                // SAFETY: the asserts above keep each row's `inputs` values and its four
                // gates' `lanes` values at `first + gate * hidden` inside their slices, and the
                // panel holds `inputs x 4 x lanes` values.
                unsafe { run(self.isa, tile, rows.len()) };
            }
        }
    }
}

/// The most bytes of gates one block of [`PackedGates::row_blocks`] holds: a block's gates stay
/// in the L2 cache while each panel of the weight serves all its groups (the character model's
/// recurrent weight, 5.3 MB, was read 11 times per step and thread on AVX-512 and 22 times on
/// AVX2 when each group of 6 or 3 rows went through all of it).
const BLOCK_BYTES: usize = 256 * 1024;

/// The most input units gemm sums before adding to its output: a longer sum is cut into
/// near-equal pieces, each added to the output in turn (gemm-common's `kernel_params`, whose
/// depth is 512 on x86 L1 caches), which the tiles repeat to give the same bits.
const GEMM_DEPTH: usize = 512;

/// Where one tile reads and writes: up to 6 rows' inputs and gates (the first `rows` used).
#[derive(Clone, Copy)]
struct Tile {
    states: [*const f32; 6],
    /// Each row's gate `i` for the panel's first unit; gate `g` is `g * hidden` further.
    outs: [*mut f32; 6],
    /// Input values per row.
    depth: usize,
    hidden: usize,
    panel: *const f32,
}

/// Runs the tile of `rows` rows on `isa`.
///
/// # Safety
/// The tile's pointers must be valid as [`PackedGates::add_products`] checks them, and the CPU
/// must have `isa` ([`VectorIsa::detect`]).
unsafe fn run(isa: VectorIsa, t: Tile, rows: usize) {
    match isa {
        #[cfg(all(target_arch = "x86_64", feature = "avx512"))]
        // SAFETY: as the caller's.
        VectorIsa::Avx512 => unsafe { avx512::dispatch(t, rows) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as the caller's.
        VectorIsa::Avx2 => unsafe { avx2::dispatch(t, rows) },
        #[allow(unreachable_patterns)]
        _ => unreachable!("AVX-512 only with the avx512 feature, neither off x86-64"),
    }
}

/// The tile kernels of one instruction set: `$lanes` units per vector, 1 to `$most` rows.
macro_rules! isa_tiles {
    ($name:ident, $feature:literal, $lanes:literal, $most:literal, [$($n:literal)*],
     $zero:ident, $load:ident, $set1:ident, $fmadd:ident, $add:ident, $store:ident) => {
        #[cfg(target_arch = "x86_64")]
        mod $name {
            use super::{GEMM_DEPTH, Tile};
            use std::arch::x86_64::*;

            const LANES: usize = $lanes;

            /// `R` rows by the panel's four gates of `LANES` units, over every input unit.
            #[target_feature(enable = $feature)]
            unsafe fn tile<const R: usize>(t: Tile) {
                // SAFETY (whole body): the caller keeps every read and write inside the rows'
                // states and gates and the panel.
                unsafe {
                    let mut w = t.panel;
                    let pieces = t.depth.div_ceil(GEMM_DEPTH);
                    let depth = t.depth.div_ceil(pieces);
                    for first in (0..t.depth).step_by(depth) {
                        let mut acc = [[$zero(); 4]; R];
                        for k in first..(first + depth).min(t.depth) {
                            // The rows' broadcasts first, then one weight vector at a time:
                            // `R x 4` sums, `R` broadcasts and one weight vector fit AVX2's 16
                            // registers at R = 3 (four weight vectors held at once made the
                            // compiler keep sums on the stack).
                            let hv: [_; R] = std::array::from_fn(|r| $set1(*t.states[r].add(k)));
                            for g in 0..4 {
                                let wv = $load(w.add(g * LANES));
                                for r in 0..R {
                                    acc[r][g] = $fmadd(hv[r], wv, acc[r][g]);
                                }
                            }
                            w = w.add(4 * LANES);
                        }
                        for r in 0..R {
                            for g in 0..4 {
                                let out = t.outs[r].add(g * t.hidden);
                                $store(out, $add($load(out), acc[r][g]));
                            }
                        }
                    }
                }
            }

            /// Runs the tile of `rows` rows.
            #[target_feature(enable = $feature)]
            pub(super) unsafe fn dispatch(t: Tile, rows: usize) {
                // SAFETY: as the caller's.
                unsafe {
                    match rows {
                        0 => {}
                        $($n => tile::<$n>(t),)*
                        _ => unreachable!("tiles of at most {} rows", $most),
                    }
                }
            }
        }
    };
}

isa_tiles!(
    avx2,
    "avx2,fma",
    8,
    3,
    [1 2 3],
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_add_ps,
    _mm256_storeu_ps
);

#[cfg(feature = "avx512")]
isa_tiles!(
    avx512,
    "avx512f",
    16,
    6,
    [1 2 3 4 5 6],
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_add_ps,
    _mm512_storeu_ps
);

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_kernels::matmul::{View, matmul_unpacked};

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32)
            .map(|v| v / (1u32 << 24) as f32 - 0.5)
            .collect()
    }

    #[test]
    fn tiles_give_gemms_gates_bit_for_bit() {
        // `(batch, inputs, hidden)`: the LSTM reference model's recurrent weight and input
        // weight, the character model's recurrent weight (two of gemm's pieces), its input
        // weight over more rows than one block holds, the narrowest panel, and an input wider
        // than one piece.
        for (batch, inputs, hidden) in [
            (13, 128, 128),
            (9, 28, 128),
            (7, 576, 576),
            (40, 64, 576),
            (5, 16, 16),
            (3, 600, 32),
        ] {
            let w = values(4 * hidden * inputs, 1);
            let a = values(batch * inputs, 2);
            let stride = 3 * 4 * hidden; // gates of step 1 of 3, as in `[batch, time, 4 hidden]`
            let acts = values(batch * stride, 3);
            let Some(packed) = PackedGates::new(&w, inputs, hidden) else {
                eprintln!("skipped: this CPU has no gate tile kernel");
                return;
            };
            let mut tiled = acts.clone();
            for block in packed.row_blocks(batch) {
                packed.add_products(&mut tiled[4 * hidden..], stride, &a, inputs, &block);
            }
            let mut expected = acts.clone();
            matmul_unpacked(
                &mut expected[4 * hidden..],
                stride,
                View::dense(&a, inputs),
                View::dense(&w, 4 * hidden),
                batch,
                inputs,
                4 * hidden,
                true,
            );
            let differ = tiled
                .iter()
                .zip(&expected)
                .filter(|(x, y)| x.to_bits() != y.to_bits())
                .count();
            assert_eq!(
                differ, 0,
                "({batch}, {inputs}, {hidden}): values that differ"
            );
        }
    }

    #[test]
    fn row_groups_cover_the_batch_in_near_equal_tiles() {
        let Some(packed) = PackedGates::new(&values(4 * 16 * 16, 1), 16, 16) else {
            eprintln!("skipped: this CPU has no gate tile kernel");
            return;
        };
        let most = most_rows(packed.isa);
        for batch in [1, 2, most, most + 1, 128, 250] {
            let groups: Vec<_> = packed.row_groups(batch).collect();
            assert_eq!(groups.first().map(|g| g.start), Some(0));
            assert_eq!(groups.last().map(|g| g.end), Some(batch));
            for pair in groups.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
            }
            let sizes: Vec<usize> = groups.iter().map(|g| g.len()).collect();
            let (lo, hi) = (sizes.iter().min(), sizes.iter().max());
            assert!(hi <= Some(&most) && hi.zip(lo).is_some_and(|(h, l)| h - l <= 1));
        }
        assert_eq!(packed.row_groups(0).count(), 0);
    }

    #[test]
    fn row_blocks_hold_whole_groups_within_their_bytes() {
        let hidden = 576;
        let Some(packed) = PackedGates::new(&values(4 * hidden * 16, 1), 16, hidden) else {
            eprintln!("skipped: this CPU has no gate tile kernel");
            return;
        };
        let most_rows = BLOCK_BYTES / (4 * hidden * 4);
        for batch in [1, 7, 64, 250] {
            let blocks = packed.row_blocks(batch);
            let groups: Vec<_> = blocks.iter().flatten().cloned().collect();
            assert_eq!(groups, packed.row_groups(batch).collect::<Vec<_>>());
            for block in &blocks {
                let rows = block[block.len() - 1].end - block[0].start;
                assert!(rows <= most_rows, "batch {batch}: a block of {rows} rows");
            }
            if batch > most_rows {
                assert!(blocks.len() > 1, "batch {batch}: one block");
            }
        }
        // Narrow gates: one block for the whole batch.
        let Some(narrow) = PackedGates::new(&values(4 * 16 * 16, 1), 16, 16) else {
            return;
        };
        assert_eq!(narrow.row_blocks(250).len(), 1);
    }

    #[test]
    fn widths_that_are_not_whole_vectors_are_left_to_gemm() {
        assert!(PackedGates::new(&values(4 * 12 * 12, 1), 12, 12).is_none());
        assert!(PackedGates::new(&values(4 * 16 * 3, 1), 4, 16).is_none());
        assert!(PackedGates::new(&[], 0, 16).is_none());
    }
}
