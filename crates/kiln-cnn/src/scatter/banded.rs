//! A bank of single-channel filters applied with reflection padding and a stride as one matrix
//! product: each output row gathers the `side` padded input rows it covers, and a banded matrix
//! holds every filter at every output column. Burn's convolution on the CPU takes a slow
//! direct path for one input channel and few filters (about 10 GFLOP/s for the scattering's
//! 21 x 21 wavelets); one large product keeps gemm busy instead.

use burn::prelude::*;
use burn::tensor::ops::PadMode;

/// Real kernels of one odd side, each `side * side` values row-major.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Kernels {
    /// Side of every kernel.
    pub side: usize,
    /// One kernel per output channel.
    pub values: Vec<Vec<f32>>,
}

impl Kernels {
    /// The banded matrix `[side · padded_width, out_width · filters]`: row `(a, c)` (kernel row
    /// `a`, padded column `c`), column `(o, f)` holds filter `f`'s value at `(a, c − o·stride)`.
    fn band(&self, padded_width: usize, out_width: usize, stride: usize) -> Vec<f32> {
        let (k, f) = (self.side, self.values.len());
        let columns = out_width * f;
        let mut band = vec![0.0f32; k * padded_width * columns];
        for a in 0..k {
            for o in 0..out_width {
                for b in 0..k {
                    let row = a * padded_width + o * stride + b;
                    for (filter, kernel) in self.values.iter().enumerate() {
                        band[row * columns + o * f + filter] = kernel[a * k + b];
                    }
                }
            }
        }
        band
    }

    /// `x ⋆ kernel` for each kernel, maps `[n, 1, h, w]` to `[n, filters, ⌈h/stride⌉,
    /// ⌈w/stride⌉]`, the input padded by reflection by half a kernel on every side (a
    /// cross-correlation, as Burn's `conv2d`). Maps go through a few at a time, so that the
    /// gathered rows stay within [`GATHERED_VALUES`] whatever the batch.
    pub fn apply(&self, x: Tensor<4>, stride: usize) -> Tensor<4> {
        let [n, _, h, w] = x.dims();
        let (k, r) = (self.side, self.side / 2);
        let per_map = h.div_ceil(stride) * k * (w + 2 * r);
        let maps = (GATHERED_VALUES / per_map.max(1)).clamp(1, n.max(1));
        if n <= maps {
            return self.apply_all(x, stride);
        }
        let parts: Vec<Tensor<4>> = (0..n)
            .step_by(maps)
            .map(|start| self.apply_all(x.clone().narrow(0, start, maps.min(n - start)), stride))
            .collect();
        Tensor::cat(parts, 0)
    }

    /// [`apply`](Self::apply) of every map at once.
    fn apply_all(&self, x: Tensor<4>, stride: usize) -> Tensor<4> {
        let [n, _, h, w] = x.dims();
        let device = x.device();
        let (k, r, f) = (self.side, self.side / 2, self.values.len());
        let (out_h, out_w) = (h.div_ceil(stride), w.div_ceil(stride));
        let padded_w = w + 2 * r;
        let padded = x
            .pad([(r, r), (r, r)], PadMode::Reflect)
            .reshape([n, h + 2 * r, padded_w]);
        let rows: Vec<i64> = (0..out_h)
            .flat_map(|o| (0..k).map(move |a| (o * stride + a) as i64))
            .collect();
        let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [out_h * k]), &device);
        let gathered = padded.select(1, rows).reshape([n * out_h, k * padded_w]);
        let band = Tensor::<2>::from_data(
            TensorData::new(
                self.band(padded_w, out_w, stride),
                [k * padded_w, out_w * f],
            ),
            &device,
        );
        gathered
            .matmul(band)
            .reshape([n, out_h, out_w, f])
            .permute([0, 3, 1, 2])
    }
}

/// Most values of gathered rows [`Kernels::apply`] holds at once (16 MiB of f32).
const GATHERED_VALUES: usize = 1 << 22;

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;

    #[test]
    fn equals_burns_convolution_of_the_padded_input() {
        let device = Device::flex();
        let side = 5;
        let kernels = Kernels {
            side,
            values: (0..3)
                .map(|f| {
                    (0..side * side)
                        .map(|i| ((i * 7 + f * 3) % 11) as f32 - 5.0)
                        .collect()
                })
                .collect(),
        };
        let weights: Vec<f32> = kernels.values.iter().flatten().copied().collect();
        let weights = Tensor::<4>::from_data(TensorData::new(weights, [3, 1, side, side]), &device);
        for (h, w, stride) in [(9, 9, 1), (9, 11, 2), (12, 10, 4), (7, 8, 3)] {
            let values: Vec<f32> = (0..2 * h * w)
                .map(|i| ((i * 13) % 17) as f32 / 17.0)
                .collect();
            let x = Tensor::<4>::from_data(TensorData::new(values, [2, 1, h, w]), &device);
            let padded = x.clone().pad([(2, 2), (2, 2)], PadMode::Reflect);
            let expected = conv2d(
                padded,
                weights.clone(),
                None,
                ConvOptions::new([stride, stride], [0, 0], [1, 1], 1),
            );
            let got = kernels.apply(x, stride);
            assert_eq!(got.dims(), expected.dims(), "{h}x{w} stride {stride}");
            let gap = (got - expected).abs().max().into_scalar::<f32>();
            assert!(gap < 1e-4, "{h}x{w} stride {stride}: {gap}");
        }
    }
}
