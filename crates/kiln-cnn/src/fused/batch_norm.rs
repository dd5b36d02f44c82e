//! The host maths of a fused training batch norm, `relu(batch_norm(z) + skip)` with the ReLU
//! and the skip optional: the batch statistics (two reductions), then the normalisation, the
//! residual addition, the rectification and the ReLU's mask in one pass; backward, the two
//! per-channel sums in one pass and the input (and skip) gradients in another.
//!
//! The statistics are exact over the batch: the mean, then the biased variance around it (two
//! passes, as Burn's `batch_norm_train` computes them), each map summed in f32 lanes and the maps
//! in f64 ([`plane_sums`]), in parallel over channels; the element-wise passes run in parallel
//! over samples (on `kiln_kernels`' helper threads), compiled for the CPU's widest vector unit
//! (`kiln_kernels::widest!`). Every path gives the same values bit for bit.

use std::mem::MaybeUninit;

use kiln_kernels::{batch_parts, map_indices, run_parts, split_rows, widest};

use super::plane_sums::plane_sums;

/// Values below which a pass stays on one thread (handing a part to another costs more).
const MIN_PART: usize = 1 << 14;

/// The sizes of one call: `[batch, channels, plane]`, `plane` the values per feature map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Samples.
    pub batch: usize,
    /// Channels (one mean and variance each).
    pub channels: usize,
    /// Values per channel per sample (height x width).
    pub plane: usize,
}

impl Layout {
    /// Values per channel over the batch: the count the statistics average over.
    fn count(&self) -> usize {
        self.batch * self.plane
    }

    /// Values per sample.
    fn row(&self) -> usize {
        self.channels * self.plane
    }

    /// Where channel `c` of sample `n` starts.
    fn at(&self, n: usize, c: usize) -> usize {
        (n * self.channels + c) * self.plane
    }
}

/// What the forward pass returns besides its output: the batch statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Statistics {
    /// Per-channel mean.
    pub mean: Vec<f32>,
    /// Per-channel biased variance.
    pub variance: Vec<f32>,
}

/// Channel `c`'s `(sum d, sum d * (y - mean))` over the batch, `d = x - shift` where `kept`
/// (empty: everywhere): each map in f32 lanes ([`plane_sums`]), the maps in f64.
fn channel_sums(
    (x, y, kept): (&[f32], &[f32], &[bool]),
    l: Layout,
    c: usize,
    shift: f32,
    mean: f32,
) -> (f64, f64) {
    let (mut first, mut second) = (0.0, 0.0);
    for n in 0..l.batch {
        let span = l.at(n, c)..l.at(n, c) + l.plane;
        let kept = if kept.is_empty() {
            kept
        } else {
            &kept[span.clone()]
        };
        let (a, b) = plane_sums(&x[span.clone()], &y[span], kept, shift, mean);
        first += a;
        second += b;
    }
    (first, second)
}

/// The batch's per-channel mean and biased variance of `z` `[batch, channels, plane]`.
pub fn statistics(z: &[f32], l: Layout) -> Statistics {
    let count = l.count().max(1) as f64;
    let mean = map_indices(l.channels, l.count(), MIN_PART, |c| {
        (channel_sums((z, z, &[]), l, c, 0.0, 0.0).0 / count) as f32
    });
    let variance = map_indices(l.channels, l.count(), MIN_PART, |c| {
        (channel_sums((z, z, &[]), l, c, mean[c], mean[c]).1 / count) as f32
    });
    Statistics { mean, variance }
}

/// `1 / sqrt(variance + epsilon)` per channel.
pub fn inverse_std(variance: &[f32], epsilon: f64) -> Vec<f32> {
    variance
        .iter()
        .map(|&v| (1.0 / (f64::from(v) + epsilon).sqrt()) as f32)
        .collect()
}

/// `values` with its first `len` slots (all of them written) taken as initialised.
///
/// # Safety
/// Every one of the `len` slots of `values`' spare capacity must have been written.
unsafe fn filled<T>(mut values: Vec<T>, len: usize) -> Vec<T> {
    // SAFETY: the caller wrote every slot.
    unsafe { values.set_len(len) };
    values
}

