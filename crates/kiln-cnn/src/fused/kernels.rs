//! The host maths of a fused `conv -> ReLU -> max pool` block for one part of a batch:
//! im2col and one matrix product forward, and a backward pass that routes the gradient through
//! the saved pooling winners straight into the convolution's products.

use kiln_kernels::matmul::{View, product};

/// Set on a winner whose window's maximum was not positive: the ReLU cut it, so no gradient
/// flows back (the other bits still name the window's winner, which keeps the backward pass
/// free of branches).
pub const CUT: u32 = 1 << 31;

/// The sizes of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Samples in the batch (or in the part at hand).
    pub batch: usize,
    /// Input channels.
    pub channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Output channels.
    pub filters: usize,
    /// Square kernel size.
    pub kernel: usize,
    /// Convolution stride.
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
    /// Size and stride of the square max pool (1: no pooling).
    pub pool: usize,
}

impl Geometry {
    /// Height and width of the convolution's output.
    pub fn conv_size(&self) -> (usize, usize) {
        let out = |size: usize| (size + 2 * self.padding - self.kernel) / self.stride + 1;
        (out(self.height), out(self.width))
    }

    /// Height and width of the pooled output (windows that do not fit are dropped).
    pub fn pooled_size(&self) -> (usize, usize) {
        let (h, w) = self.conv_size();
        (h / self.pool, w / self.pool)
    }

