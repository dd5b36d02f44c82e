//! Direct convolution: no im2col matrix.
//!
//! The im2col path writes `kernel x kernel` copies of the input before its matrix product; on
//! the ResNet preset's 3x3 convolutions that copy took a fifth of inference. Here each output
//! tile (`T` neighbouring output pixels by 2 blocks of 16 filters on AVX-512, 8 on AVX2; on
//! AVX2 a tile's pixels may wrap rows) is accumulated in registers straight from the
//! (zero-padded) input: for every input channel and kernel tap, one vector of filter weights per
//! block and one broadcast input value per pixel, multiplied and added (the scheme of oneDNN's
//! direct convolutions). The output is the same maths as [`super::kernels::forward`] (`conv +
//! bias`, plus a residual input when given, rectified when asked), its sums possibly in another
//! order, so it agrees to rounding. It runs every convolution of a forward pass alone that it
//! takes; in training, the forward pass of a plain biased convolution (whose backward pass needs
//! no tape) and of a pooled block (whose pooling pass follows it and keeps the tape), and for
//! stride 1 the input gradient as a convolution of the output gradient ([`input_gradient`]).
//! The weight gradient keeps the im2col path.
//!
//! Chosen at run time: AVX-512 (with the crate's `avx512` feature) or AVX2 with FMA; elsewhere,
//! for filter counts that are not a multiple of the vector width, or for short patches, the
//! caller keeps the im2col path ([`supports`]).

use super::kernels::{Epilogue, Geometry};
use kiln_kernels::vector_isa::VectorIsa;

/// The instruction set the direct kernel runs on on this CPU, if any.
fn detect() -> Option<VectorIsa> {
    VectorIsa::detect(cfg!(feature = "avx512"))
}

/// Products per output below which the im2col path is faster: the tiles' results leave the
/// registers one value at a time, which costs more than the arithmetic of a short patch (the
/// ResNet preset's stem, 9 products per output, and its 1x1 projections, 32 and 64).
const MIN_PATCH: usize = 128;

/// Whether [`forward`] computes the call `g` on this CPU: no pooling, a filter count that is a
/// multiple of the vector width, and patches of at least [`MIN_PATCH`] values.
pub fn supports(g: &Geometry) -> bool {
    let pooled = g.epilogue == Epilogue::ReluPool && g.pool > 1;
    let shaped = !pooled && g.kernel > 0 && g.patch() >= MIN_PATCH;
    match detect() {
        Some(isa) => shaped && g.filters > 0 && g.filters.is_multiple_of(isa.lanes()),
        None => false,
    }
}

/// Filters one tile computes at most (two vectors of them): a batch of one sample is split
/// across threads in runs of this many filters.
pub fn filter_group() -> usize {
    detect().map_or(1, |isa| 2 * isa.lanes())
}

/// The convolution that gives the input gradient of a stride-1 call `g` from its output
/// gradient: `dx = conv(dy, w')`, `w'` the [`flipped`] weights, with `k - 1 - p` padding (a
/// "full" correlation), when the direct kernel handles it.
pub fn input_gradient(g: &Geometry) -> Option<Geometry> {
    let (oh, ow) = g.conv_size();
    if g.stride != 1 || g.epilogue != Epilogue::Bias || 2 * g.padding > g.kernel.saturating_sub(1) {
        return None;
    }
    let transposed = Geometry {
        channels: g.filters,
        height: oh,
        width: ow,
        filters: g.channels,
        padding: g.kernel - 1 - g.padding,
        ..*g
    };
    supports(&transposed).then_some(transposed)
}

/// The weights of [`input_gradient`]'s convolution: `w'[c][f][ky][kx] = w[f][c][k-1-ky][k-1-kx]`
/// for `w` `[filters, channels, k, k]` of the call `g`.
pub fn flipped(w: &[f32], g: &Geometry) -> Vec<f32> {
    let k = g.kernel;
    let taps = k * k;
    let mut out = vec![0.0; w.len()];
    for f in 0..g.filters {
        for c in 0..g.channels {
            let from = &w[(f * g.channels + c) * taps..][..taps];
            let to = &mut out[(c * g.filters + f) * taps..][..taps];
            for (t, v) in to.iter_mut().enumerate() {
                *v = from[taps - 1 - t];
            }
        }
    }
    out
}