widest! {
    /// One sample's output `relu?(z * scale + shift + skip?)` per channel (`scale`, `shift` per
    /// channel), and where `relu` the mask of the values it keeps (`kept`, else empty).
    fn normalise_row(
        z: &[f32],
        skip: Option<&[f32]>,
        scale: &[f32],
        shift: &[f32],
        relu: bool,
        out: &mut [MaybeUninit<f32>],
        kept: &mut [MaybeUninit<bool>],
    ) {
        let plane = z.len() / scale.len().max(1);
        for (c, (&a, &b)) in scale.iter().zip(shift).enumerate() {
            let span = c * plane..(c + 1) * plane;
            let (z, out) = (&z[span.clone()], &mut out[span.clone()]);
            // The sums before the ReLU, then the ReLU and its mask, all in registers.
            match (skip, relu) {
                (Some(skip), true) => {
                    let kept = &mut kept[span.clone()];
                    let rows = out.iter_mut().zip(kept.iter_mut());
                    for ((o, m), (&v, &s)) in rows.zip(z.iter().zip(&skip[span])) {
                        let v = v * a + b + s;
                        o.write(v.max(0.0));
                        m.write(v > 0.0);
                    }
                }
                (None, true) => {
                    let kept = &mut kept[span.clone()];
                    for ((o, m), &v) in out.iter_mut().zip(kept.iter_mut()).zip(z) {
                        let v = v * a + b;
                        o.write(v.max(0.0));
                        m.write(v > 0.0);
                    }
                }
                (Some(skip), false) => {
                    for (o, (&v, &s)) in out.iter_mut().zip(z.iter().zip(&skip[span])) {
                        o.write(v * a + b + s);
                    }
                }
                (None, false) => {
                    for (o, &v) in out.iter_mut().zip(z) {
                        o.write(v * a + b);
                    }
                }
            }
        }
    }
}

/// What the forward pass returns: the output, the ReLU's mask and the statistics.
#[derive(Debug, Clone)]
pub struct Forward {
    /// `relu?((z - mean) * inverse_std * gamma + beta + skip?)`.
    pub y: Vec<f32>,
    /// Where the value before the ReLU is positive (where the gradient passes), with a ReLU.
    pub kept: Option<Vec<bool>>,
    /// The batch statistics.
    pub stats: Statistics,
}

/// Forward pass: `relu?((z - mean) * inverse_std * gamma + beta + skip?)` of `z`
/// `[batch, channels, plane]` with the batch's own statistics, which it returns too.
pub fn forward(
    z: &[f32],
    gamma: &[f32],
    beta: &[f32],
    skip: Option<&[f32]>,
    relu: bool,
    epsilon: f64,
    l: Layout,
) -> Forward {
    let stats = statistics(z, l);
    let inv_std = inverse_std(&stats.variance, epsilon);
    // y = z * scale + shift, per channel.
    let scale: Vec<f32> = gamma.iter().zip(&inv_std).map(|(g, s)| g * s).collect();
    let shift: Vec<f32> = (0..l.channels)
        .map(|c| beta[c] - stats.mean[c] * scale[c])
        .collect();
    let (len, row) = (z.len(), l.row().max(1));
    let mut y = Vec::<f32>::with_capacity(len);
    let mut kept = Vec::<bool>::with_capacity(if relu { len } else { 0 });
    let parts = batch_parts(l.batch, row, MIN_PART);
    let outs = split_rows(&mut y.spare_capacity_mut()[..len], &parts, row);
    let kept_row = if relu { row } else { 0 };
    let masks = split_rows(kept.spare_capacity_mut(), &parts, kept_row);
    let jobs: Vec<_> = parts.iter().zip(outs).zip(masks).collect();
    run_parts(jobs, |((range, out), mask)| {
        let rows = out.chunks_exact_mut(row);
        for (n, out) in range.clone().zip(rows) {
            let at = n - range.start;
            let mask = if relu {
                &mut mask[at * row..(at + 1) * row]
            } else {
                &mut mask[..0]
            };
            let skip = skip.map(|s| &s[n * row..][..row]);
            normalise_row(&z[n * row..][..row], skip, &scale, &shift, relu, out, mask);
        }
    });
    // SAFETY: the parts cover every row, and `normalise_row` writes all of a row's values (and
    // of its mask, with a ReLU).
    let (y, kept) = unsafe { (filled(y, len), filled(kept, if relu { len } else { 0 })) };
    Forward {
        y,
        kept: relu.then_some(kept),
        stats,
    }
}

/// The gradients of one call.
#[derive(Debug, Clone)]
pub struct Grads {
    /// `[batch, channels, plane]`.
    pub z: Vec<f32>,
    /// `[channels]`.
    pub gamma: Vec<f32>,
    /// `[channels]`.
    pub beta: Vec<f32>,
    /// The gradient of the skip input (that of the sum before the ReLU), when it has one.
    pub skip: Option<Vec<f32>>,
}

