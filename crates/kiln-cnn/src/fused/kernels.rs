//! The host maths of a fused `conv -> ReLU -> max pool` block (or of a plain biased convolution)
//! for one part of a batch: im2col and one matrix product forward, and a backward pass that
//! routes the gradient through the saved pooling winners straight into the convolution's
//! products.

use std::mem::MaybeUninit;

use kiln_kernels::matmul::{View, matmul, product, product_by_rows};

/// Set on a winner whose window's maximum was not positive: the ReLU cut it, so no gradient
/// flows back (the other bits still name the window's winner, which keeps the backward pass
/// free of branches).
pub const CUT: u32 = 1 << 31;

/// What follows the convolution's matrix product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    /// `max_pool(relu(conv + bias))` over windows of [`Geometry::pool`].
    ReluPool,
    /// `conv + bias`: a plain convolution (`pool` is 1).
    Bias,
}

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
    /// What follows the product.
    pub epilogue: Epilogue,
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

/// What the backward pass needs from the forward pass of one part besides its input (the
/// backward pass rebuilds the im2col matrix from the input, a group of samples at a time, rather
/// than keep it: it is `kernel x kernel` times larger).
#[derive(Debug, Clone)]
pub struct Tape {
    /// For every pooled output, the index of its winner inside its convolution plane
    /// `[oh, ow]` (the same sample and filter), with [`CUT`] set when the ReLU cut it; empty for
    /// [`Epilogue::Bias`].
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
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn wide(x: &[f32], g: Geometry) -> Vec<f32> {
            im2col_body(x, g)
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has the features `wide` was compiled for.
            return unsafe { wide(x, g) };
        }
    }
    im2col_body(x, g)
}