/// The weights `[filters, channels, k, k]` regrouped for the tiles: for each group of
/// `group` filters, `[channels, k, k, group]`, so that one tap's filters are adjacent.
fn pack_weights(w: &[f32], g: &Geometry, group: usize) -> Vec<f32> {
    let taps = g.kernel * g.kernel;
    let patch = g.channels * taps;
    let mut packed = vec![0.0; g.filters * patch];
    for (f, filter) in w.chunks_exact(patch).enumerate().take(g.filters) {
        let (first, lane) = (f / group * group, f % group);
        let width = group.min(g.filters - first);
        let base = first * patch;
        for (at, &v) in filter.iter().enumerate() {
            packed[base + at * width + lane] = v;
        }
    }
    packed
}

/// The input of one sample with its zero border, `[channels, height + 2p, width + 2p]`, in a
/// buffer reused from sample to sample (the border stays zero).
struct Padded {
    values: Vec<f32>,
    height: usize,
    width: usize,
}

impl Padded {
    fn new(g: &Geometry) -> Self {
        let (height, width) = (g.height + 2 * g.padding, g.width + 2 * g.padding);
        Self {
            values: vec![0.0; g.channels * height * width],
            height,
            width,
        }
    }

    /// Copies `sample` `[channels, height, width]` inside the border.
    fn fill(&mut self, sample: &[f32], g: &Geometry) {
        let p = g.padding;
        let plane = self.height * self.width;
        for (c, input) in sample.chunks_exact(g.height * g.width).enumerate() {
            let dst = &mut self.values[c * plane..(c + 1) * plane];
            for (y, row) in input.chunks_exact(g.width).enumerate() {
                let at = (y + p) * self.width + p;
                dst[at..at + g.width].copy_from_slice(row);
            }
        }
    }
}