/// What the backward pass reads from the forward pass.
#[derive(Debug, Clone)]
pub struct Tape {
    /// The input `[batch, channels, plane]`.
    pub z: Vec<f32>,
    /// Where the output is positive, when a ReLU followed: where the gradient passes.
    pub kept: Option<Vec<bool>>,
    /// The batch statistics.
    pub stats: Statistics,
    /// The scale `gamma` `[channels]`.
    pub gamma: Vec<f32>,
}

/// Per channel, `dz = a * d + b * z + c`: the backward formula with its constants gathered.
#[derive(Debug, Clone, Copy)]
struct Affine {
    a: f32,
    b: f32,
    c: f32,
}

widest! {
    /// One sample's `dz = a * d + b * z + c` per channel into `out`, `d` being `dy` masked by
    /// `kept` (empty: no mask); with `keep_d`, `dy` is overwritten with `d` (the skip's
    /// gradient).
    fn input_grad_row(
        dy: &mut [f32],
        kept: &[bool],
        z: &[f32],
        affine: &[Affine],
        keep_d: bool,
        out: &mut [MaybeUninit<f32>],
    ) {
        let plane = z.len() / affine.len().max(1);
        for (c, f) in affine.iter().enumerate() {
            let span = c * plane..(c + 1) * plane;
            let (dy, z, out) = (&mut dy[span.clone()], &z[span.clone()], &mut out[span.clone()]);
            let (a, b, c) = (f.a, f.b, f.c);
            if kept.is_empty() {
                for ((o, &d), &z) in out.iter_mut().zip(dy.iter()).zip(z) {
                    o.write(a * d + b * z + c);
                }
                continue;
            }
            let kept = &kept[span];
            for (((o, d), &z), &k) in out.iter_mut().zip(dy.iter_mut()).zip(z).zip(kept) {
                let kept_d = if k { *d } else { 0.0 };
                o.write(a * kept_d + b * z + c);
                if keep_d {
                    *d = kept_d;
                }
            }
        }
    }
}

/// Backward pass from the output's gradient `dy`: with `d = dy` masked by the ReLU,
/// `dbeta = sum d`, `dgamma = sum d * x̂`, `dskip = d` and
/// `dz = gamma * inverse_std * (d - dbeta / count - x̂ * dgamma / count)`, `x̂` the normalised
/// input.
pub fn backward(dy: Vec<f32>, tape: &Tape, epsilon: f64, want_skip: bool, l: Layout) -> Grads {
    let mut dy = dy;
    let (mean, gamma, z) = (&tape.stats.mean, &tape.gamma, &tape.z);
    let kept: &[bool] = tape.kept.as_deref().unwrap_or(&[]);
    let inv_std = inverse_std(&tape.stats.variance, epsilon);
    let sums = map_indices(l.channels, l.count(), MIN_PART, |c| {
        channel_sums((&dy, z, kept), l, c, 0.0, mean[c])
    });
    let count = l.count().max(1) as f32;
    let dbeta: Vec<f32> = sums.iter().map(|s| s.0 as f32).collect();
    let dgamma: Vec<f32> = (0..l.channels)
        .map(|c| (sums[c].1 * f64::from(inv_std[c])) as f32)
        .collect();
    // dz = scale * (d - dbeta / count - (z - mean) * s * dgamma / count), s = inverse_std.
    let affine: Vec<Affine> = (0..l.channels)
        .map(|c| {
            let (s, scale) = (inv_std[c], gamma[c] * inv_std[c]);
            let b = -scale * s * dgamma[c] / count;
            Affine {
                a: scale,
                b,
                c: -scale * dbeta[c] / count - b * mean[c],
            }
        })
        .collect();
    let (len, row) = (z.len(), l.row().max(1));
    let mut dz = Vec::<f32>::with_capacity(len);
    let parts = batch_parts(l.batch, row, MIN_PART);
    let outs = split_rows(&mut dz.spare_capacity_mut()[..len], &parts, row);
    let dys = split_rows(&mut dy, &parts, row);
    let jobs: Vec<_> = parts.iter().zip(outs).zip(dys).collect();
    run_parts(jobs, |((range, out), dy)| {
        let rows = out.chunks_exact_mut(row).zip(dy.chunks_exact_mut(row));
        for (n, (out, dy)) in range.clone().zip(rows) {
            let kept = if kept.is_empty() {
                kept
            } else {
                &kept[n * row..][..row]
            };
            input_grad_row(dy, kept, &z[n * row..][..row], &affine, want_skip, out);
        }
    });
    // SAFETY: the parts cover every row, and `input_grad_row` writes all of a row's values.
    let dz = unsafe { filled(dz, len) };
    Grads {
        z: dz,
        gamma: dgamma,
        beta: dbeta,
        skip: want_skip.then_some(dy),
    }
}