/// The body of [`im2col`], compiled for AVX2 as well.
#[inline(always)]
fn im2col_body(x: &[f32], g: Geometry) -> Vec<f32> {
    let (oh, ow) = g.conv_size();
    let total = g.patch() * g.positions();
    let mut cols = Vec::with_capacity(total);
    let out = &mut cols.spare_capacity_mut()[..total];
    let (k, s, p) = (g.kernel, g.stride, g.padding);
    let plane_len = g.height * g.width;
    let mut rows = out.chunks_exact_mut(ow.max(1));
    for c in 0..g.channels {
        for ky in 0..k {
            for kx in 0..k {
                let (lo, hi) = inside(kx, g, ow);
                for n in 0..g.batch {
                    let plane = &x[(n * g.channels + c) * plane_len..][..plane_len];
                    for oy in 0..oh {
                        let row = rows.next().expect("im2col writes patch x positions values");
                        let iy = (oy * s + ky).wrapping_sub(p);
                        if iy >= g.height {
                            row.fill(MaybeUninit::new(0.0));
                            continue;
                        }
                        let src = &plane[iy * g.width..][..g.width];
                        row[..lo].fill(MaybeUninit::new(0.0));
                        row[hi..].fill(MaybeUninit::new(0.0));
                        if s == 1 {
                            copy_short(&mut row[lo..hi], &src[lo + kx - p..hi + kx - p]);
                        } else {
                            for (d, ox) in row[lo..hi].iter_mut().zip(lo..hi) {
                                d.write(src[ox * s + kx - p]);
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(ow == 0 || rows.next().is_none(), "im2col wrote every value");
    // SAFETY: the loops above wrote each of the `total` values (`ow` per output row, in order,
    // and the assertion checks that every row was reached).
    unsafe { cols.set_len(if ow == 0 { 0 } else { total }) };
    cols
}

/// Copies one output row's run of input values. im2col copies millions of these short runs a
/// step; as whole blocks of 8 values (the last block overlapping the one before; two blocks of 4
/// for 4 to 7 values, as in the 7x7 maps of the ResNet preset) they compile to a few vector
/// moves instead of a call to `memcpy` each.
#[inline(always)]
fn copy_short(dst: &mut [MaybeUninit<f32>], src: &[f32]) {
    let len = dst.len().min(src.len());
    if len < 8 {
        if len >= 4 {
            let four = |dst: &mut [MaybeUninit<f32>], src: &[f32]| {
                let src: &[f32; 4] = src.try_into().expect("4 values");
                let dst: &mut [MaybeUninit<f32>; 4] = dst.try_into().expect("4 values");
                *dst = src.map(MaybeUninit::new);
            };
            four(&mut dst[..4], &src[..4]);
            four(&mut dst[len - 4..len], &src[len - 4..len]);
            return;
        }
        for (d, &v) in dst.iter_mut().zip(src) {
            d.write(v);
        }
        return;
    }
    let block = |dst: &mut [MaybeUninit<f32>], src: &[f32]| {
        let src: &[f32; 8] = src.try_into().expect("8 values");
        let dst: &mut [MaybeUninit<f32>; 8] = dst.try_into().expect("8 values");
        *dst = src.map(MaybeUninit::new);
    };
    let mut i = 0;
    while i + 8 <= len {
        block(&mut dst[i..i + 8], &src[i..i + 8]);
        i += 8;
    }
    if i < len {
        block(&mut dst[len - 8..len], &src[len - 8..len]);
    }
}

/// The adjoint of [`im2col`]: adds every column entry of `cols` back to the input position it
/// was read from, into the gradient `x` `[batch, channels, height, width]`.
pub fn col2im_into(cols: &[f32], g: Geometry, x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn wide(cols: &[f32], g: Geometry, x: &mut [f32]) {
            col2im_body(cols, g, x)
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has the features `wide` was compiled for.
            unsafe { wide(cols, g, x) };
            return;
        }
    }
    col2im_body(cols, g, x)
}

/// The body of [`col2im_into`], compiled for AVX2 as well.
#[inline(always)]
fn col2im_body(cols: &[f32], g: Geometry, x: &mut [f32]) {
    let (oh, ow) = g.conv_size();
    let positions = g.positions();
    let plane_len = g.height * g.width;
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
}

/// Columns of the convolution output a group of samples should span: enough for an efficient
/// matrix product, few enough that the group's output stays in cache while it is pooled.
const GROUP_COLUMNS: usize = 2048;

/// Values of a group's im2col matrix at most (1 MiB), so that it stays in a core's L2 cache
/// between im2col writing it and the product reading it; the ResNet preset's wide patches
/// (576 and 1152 rows) get fewer columns.
const GROUP_VALUES: usize = 1 << 18;

/// Filters per matrix product in the forward pass: up to 48, gemm reads the im2col matrix where
/// it lies instead of copying it first (see `product_by_rows`); 32 splits the reference CNN's
/// 64 filters evenly. (Measured on conv2 of the reference CNN: 6.5 -> 6.1 ms forward and
/// backward.)
const FILTERS_PER_PRODUCT: usize = 32;

/// The samples `[start, end)` of each group of a part.
fn groups(g: Geometry) -> impl Iterator<Item = (usize, usize)> {
    let (oh, ow) = g.conv_size();
    let columns = GROUP_COLUMNS.min(GROUP_VALUES / g.patch().max(1));
    let size = (columns / (oh * ow).max(1)).max(1);
    (0..g.batch)
        .step_by(size)
        .map(move |start| (start, (start + size).min(g.batch)))
}

/// The im2col matrix `[patch, (end - start) * oh * ow]` of samples `[start, end)` of the part's
/// input `x`.
fn group_columns(x: &[f32], g: Geometry, start: usize, end: usize) -> Vec<f32> {
    let group = Geometry {
        batch: end - start,
        ..g
    };
    im2col(&x[start * g.input_len()..end * g.input_len()], group)
}

/// Forward pass of one part: `x` `[batch, channels, height, width]`, `w` `[filters, patch]`,
/// `bias` `[filters]`. Writes the output `[batch, filters, oh / pool, ow / pool]` (pooled and
/// rectified, or the biased convolution, as `g.epilogue` says) into `out` and returns the tape.
/// The convolution runs a group of samples at a time and is pooled while it is still in cache.
pub fn forward(x: &[f32], w: &[f32], bias: &[f32], g: Geometry, out: &mut [f32]) -> Tape {
    let (oh, ow) = g.conv_size();
    let patch = g.patch();
    let len = g.batch * g.output_len();
    assert_eq!(out.len(), len, "the output slice fits the part");
    let pooling = g.epilogue == Epilogue::ReluPool;
    let mut winners = vec![0u32; if pooling { len } else { 0 }];
    for (start, end) in groups(g) {
        let width = (end - start) * oh * ow;
        let cols = group_columns(x, g, start, end);
        let conv = product_by_rows(
            View::dense(w, patch),
            View::dense(&cols, width),
            g.filters,
            patch,
            width,
            FILTERS_PER_PRODUCT,
        );
        let range = start * g.output_len()..end * g.output_len();
        let group = Geometry {
            batch: end - start,
            ..g
        };
        if pooling {
            bias_relu_max_pool(
                &conv,
                bias,
                group,
                &mut out[range.clone()],
                &mut winners[range],
            );
        } else {
            add_bias(&conv, bias, group, &mut out[range]);
        }
    }
    Tape { winners }
}

/// The pooled, rectified output of the convolution `conv` `[batch, filters, oh, ow]` (computed
/// without its bias, as [`super::direct`] gives it) into `out`, and the tape: what [`forward`]
/// returns for a [`Epilogue::ReluPool`] call.
pub fn pool_convolved(conv: &[f32], bias: &[f32], g: Geometry, out: &mut [f32]) -> Tape {
    assert_eq!(g.epilogue, Epilogue::ReluPool, "a pooled call");
    let (oh, ow) = g.conv_size();
    let plane = g.filters * oh * ow;
    let len = g.batch * g.output_len();
    assert_eq!(out.len(), len, "the output slice fits the part");
    assert_eq!(conv.len(), g.batch * plane, "the convolution fits the part");
    let mut winners = vec![0u32; len];
    let one = Geometry { batch: 1, ..g };
    let each = out.chunks_exact_mut(g.output_len().max(1));
    let each = each.zip(winners.chunks_exact_mut(g.output_len().max(1)));
    for ((out, winners), conv) in each.zip(conv.chunks_exact(plane.max(1))) {
        bias_relu_max_pool(conv, bias, one, out, winners);
    }
    Tape { winners }
}

/// `max(0, bias + max over each pool window)` of the convolution output `[filters, positions]`
/// of the samples `g` describes (the bias is added after the maximum: the same value, one
/// addition per window), into `out` `[batch, filters, ph, pw]`, with each window's winner (see
/// [`Tape::winners`]).
fn bias_relu_max_pool(
    conv: &[f32],
    bias: &[f32],
    g: Geometry,
    out: &mut [f32],
    winners: &mut [u32],
) {
    let (oh, ow) = g.conv_size();
    let (ph, pw) = g.pooled_size();
    let q = g.pool;
    let positions = g.positions();
    assert!(
        oh * ow < CUT as usize,
        "a fused convolution this large does not fit its winner indices"
    );
    if out.is_empty() {
        return;
    }
    // One output row (`pw` windows) per `(sample, filter, py)`, in output order.
    let rows = out.chunks_exact_mut(pw).zip(winners.chunks_exact_mut(pw));
    for (r, (out_row, win_row)) in rows.enumerate() {
        let (sample_filter, py) = (r / ph, r % ph);
        let (n, f) = (sample_filter / g.filters, sample_filter % g.filters);
        let plane = f * positions + n * oh * ow;
        let top = py * q * ow;
        let b = bias[f];
        if q == 2 {
            pool_row_of_twos(&conv[plane..plane + oh * ow], top, ow, b, out_row, win_row);
            continue;
        }
        if q == 1 {
            bias_relu_row(
                &conv[plane + top..plane + top + ow],
                top,
                b,
                out_row,
                win_row,
            );
            continue;
        }
        for (px, (o, w)) in out_row.iter_mut().zip(win_row.iter_mut()).enumerate() {
            let corner = top + px * q;
            let (mut best, mut at) = (conv[plane + corner], corner);
            for dy in 0..q {
                for dx in 0..q {
                    let i = corner + dy * ow + dx;
                    if conv[plane + i] > best {
                        best = conv[plane + i];
                        at = i;
                    }
                }
            }
            (*o, *w) = rectified(best + b, at);
        }
    }
}

/// `conv + bias` of the convolution output `[filters, positions]` of the samples `g` describes,
/// into `out` `[batch, filters, oh, ow]`.
fn add_bias(conv: &[f32], bias: &[f32], g: Geometry, out: &mut [f32]) {
    let (oh, ow) = g.conv_size();
    let plane_len = oh * ow;
    let positions = g.positions();
    if plane_len == 0 {
        return;
    }
    for (r, out_plane) in out.chunks_exact_mut(plane_len).enumerate() {
        let (n, f) = (r / g.filters, r % g.filters);
        let src = &conv[f * positions + n * plane_len..][..plane_len];
        let b = bias[f];
        for (o, v) in out_plane.iter_mut().zip(src) {
            *o = v + b;
        }
    }
}

/// `max(0, conv + bias)` of one row without pooling (each value its own winner, at `top + i`),
/// branch-free so that the compiler vectorises it.
fn bias_relu_row(conv: &[f32], top: usize, bias: f32, out: &mut [f32], winners: &mut [u32]) {
    let len = conv.len().min(out.len()).min(winners.len());
    let (conv, out, winners) = (&conv[..len], &mut out[..len], &mut winners[..len]);
    for i in 0..len {
        let (value, at) = rectified(conv[i] + bias, top + i);
        out[i] = value;
        winners[i] = at;
    }
}

/// Pools one row of 2x2 windows starting at `top` (rows `ow` apart) into `out` and `winners`
/// without branches (a random winner is as likely in any corner, so branches would be
/// mispredicted), in a form the compiler vectorises: the vertical maximum of each column pair
/// first, then the horizontal one. Compiled for AVX2 as well and chosen at run time.
fn pool_row_of_twos(
    conv: &[f32],
    top: usize,
    ow: usize,
    bias: f32,
    out: &mut [f32],
    winners: &mut [u32],
) {
    #[cfg(target_arch = "x86_64")]
    if super::pool_row::pool_row_of_twos(conv, top, ow, bias, out, winners) {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn wide(conv: &[f32], top: usize, ow: usize, b: f32, out: &mut [f32], w: &mut [u32]) {
            pool_row_of_twos_body(conv, top, ow, b, out, w)
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has the features `wide` was compiled for.
            unsafe { wide(conv, top, ow, bias, out, winners) };
            return;
        }
    }
    pool_row_of_twos_body(conv, top, ow, bias, out, winners)
}

/// The body of [`pool_row_of_twos`].
#[inline(always)]
pub(super) fn pool_row_of_twos_body(
    conv: &[f32],
    top: usize,
    ow: usize,
    bias: f32,
    out: &mut [f32],
    winners: &mut [u32],
) {
    let pw = out.len().min(winners.len());
    let upper = &conv[top..top + 2 * pw];
    let lower = &conv[top + ow..top + ow + 2 * pw];
    let (out, winners) = (&mut out[..pw], &mut winners[..pw]);
    for px in 0..pw {
        let (u0, u1) = (upper[2 * px], upper[2 * px + 1]);
        let (l0, l1) = (lower[2 * px], lower[2 * px + 1]);
        let (down0, down1) = (l0 > u0, l1 > u1);
        let (v0, v1) = (if down0 { l0 } else { u0 }, if down1 { l1 } else { u1 });
        let right = v1 > v0;
        let best = if right { v1 } else { v0 };
        let down = if right { down1 } else { down0 };
        let at = (top + 2 * px) as u32 + u32::from(right) + if down { ow as u32 } else { 0 };
        let value = best + bias;
        let cut = u32::from(value <= 0.0) << 31;
        out[px] = value.max(0.0);
        winners[px] = at | cut;
    }
}

/// `max(0, value)` and its winner `at`, marked [`CUT`] when the ReLU cuts it.
#[inline(always)]
fn rectified(value: f32, at: usize) -> (f32, u32) {
    // Without a branch: about half the values are cut, at random.
    let cut = u32::from(value <= 0.0) << 31;
    (value.max(0.0), at as u32 | cut)
}

/// The output gradient `dout` `[batch, filters, plane]` of samples `[start, end)` as the matrix
/// `[filters, (end - start) * plane]` the products take, its sums added into `bias`.
fn gathered(dout: &[f32], g: Geometry, start: usize, end: usize, bias: &mut [f32]) -> Vec<f32> {
    let (oh, ow) = g.conv_size();
    let plane_len = oh * ow;
    let mut dconv = Vec::with_capacity(g.filters * (end - start) * plane_len);
    for (f, sum) in bias.iter_mut().enumerate().take(g.filters) {
        for n in start..end {
            let d = &dout[(n * g.filters + f) * plane_len..][..plane_len];
            dconv.extend_from_slice(d);
            *sum += lane_sum(d);
        }
    }
    dconv
}

/// The sum of `values` in 8 lanes (vectorised).
fn lane_sum(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += v;
        }
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// The weight and bias gradients of one part.
#[derive(Debug, Clone)]
pub struct Grads {
    /// `[filters, patch]`.
    pub w: Vec<f32>,
    /// `[filters]`.
    pub bias: Vec<f32>,
}

/// Backward pass of one part from the gradient `dout` of its output and its input `x`, a group of
/// samples at a time (the group's im2col matrix and convolution gradient stay in cache). Adds the
/// input gradient into `dx` (`[batch, channels, height, width]`, zeroed by the caller) when there
/// is one to compute.
pub fn backward(
    dout: &[f32],
    w: &[f32],
    x: &[f32],
    tape: &Tape,
    g: Geometry,
    mut dx: Option<&mut [f32]>,
) -> Grads {
    let (oh, ow) = g.conv_size();
    let plane_len = oh * ow;
    let patch = g.patch();
    let pooled = g.output_len() / g.filters.max(1);
    // `dWᵀ = cols · dconvᵀ`, accumulated group by group: the im2col matrix is read by rows, as
    // stored (reading it transposed made gemm repack it at every call).
    let mut dw_t = vec![0.0f32; patch * g.filters];
    let mut bias = vec![0.0f32; g.filters];
    for (start, end) in groups(g) {
        let width = (end - start) * plane_len;
        // The gradient of the group's convolution output `[filters, width]` (through the
        // pooling winners and the ReLU).
        let dconv = match g.epilogue {
            Epilogue::Bias => gathered(dout, g, start, end, &mut bias),
            Epilogue::ReluPool => {
                let mut dconv = vec![0.0f32; g.filters * width];
                for n in start..end {
                    for f in 0..g.filters {
                        let at = (n * g.filters + f) * pooled;
                        let plane = &mut dconv[f * width + (n - start) * plane_len..][..plane_len];
                        let mut sum = 0.0;
                        for (&win, &d) in tape.winners[at..at + pooled]
                            .iter()
                            .zip(&dout[at..at + pooled])
                        {
                            let d = if win & CUT == 0 { d } else { 0.0 };
                            plane[(win & !CUT) as usize] += d;
                            sum += d;
                        }
                        bias[f] += sum;
                    }
                }
                dconv
            }
        };
        let cols = group_columns(x, g, start, end);
        matmul(
            &mut dw_t,
            g.filters,
            View::dense(&cols, width),
            View::dense_t(&dconv, width),
            patch,
            width,
            g.filters,
            true,
        );
        if let Some(dx) = dx.as_mut() {
            let dcols = product(
                View::dense_t(w, patch),
                View::dense(&dconv, width),
                patch,
                g.filters,
                width,
            );
            let group = Geometry {
                batch: end - start,
                ..g
            };
            let x = &mut dx[start * g.input_len()..end * g.input_len()];
            col2im_into(&dcols, group, x);
        }
    }
    let mut dw = vec![0.0f32; g.filters * patch];
    for (p, row) in dw_t.chunks_exact(g.filters.max(1)).enumerate() {
        for (f, v) in row.iter().enumerate() {
            dw[f * patch + p] = *v;
        }
    }
    Grads { w: dw, bias }
}