/// `conv + bias`, plus `skip` (shaped like the output) when given, rectified when `g.epilogue`
/// is [`Epilogue::ReluPool`] (whose pool is then 1), of the samples of `x` `[batch, channels,
/// height, width]` with `w` `[filters, channels, k, k]`, into `out` `[batch, filters, oh, ow]`.
///
/// # Panics
/// If [`supports`] is false for `g`, or a slice does not fit `g`.
pub fn forward(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    skip: Option<&[f32]>,
    g: Geometry,
    out: &mut [f32],
) {
    assert!(supports(&g), "the direct convolution does not handle {g:?}");
    let (oh, ow) = g.conv_size();
    assert_eq!(
        x.len(),
        g.batch * g.input_len(),
        "the input fits the geometry"
    );
    assert_eq!(out.len(), g.batch * g.filters * oh * ow, "the output fits");
    assert_eq!(w.len(), g.filters * g.patch(), "the weights fit");
    assert_eq!(bias.len(), g.filters, "one bias per filter");
    if let Some(skip) = skip {
        assert_eq!(skip.len(), out.len(), "the skip input fits the output");
    }
    let relu = g.epilogue == Epilogue::ReluPool;
    match detect().expect("checked by supports") {
        #[cfg(all(target_arch = "x86_64", feature = "avx512"))]
        // SAFETY: the CPU has AVX-512F (detected above); the shapes were checked.
        VectorIsa::Avx512 => unsafe { avx512::forward(x, w, bias, skip, g, relu, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2 and FMA (detected above); the shapes were checked.
        VectorIsa::Avx2 => unsafe { avx2::forward(x, w, bias, skip, g, relu, out) },
        #[allow(unreachable_patterns)]
        _ => unreachable!("AVX-512 only with the avx512 feature, neither off x86-64"),
    }
}

/// Splits an output row of `width` pixels into near-equal runs of at most `most`.
fn runs(width: usize, most: usize) -> impl Iterator<Item = (usize, usize)> {
    let count = width.div_ceil(most.max(1)).max(1);
    let (size, extra) = (width / count, width % count);
    (0..count).scan(0, move |start, i| {
        let len = size + usize::from(i < extra);
        let run = (*start, len);
        *start += len;
        Some(run)
    })
}

/// Where one tile reads and writes.
#[derive(Clone, Copy)]
struct Tile {
    /// The padded input at channel 0, row `oy * stride`, column `ox * stride`.
    x: *const f32,
    /// Distance between the padded input's channel planes, and between its rows.
    plane: usize,
    row: usize,
    stride: usize,
    channels: usize,
    kernel: usize,
    /// The filter group's packed weights `[channels, k, k, blocks * lanes]`.
    w: *const f32,
    /// Scratch for the accumulators, `[blocks, pixels, lanes]`.
    acc: *mut f32,
    /// With runs over a whole output plane: each pixel's offset from `x` (else unused).
    offsets: *const usize,
}

/// The driver and tile kernels of one instruction set: `$lanes` filters per vector `$v`,
/// tiles of up to `$most` pixels by 1 or 2 filter blocks (2 x `$most` accumulators held in
/// registers).
macro_rules! isa_kernels {
    ($name:ident, $feature:literal, $lanes:literal, $most:literal, $flat:literal, [$($n:literal)*],
     $zero:ident, $load:ident, $set1:ident, $fmadd:ident, $store:ident) => {
        #[cfg(target_arch = "x86_64")]
        mod $name {
            use super::{Geometry, Padded, Tile, pack_weights, runs};
            use std::arch::x86_64::*;

            const LANES: usize = $lanes;
            /// Whether runs of pixels span a whole output plane (wrapping rows) rather than
            /// one row: the AVX2 tiles hold few pixels, which the 7-wide maps would leave
            /// half empty.
            const FLAT: bool = $flat;

            /// One tile: `T` pixels by `B` blocks of filters, over every channel and tap.
            #[target_feature(enable = $feature)]
            unsafe fn tile<const T: usize, const B: usize>(t: Tile) {
                // SAFETY (whole body): the caller keeps every read inside the padded input and
                // packed weights, and the scratch holds `B * T * LANES` values.
                unsafe {
                    let mut acc = [[$zero(); T]; B];
                    let mut w = t.w;
                    // Each pixel's offset from the tile's start: along one row, or anywhere
                    // in the plane (runs that wrap rows keep narrow maps' tiles full).
                    let mut at = [0usize; T];
                    for (p, a) in at.iter_mut().enumerate() {
                        *a = if FLAT { *t.offsets.add(p) } else { p * t.stride };
                    }
                    for c in 0..t.channels {
                        let xc = t.x.add(c * t.plane);
                        for ky in 0..t.kernel {
                            let xr = xc.add(ky * t.row);
                            for kx in 0..t.kernel {
                                let xk = xr.add(kx);
                                let mut wv = [$zero(); B];
                                for (b, v) in wv.iter_mut().enumerate() {
                                    *v = $load(w.add(b * LANES));
                                }
                                w = w.add(B * LANES);
                                for p in 0..T {
                                    let xv = $set1(*xk.add(at[p]));
                                    for b in 0..B {
                                        acc[b][p] = $fmadd(xv, wv[b], acc[b][p]);
                                    }
                                }
                            }
                        }
                    }
                    for (b, row) in acc.iter().enumerate() {
                        for (p, v) in row.iter().enumerate() {
                            $store(t.acc.add((b * T + p) * LANES), *v);
                        }
                    }
                }
            }

            /// Runs the tile of `pixels` pixels by `blocks` blocks.
            #[target_feature(enable = $feature)]
            unsafe fn dispatch(t: Tile, pixels: usize, blocks: usize) {
                // SAFETY: as the caller's.
                unsafe {
                    match (pixels, blocks) {
                        $(($n, 2) => tile::<$n, 2>(t),)*
                        $(($n, 1) => tile::<$n, 1>(t),)*
                        _ => unreachable!("runs of 1 to {} pixels, 1 or 2 blocks", $most),
                    }
                }
            }

            /// See [`super::forward`].
            #[target_feature(enable = $feature)]
            pub(super) unsafe fn forward(
                x: &[f32],
                w: &[f32],
                bias: &[f32],
                skip: Option<&[f32]>,
                g: Geometry,
                relu: bool,
                out: &mut [f32],
            ) {
                let (oh, ow) = g.conv_size();
                let group = 2 * LANES;
                let packed = pack_weights(w, &g, group);
                let patch = g.patch();
                let mut padded = Padded::new(&g);
                let mut acc = vec![0.0f32; 2 * $most * LANES];
                let plane_out = oh * ow;
                for n in 0..g.batch {
                    padded.fill(&x[n * g.input_len()..(n + 1) * g.input_len()], &g);
                    let sample_out = &mut out[n * g.filters * plane_out..][..g.filters * plane_out];
                    let sample_skip = skip.map(|s| &s[n * g.filters * plane_out..][..g.filters * plane_out]);
                    // `(output row, first pixel, pixels)` of each run.
                    let runs: Vec<(usize, usize, usize)> = if FLAT {
                        runs(plane_out, $most).map(|(p, len)| (0, p, len)).collect()
                    } else {
                        (0..oh)
                            .flat_map(|oy| runs(ow, $most).map(move |(ox, len)| (oy, ox, len)))
                            .collect()
                    };
                    for &(oy, ox, pixels) in &runs {
                        let mut offsets = [0usize; $most];
                        let at = if FLAT {
                            for (p, o) in offsets.iter_mut().take(pixels).enumerate() {
                                let pixel = ox + p;
                                *o = (pixel / ow * padded.width + pixel % ow) * g.stride;
                            }
                            0
                        } else {
                            (oy * g.stride) * padded.width + ox * g.stride
                        };
                        // The run's first output value in each filter's plane.
                        let out_at = oy * ow + ox;
                        for first in (0..g.filters).step_by(group) {
                            let blocks = (g.filters - first).min(group) / LANES;
                            let t = Tile {
                                x: padded.values[at..].as_ptr(),
                                plane: padded.height * padded.width,
                                row: padded.width,
                                stride: g.stride,
                                channels: g.channels,
                                kernel: g.kernel,
                                w: packed[first * patch..].as_ptr(),
                                acc: acc.as_mut_ptr(),
                                offsets: offsets.as_ptr(),
                            };
                            // SAFETY: each pixel `(oy, ox)` of the run reads rows
                            // `oy * s .. oy * s + k` and columns `ox * s .. ox * s + k` of the
                            // padded input, inside it by the output size's definition, and the
                            // group's `patch * blocks * LANES` packed weights.
                            unsafe { dispatch(t, pixels, blocks) };
                            for b in 0..blocks {
                                for lane in 0..LANES {
                                    let f = first + b * LANES + lane;
                                    let at = f * plane_out + out_at;
                                    let dst = &mut sample_out[at..][..pixels];
                                    for (p, d) in dst.iter_mut().enumerate() {
                                        let v = acc[(b * pixels + p) * LANES + lane] + bias[f];
                                        *d = v;
                                    }
                                    if let Some(skip) = sample_skip {
                                        for (d, s) in dst.iter_mut().zip(&skip[at..at + pixels]) {
                                            *d += s;
                                        }
                                    }
                                    if relu {
                                        for d in dst.iter_mut() {
                                            *d = d.max(0.0);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
}

isa_kernels!(
    avx2,
    "avx2,fma",
    8,
    6,
    true,
    [1 2 3 4 5 6],
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_storeu_ps
);

#[cfg(feature = "avx512")]
isa_kernels!(
    avx512,
    "avx512f",
    16,
    14,
    false,
    [1 2 3 4 5 6 7 8 9 10 11 12 13 14],
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_storeu_ps
);

#[cfg(test)]
mod tests {
    use super::super::kernels::{self, Epilogue, Geometry};
    use super::{forward, runs, supports};

    /// Deterministic, irregular values in [-1, 1].
    fn values(len: usize, seed: u64) -> Vec<f32> {
        (0..len as u64)
            .map(|i| ((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.0 - 1.0)
            .collect()
    }

    #[test]
    fn runs_cover_a_row_in_near_equal_pieces() {
        for (width, most) in [(28, 14), (14, 6), (7, 6), (1, 14), (13, 14), (29, 14)] {
            let pieces: Vec<_> = runs(width, most).collect();
            let mut next = 0;
            for &(start, len) in &pieces {
                assert_eq!(start, next);
                assert!((1..=most).contains(&len), "{width}/{most}: {pieces:?}");
                next += len;
            }
            assert_eq!(next, width);
            let (lo, hi) = pieces
                .iter()
                .fold((usize::MAX, 0), |(lo, hi), &(_, l)| (lo.min(l), hi.max(l)));
            assert!(hi - lo <= 1, "{width}/{most}: {pieces:?}");
        }
    }

    #[test]
    fn matches_the_im2col_kernel_on_the_resnet_shapes_and_odd_ones() {
        // (channels, size, filters, kernel, stride, padding, relu)
        let cases = [
            (32, 28, 64, 3, 2, 1, true),
            (64, 14, 64, 3, 1, 1, false),
            (64, 14, 128, 3, 2, 1, true),
            (128, 7, 128, 3, 1, 1, false),
            (128, 14, 64, 1, 2, 0, false),
            (16, 9, 48, 3, 1, 0, true),
            (6, 11, 16, 5, 2, 2, false),
            (16, 3, 32, 3, 1, 1, true),
        ];
        for (i, &(channels, size, filters, kernel, stride, padding, relu)) in
            cases.iter().enumerate()
        {
            let g = Geometry {
                batch: 3,
                channels,
                height: size,
                width: size + 1,
                filters,
                kernel,
                stride,
                padding,
                pool: 1,
                epilogue: if relu {
                    Epilogue::ReluPool
                } else {
                    Epilogue::Bias
                },
            };
            if !supports(&g) {
                eprintln!("skipped {g:?}: the direct kernel does not run on this CPU");
                continue;
            }
            let x = values(g.batch * g.input_len(), i as u64);
            let w = values(filters * g.patch(), 100 + i as u64);
            let bias = values(filters, 200 + i as u64);
            let (oh, ow) = g.conv_size();
            let len = g.batch * filters * oh * ow;
            let mut expected = vec![0.0; len];
            kernels::forward(&x, &w, &bias, g, &mut expected);
            let mut got = vec![f32::NAN; len];
            forward(&x, &w, &bias, None, g, &mut got);
            for (at, (e, o)) in expected.iter().zip(&got).enumerate() {
                let tolerance = 1e-5 * (1.0 + e.abs()) * (g.patch() as f32).sqrt();
                assert!(
                    (e - o).abs() <= tolerance,
                    "case {i} ({g:?}) at {at}: im2col {e}, direct {o}"
                );
            }
        }
    }

    #[test]
    fn pooling_and_ragged_filter_counts_are_left_to_the_im2col_path() {
        let g = Geometry {
            batch: 1,
            channels: 1,
            height: 8,
            width: 8,
            filters: 32,
            kernel: 3,
            stride: 1,
            padding: 0,
            pool: 2,
            epilogue: Epilogue::ReluPool,
        };
        assert!(!supports(&Geometry { channels: 16, ..g }), "pooling");
        let unpooled = Geometry {
            channels: 16,
            pool: 1,
            ..g
        };
        assert!(
            !supports(&Geometry {
                filters: 20,
                ..unpooled
            }),
            "20 filters"
        );
        assert!(
            !supports(&Geometry {
                channels: 1,
                ..unpooled
            }),
            "a patch of 9"
        );
    }
}