    /// Rows of the im2col matrix: `channels * kernel * kernel`.
    pub fn patch(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    /// Columns of the im2col matrix: one per convolution output position of every sample.
    pub fn positions(&self) -> usize {
        let (h, w) = self.conv_size();
        self.batch * h * w
    }

    /// Values per sample of the input.
    pub fn input_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Values per sample of the pooled output.
    pub fn output_len(&self) -> usize {
        let (h, w) = self.pooled_size();
        self.filters * h * w
    }
}

/// What the backward pass needs from the forward pass of one part.
#[derive(Debug, Clone)]
pub struct Tape {
    /// The im2col matrix `[patch, positions]`.
    pub cols: Vec<f32>,
    /// For every pooled output, the index of its winner in the `[filters, positions]`
    /// convolution output, with [`CUT`] set when the ReLU cut it.
    pub winners: Vec<u32>,
}

/// The output columns `[lo, hi)` whose kernel tap `kx` reads inside a row of `width` values
/// (the others read the padding), for an output row of `ow` values.
fn inside(kx: usize, g: Geometry, ow: usize) -> (usize, usize) {
    let (s, p) = (g.stride, g.padding);
    // Column `ox` reads `ox * s + kx - p`, inside when 0 <= that < width.
    let lo = p.saturating_sub(kx).div_ceil(s).min(ow);
    let hi = if g.width + p > kx {
        (g.width + p - kx).div_ceil(s).min(ow)
    } else {
        0
    };
    (lo, hi.max(lo))
}

/// The im2col matrix of `x` (`[batch, channels, height, width]`): row `(c, ky, kx)`, column
/// `(sample, oy, ox)` holds the input value under kernel tap `(ky, kx)` of output `(oy, ox)`, or 0
/// in the padding.
pub fn im2col(x: &[f32], g: Geometry) -> Vec<f32> {
    let (oh, ow) = g.conv_size();
    let mut cols = Vec::with_capacity(g.patch() * g.positions());
    let (k, s, p) = (g.kernel, g.stride, g.padding);
    let plane_len = g.height * g.width;
    for c in 0..g.channels {
        for ky in 0..k {
            for kx in 0..k {
                let (lo, hi) = inside(kx, g, ow);
                for n in 0..g.batch {
                    let plane = &x[(n * g.channels + c) * plane_len..][..plane_len];
                    for oy in 0..oh {
                        let iy = (oy * s + ky).wrapping_sub(p);
                        if iy >= g.height {
                            cols.resize(cols.len() + ow, 0.0);
                            continue;
                        }
                        let src = &plane[iy * g.width..][..g.width];
                        cols.resize(cols.len() + lo, 0.0);
                        if s == 1 {
                            cols.extend_from_slice(&src[lo + kx - p..hi + kx - p]);
                        } else {
                            cols.extend((lo..hi).map(|ox| src[ox * s + kx - p]));
                        }
                        cols.resize(cols.len() + ow - hi, 0.0);
                    }
                }
            }
        }
    }
    cols
}

/// The adjoint of [`im2col`]: adds every column entry of `cols` back to the input position it
/// was read from, giving the gradient `[batch, channels, height, width]`.
pub fn col2im(cols: &[f32], g: Geometry) -> Vec<f32> {
    let (oh, ow) = g.conv_size();
    let positions = g.positions();
    let plane_len = g.height * g.width;
    let mut x = vec![0.0f32; g.batch * g.input_len()];
    let (k, s, p) = (g.kernel, g.stride, g.padding);
    for n in 0..g.batch {
        for c in 0..g.channels {
            let plane = &mut x[(n * g.channels + c) * plane_len..][..plane_len];
            for ky in 0..k {
                for kx in 0..k {
                    let (lo, hi) = inside(kx, g, ow);
                    let row = (c * k + ky) * k + kx;
                    let col_row = &cols[row * positions..(row + 1) * positions];
                    for oy in 0..oh {
                        let iy = (oy * s + ky).wrapping_sub(p);
                        if iy >= g.height {
                            continue;
                        }
                        let dst = &mut plane[iy * g.width..][..g.width];
                        let src = &col_row[(n * oh + oy) * ow..][lo..hi];
                        if s == 1 {
                            let dst = &mut dst[lo + kx - p..hi + kx - p];
                            for (d, v) in dst.iter_mut().zip(src) {
                                *d += v;
                            }
                        } else {
                            for (ox, v) in (lo..hi).zip(src) {
                                dst[ox * s + kx - p] += v;
                            }
                        }
                    }
                }
            }
        }
    }
    x
}

/// Forward pass of one part: `x` `[batch, channels, height, width]`, `w` `[filters, patch]`,
/// `bias` `[filters]`. Returns the pooled, rectified output `[batch, filters, oh / pool,
/// ow / pool]` and the tape.
pub fn forward(x: &[f32], w: &[f32], bias: &[f32], g: Geometry) -> (Vec<f32>, Tape) {
    let cols = im2col(x, g);
    let (patch, positions) = (g.patch(), g.positions());
    let conv = product(
        View::dense(w, patch),
        View::dense(&cols, positions),
        g.filters,
        patch,
        positions,
    );
    let (out, winners) = bias_relu_max_pool(&conv, bias, g);
    (out, Tape { cols, winners })
}

/// `max(0, bias + max over each pool window)` of the convolution output `[filters, positions]`
/// (the bias is added after the maximum: the same value, one addition per window), in the
/// layout `[batch, filters, ph, pw]`, with each window's winner (see [`Tape::winners`]).
fn bias_relu_max_pool(conv: &[f32], bias: &[f32], g: Geometry) -> (Vec<f32>, Vec<u32>) {
    let (oh, ow) = g.conv_size();
    let (ph, pw) = g.pooled_size();
    let q = g.pool;
    let positions = g.positions();
    let len = g.batch * g.output_len();
    assert!(
        g.filters * positions < CUT as usize,
        "a fused convolution part this large does not fit its winner indices"
    );
    let (mut out, mut winners) = (vec![0.0f32; len], vec![0; len]);
    if len == 0 {
        return (out, winners);
    }
    // One output row (`pw` windows) per `(sample, filter, py)`, in output order.
    let rows = out.chunks_exact_mut(pw).zip(winners.chunks_exact_mut(pw));
    for (r, (out_row, win_row)) in rows.enumerate() {
        let (sample_filter, py) = (r / ph, r % ph);
        let (n, f) = (sample_filter / g.filters, sample_filter % g.filters);
        let top = f * positions + n * oh * ow + py * q * ow;
        let b = bias[f];
        if q == 2 {
            pool_row_of_twos(conv, top, ow, b, out_row, win_row);
            continue;
        }
        for (px, (o, w)) in out_row.iter_mut().zip(win_row.iter_mut()).enumerate() {
            let corner = top + px * q;
            let (mut best, mut at) = (conv[corner], corner);
            for dy in 0..q {
                for dx in 0..q {
                    let i = corner + dy * ow + dx;
                    if conv[i] > best {
                        best = conv[i];
                        at = i;
                    }
                }
            }
            (*o, *w) = rectified(best + b, at);
        }
    }
    (out, winners)
}

/// Pools one row of 2x2 windows starting at `top` (rows `ow` apart) into `out` and `winners`
/// without branches: a random winner is as likely in any corner, so comparisons the CPU has to
/// predict stall it.
fn pool_row_of_twos(
    conv: &[f32],
    top: usize,
    ow: usize,
    bias: f32,
    out: &mut [f32],
    winners: &mut [u32],
) {
    let pw = out.len();
    let upper = &conv[top..top + 2 * pw];
    let lower = &conv[top + ow..top + ow + 2 * pw];
    let windows = upper.chunks_exact(2).zip(lower.chunks_exact(2));
    for (px, ((u, l), (o, w))) in windows.zip(out.iter_mut().zip(winners.iter_mut())).enumerate() {
        let left = top + 2 * px;
        let (top_best, top_at) = if u[1] > u[0] { (u[1], left + 1) } else { (u[0], left) };
        let (low_best, low_at) = if l[1] > l[0] {
            (l[1], left + ow + 1)
        } else {
            (l[0], left + ow)
        };
        let (best, at) = if low_best > top_best {
            (low_best, low_at)
        } else {
            (top_best, top_at)
        };
        (*o, *w) = rectified(best + bias, at);
    }
}

/// `max(0, value)` and its winner `at`, marked [`CUT`] when the ReLU cuts it.
#[inline(always)]
fn rectified(value: f32, at: usize) -> (f32, u32) {
    if value > 0.0 {
        (value, at as u32)
    } else {
        (0.0, at as u32 | CUT)
    }
}

/// The gradients of one part: input (when asked for), weight and bias.
#[derive(Debug, Clone)]
pub struct Grads {
    /// `[batch, channels, height, width]`, or `None` when not asked for.
    pub x: Option<Vec<f32>>,
    /// `[filters, patch]`.
    pub w: Vec<f32>,
    /// `[filters]`.
    pub bias: Vec<f32>,
}

/// Backward pass of one part from the gradient `dout` of its output.
pub fn backward(dout: &[f32], w: &[f32], tape: &Tape, g: Geometry, want_x: bool) -> Grads {
    let (patch, positions) = (g.patch(), g.positions());
    let mut dconv = vec![0.0f32; g.filters * positions];
    let mut bias = vec![0.0f32; g.filters];
    let plane = g.output_len() / g.filters.max(1);
    let planes = tape.winners.chunks_exact(plane.max(1));
    for (k, (winners, dout)) in planes.zip(dout.chunks_exact(plane.max(1))).enumerate() {
        let mut sum = 0.0;
        for (&at, &d) in winners.iter().zip(dout) {
            let d = if at & CUT == 0 { d } else { 0.0 };
            dconv[(at & !CUT) as usize] += d;
            sum += d;
        }
        bias[k % g.filters] += sum;
    }
    let dw = product(
        View::dense(&dconv, positions),
        View::dense_t(&tape.cols, positions),
        g.filters,
        positions,
        patch,
    );
    let x = want_x.then(|| {
        let dcols = product(
            View::dense_t(w, patch),
            View::dense(&dconv, positions),
            patch,
            g.filters,
            positions,
        );
        col2im(&dcols, g)
    });
    Grads { x, w: dw, bias }
}
