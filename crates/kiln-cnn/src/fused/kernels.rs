//! The host maths of a fused `conv -> ReLU -> max pool` block for one part of a batch:
//! im2col and one matrix product forward, and a backward pass that routes the gradient through
//! the saved pooling winners straight into the convolution's products.

use kiln_kernels::matmul::{View, matmul};

/// No gradient flows to this pooled output: its window's maximum was not positive, so the ReLU
/// cut it.
pub const CUT: u32 = u32::MAX;

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
    /// convolution output, or [`CUT`].
    pub winners: Vec<u32>,
}

/// The im2col matrix of `x` (`[batch, channels, height, width]`): row `(c, ky, kx)`, column
/// `(sample, oy, ox)` holds the input value under kernel tap `(ky, kx)` of output `(oy, ox)`, or 0
/// in the padding.
pub fn im2col(x: &[f32], g: Geometry) -> Vec<f32> {
    let (oh, ow) = g.conv_size();
    let positions = g.positions();
    let mut cols = vec![0.0f32; g.patch() * positions];
    let (k, s, p) = (g.kernel, g.stride, g.padding as isize);
    for c in 0..g.channels {
        for ky in 0..k {
            for kx in 0..k {
                let row = (c * k + ky) * k + kx;
                let out_row = &mut cols[row * positions..(row + 1) * positions];
                for n in 0..g.batch {
                    let plane = &x[(n * g.channels + c) * g.height * g.width..][..g.height * g.width];
                    for oy in 0..oh {
                        let iy = (oy * s + ky) as isize - p;
                        if iy < 0 || iy >= g.height as isize {
                            continue;
                        }
                        let src = &plane[iy as usize * g.width..][..g.width];
                        let dst = &mut out_row[(n * oh + oy) * ow..][..ow];
                        for (ox, d) in dst.iter_mut().enumerate() {
                            let ix = (ox * s + kx) as isize - p;
                            if ix >= 0 && ix < g.width as isize {
                                *d = src[ix as usize];
                            }
                        }
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
    let mut x = vec![0.0f32; g.batch * g.input_len()];
    let (k, s, p) = (g.kernel, g.stride, g.padding as isize);
    for n in 0..g.batch {
        for c in 0..g.channels {
            let plane = &mut x[(n * g.channels + c) * g.height * g.width..][..g.height * g.width];
            for ky in 0..k {
                for kx in 0..k {
                    let row = (c * k + ky) * k + kx;
                    let col_row = &cols[row * positions..(row + 1) * positions];
                    for oy in 0..oh {
                        let iy = (oy * s + ky) as isize - p;
                        if iy < 0 || iy >= g.height as isize {
                            continue;
                        }
                        let dst = &mut plane[iy as usize * g.width..][..g.width];
                        let src = &col_row[(n * oh + oy) * ow..][..ow];
                        for (ox, v) in src.iter().enumerate() {
                            let ix = (ox * s + kx) as isize - p;
                            if ix >= 0 && ix < g.width as isize {
                                dst[ix as usize] += v;
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
    let mut conv = vec![0.0f32; g.filters * positions];
    for (row, b) in conv.chunks_exact_mut(positions.max(1)).zip(bias) {
        row.fill(*b);
    }
    matmul(
        &mut conv,
        positions,
        View::dense(w, patch),
        View::dense(&cols, positions),
        g.filters,
        patch,
        positions,
        true,
    );
    let (out, winners) = relu_max_pool(&conv, g);
    (out, Tape { cols, winners })
}

/// `max(0, max over each pool window)` of the convolution output `[filters, positions]`, in the
/// layout `[batch, filters, ph, pw]`, with each window's winner (or [`CUT`]).
fn relu_max_pool(conv: &[f32], g: Geometry) -> (Vec<f32>, Vec<u32>) {
    let (oh, ow) = g.conv_size();
    let (ph, pw) = g.pooled_size();
    let q = g.pool;
    let positions = g.positions();
    let len = g.batch * g.output_len();
    let (mut out, mut winners) = (Vec::with_capacity(len), Vec::with_capacity(len));
    for n in 0..g.batch {
        for f in 0..g.filters {
            let plane = f * positions + n * oh * ow;
            for py in 0..ph {
                for px in 0..pw {
                    let (mut best, mut at) = (0.0f32, CUT);
                    for dy in 0..q {
                        let row = plane + (py * q + dy) * ow + px * q;
                        for (dx, &v) in conv[row..row + q].iter().enumerate() {
                            if v > best {
                                best = v;
                                at = (row + dx) as u32;
                            }
                        }
                    }
                    out.push(best);
                    winners.push(at);
                }
            }
        }
    }
    (out, winners)
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
    for (&at, &d) in tape.winners.iter().zip(dout) {
        if at != CUT {
            dconv[at as usize] += d;
        }
    }
    let bias = dconv
        .chunks_exact(positions.max(1))
        .map(|row| row.iter().sum())
        .collect();
    let mut dw = vec![0.0f32; g.filters * patch];
    matmul(
        &mut dw,
        patch,
        View::dense(&dconv, positions),
        View::dense_t(&tape.cols, positions),
        g.filters,
        positions,
        patch,
        false,
    );
    let x = want_x.then(|| {
        let mut dcols = vec![0.0f32; patch * positions];
        matmul(
            &mut dcols,
            positions,
            View::dense_t(w, patch),
            View::dense(&dconv, positions),
            patch,
            g.filters,
            positions,
            false,
        );
        col2im(&dcols, g)
    });
    Grads { x, w: dw, bias }
}
