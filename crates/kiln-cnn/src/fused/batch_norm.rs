//! The host maths of a fused training batch norm, `relu(batch_norm(z) + skip)` with the ReLU
//! and the skip optional: the batch statistics, the normalisation, the residual addition and
//! the rectification in two passes forward, and the whole backward pass in three.
//!
//! The statistics are exact over the batch: the mean, then the biased variance around it (two
//! passes, as Burn's `batch_norm_train` computes them), per channel, in parallel over channels;
//! the element-wise passes run in parallel over samples (on `kiln_kernels`' helper threads).

use kiln_kernels::{for_each_row, map_indices};

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
}

/// What the forward pass returns besides its output: the batch statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Statistics {
    /// Per-channel mean.
    pub mean: Vec<f32>,
    /// Per-channel biased variance.
    pub variance: Vec<f32>,
}

/// `sum over the batch of f(channel, plane values)` for each channel, in parallel over channels,
/// accumulated in f64 across samples.
fn per_channel(l: Layout, f: impl Fn(usize, usize, usize) -> f64 + Sync + Send) -> Vec<f64> {
    map_indices(l.channels, l.count(), MIN_PART, |c| {
        (0..l.batch)
            .map(|n| f(c, (n * l.channels + c) * l.plane, l.plane))
            .sum()
    })
}

/// The batch's per-channel mean and biased variance of `z` `[batch, channels, plane]`.
pub fn statistics(z: &[f32], l: Layout) -> Statistics {
    let count = l.count().max(1) as f64;
    let sums = per_channel(l, |_, at, len| plane_sum(&z[at..at + len]));
    let mean: Vec<f32> = sums.iter().map(|s| (s / count) as f32).collect();
    let squares = per_channel(l, |c, at, len| centred_squares(&z[at..at + len], mean[c]));
    let variance = squares.iter().map(|s| (s / count) as f32).collect();
    Statistics { mean, variance }
}

/// The sum of one plane's values, in 8 f32 lanes.
fn plane_sum(values: &[f32]) -> f64 {
    let mut lanes = [0.0f32; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += v;
        }
    }
    let tail: f32 = chunks.remainder().iter().sum();
    lanes.iter().map(|&v| f64::from(v)).sum::<f64>() + f64::from(tail)
}

/// `sum((v - mean)^2)` over one plane, in 8 f32 lanes.
fn centred_squares(values: &[f32], mean: f32) -> f64 {
    let mut lanes = [0.0f32; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            let d = v - mean;
            *lane += d * d;
        }
    }
    let tail: f32 = chunks
        .remainder()
        .iter()
        .map(|v| (v - mean) * (v - mean))
        .sum();
    lanes.iter().map(|&v| f64::from(v)).sum::<f64>() + f64::from(tail)
}

/// `1 / sqrt(variance + epsilon)` per channel.
pub fn inverse_std(variance: &[f32], epsilon: f64) -> Vec<f32> {
    variance
        .iter()
        .map(|&v| (1.0 / (f64::from(v) + epsilon).sqrt()) as f32)
        .collect()
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
) -> (Vec<f32>, Statistics) {
    let stats = statistics(z, l);
    let inv_std = inverse_std(&stats.variance, epsilon);
    // y = z * scale + shift, per channel.
    let scale: Vec<f32> = gamma.iter().zip(&inv_std).map(|(g, s)| g * s).collect();
    let shift: Vec<f32> = (0..l.channels)
        .map(|c| beta[c] - stats.mean[c] * scale[c])
        .collect();
    let mut y = vec![0.0f32; z.len()];
    let row = l.row().max(1);
    for_each_row(&mut y, row, MIN_PART, |n, out| {
        let z = &z[n * row..][..row];
        let skip = skip.map(|s| &s[n * row..][..row]);
        for c in 0..l.channels {
            let span = c * l.plane..(c + 1) * l.plane;
            let (a, b) = (scale[c], shift[c]);
            let out = &mut out[span.clone()];
            match skip {
                Some(skip) => {
                    for ((o, v), s) in out.iter_mut().zip(&z[span.clone()]).zip(&skip[span]) {
                        *o = v * a + b + s;
                    }
                }
                None => {
                    for (o, v) in out.iter_mut().zip(&z[span]) {
                        *o = v * a + b;
                    }
                }
            }
            if relu {
                for o in out.iter_mut() {
                    *o = o.max(0.0);
                }
            }
        }
    });
    (y, stats)
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

/// Backward pass from the output's gradient `dy`: with `d = dy` masked by the ReLU,
/// `dbeta = sum d`, `dgamma = sum d * x̂`, `dskip = d` and
/// `dz = gamma * inverse_std * (d - dbeta / count - x̂ * dgamma / count)`, `x̂` the normalised
/// input.
pub fn backward(dy: Vec<f32>, tape: &Tape, epsilon: f64, want_skip: bool, l: Layout) -> Grads {
    let mut d = dy;
    if let Some(kept) = &tape.kept {
        let row = l.row().max(1);
        for_each_row(&mut d, row, MIN_PART, |n, d| {
            for (d, &kept) in d.iter_mut().zip(&kept[n * row..]) {
                if !kept {
                    *d = 0.0;
                }
            }
        });
    }
    let (mean, gamma) = (&tape.stats.mean, &tape.gamma);
    let inv_std = inverse_std(&tape.stats.variance, epsilon);
    let z = &tape.z;
    let beta = per_channel(l, |_, at, len| plane_sum(&d[at..at + len]));
    let centred = per_channel(l, |c, at, len| {
        let m = mean[c];
        d[at..at + len]
            .iter()
            .zip(&z[at..at + len])
            .map(|(d, z)| f64::from(d * (z - m)))
            .sum()
    });
    let count = l.count().max(1) as f32;
    let dgamma: Vec<f32> = (0..l.channels)
        .map(|c| (centred[c] * f64::from(inv_std[c])) as f32)
        .collect();
    let dbeta: Vec<f32> = beta.iter().map(|&v| v as f32).collect();
    let mut dz = vec![0.0f32; z.len()];
    let row = l.row().max(1);
    for_each_row(&mut dz, row, MIN_PART, |n, out| {
        for c in 0..l.channels {
            let at = n * row + c * l.plane;
            let (m, s) = (mean[c], inv_std[c]);
            let scale = gamma[c] * s;
            let mean_d = dbeta[c] / count;
            let mean_dx = dgamma[c] / count;
            let out = &mut out[c * l.plane..(c + 1) * l.plane];
            let inputs = d[at..at + l.plane].iter().zip(&z[at..at + l.plane]);
            for (o, (d, z)) in out.iter_mut().zip(inputs) {
                let x_hat = (z - m) * s;
                *o = scale * (d - mean_d - x_hat * mean_dx);
            }
        }
    });
    Grads {
        z: dz,
        gamma: dgamma,
        beta: dbeta,
        skip: want_skip.then_some(d),
    }
}
