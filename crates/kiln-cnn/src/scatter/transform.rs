//! The scattering transform as Burn operations (reflection padding, convolution, complex
//! modulus), so that it runs on any backend: orders 0, 1 and 2 of Mallat's scattering,
//! `S0 = x ⋆ φ`, `S1 = |x ⋆ ψ_λ1| ⋆ φ`, `S2 = ||x ⋆ ψ_λ1| ⋆ ψ_λ2| ⋆ φ` for `j2 > j1`, each
//! averaged by the low-pass `φ` and subsampled by `2^J`. It has no parameters.

use burn::prelude::*;

use super::banded::Kernels;
use super::filters::{Filter, FilterBank};

/// A wavelet scattering transform of `scales` (J) scales and `orientations` (L) orientations:
/// images `[batch, channels, height, width]` to `[batch, channels · K, ⌈height/2^J⌉,
/// ⌈width/2^J⌉]` with `K = 1 + J·L + L²·J(J−1)/2` coefficients per input channel.
#[derive(Module, Debug)]
pub struct Scattering {
    /// J: the wavelets' scales, and the subsampling `2^J`.
    pub scales: usize,
    /// L: orientations per scale.
    pub orientations: usize,
}

impl Scattering {
    /// The transform of `scales` scales and `orientations` orientations.
    pub fn new(scales: usize, orientations: usize) -> Self {
        Self {
            scales,
            orientations,
        }
    }

    /// Coefficients per input channel: `1 + J·L + L²·J(J−1)/2`.
    pub fn coefficients(&self) -> usize {
        let (j, l) = (self.scales, self.orientations);
        1 + j * l + l * l * j * j.saturating_sub(1) / 2
    }

    /// The side of the output for an input side: `⌈side / 2^J⌉`.
    pub fn output_side(&self, side: usize) -> usize {
        side.div_ceil(1 << self.scales)
    }

    /// The filters it convolves with.
    pub fn filters(&self) -> FilterBank {
        FilterBank::new(self.scales, self.orientations)
    }

    /// Refuses images too small for the filters: each map is padded by reflection, which
    /// needs it larger than the filter's radius.
    pub fn check_size(&self, height: usize, width: usize) -> Result<(), String> {
        let bank = self.filters();
        for r in 0..self.scales {
            let side = height.min(width).div_ceil(1 << r);
            let wavelet = bank.wavelets[..self.scales - r]
                .iter()
                .map(|scale| scale[0].radius)
                .max()
                .unwrap_or(0);
            let radius = wavelet.max(bank.low_pass[r].radius);
            if side <= radius {
                return Err(format!(
                    "{height}x{width} images are too small for {} scales: maps of side {side} meet filters of radius {radius}",
                    self.scales
                ));
            }
        }
        Ok(())
    }

    /// The scattering coefficients of `images`: order 0, then order 1 by scale and orientation,
    /// then order 2 by `(j1, θ1, j2, θ2)`, for each input channel in turn. As kymatio does, a
    /// map of scale `j` is kept subsampled by `2^j` and filtered there by smaller filters.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        let bank = self.filters();
        let kernels = BankKernels {
            wavelets: bank.wavelets.iter().map(|s| complex_kernels(s)).collect(),
            low_pass: bank.low_pass.iter().map(real_kernels).collect(),
        };
        let batch = images.dims()[0];
        if batch <= IMAGES_AT_ONCE {
            return self.forward_all(images, &kernels);
        }
        let parts: Vec<Tensor<4>> = (0..batch)
            .step_by(IMAGES_AT_ONCE)
            .map(|start| {
                let size = IMAGES_AT_ONCE.min(batch - start);
                self.forward_all(images.clone().narrow(0, start, size), &kernels)
            })
            .collect();
        Tensor::cat(parts, 0)
    }

    /// [`forward`](Self::forward) of every image at once.
    fn forward_all(&self, images: Tensor<4>, kernels: &BankKernels) -> Tensor<4> {
        let [batch, channels, height, width] = images.dims();
        let (scales, l) = (self.scales, self.orientations);
        let n = batch * channels;
        let x = images.reshape([n, 1, height, width]);
        let (wavelets, low_pass) = (&kernels.wavelets, &kernels.low_pass);
        // Averages maps `[n, k, h, w]` at resolution `r` and subsamples them to `2^J`.
        let average = |u: Tensor<4>, r: usize| {
            let [n, k, h, w] = u.dims();
            let stride = 1 << (scales - r);
            let out = low_pass[r].apply(u.reshape([n * k, 1, h, w]), stride);
            let [_, _, oh, ow] = out.dims();
            out.reshape([n, k, oh, ow])
        };
        // |u ⋆ ψ| at scale `step` relative to u's resolution, subsampled by `2^step`.
        let wavelet = |u: Tensor<4>, step: usize| modulus(wavelets[step].apply(u, 1 << step), l);
        let first: Vec<Tensor<4>> = (0..scales).map(|j| wavelet(x.clone(), j)).collect();
        let mut orders = vec![average(x, 0)];
        orders.extend(first.iter().enumerate().map(|(j, u)| average(u.clone(), j)));
        for (j1, u) in first.iter().enumerate() {
            let [_, _, h, w] = u.dims();
            for j2 in j1 + 1..scales {
                let v = wavelet(u.clone().reshape([n * l, 1, h, w]), j2 - j1);
                let [_, _, vh, vw] = v.dims();
                orders.push(average(v.reshape([n, l * l, vh, vw]), j2));
            }
        }
        let out = Tensor::cat(orders, 1);
        let [_, k, oh, ow] = out.dims();
        out.reshape([batch, channels * k, oh, ow])
    }
}

/// The filter bank as kernels: the wavelets of each scale (real and imaginary parts per
/// orientation), the low-pass filter of each resolution.
struct BankKernels {
    wavelets: Vec<Kernels>,
    low_pass: Vec<Kernels>,
}

/// Images [`Scattering::forward`] transforms at once: its intermediate maps (about 1.5 MB an
/// MNIST digit) stay small whatever the batch.
const IMAGES_AT_ONCE: usize = 64;

/// `|z|` of responses `[n, 2L, h, w]` stored as (real, imaginary) pairs: `[n, L, h, w]`. The
/// small constant keeps the gradient finite where a response is zero.
fn modulus(z: Tensor<4>, orientations: usize) -> Tensor<4> {
    let [n, _, h, w] = z.dims();
    z.reshape([n, orientations, 2, h, w])
        .powi_scalar(2)
        .sum_dim(2)
        .add_scalar(1e-12)
        .sqrt()
        .reshape([n, orientations, h, w])
}

/// The wavelets of one scale as kernels: real, imaginary, per orientation.
fn complex_kernels(scale: &[Filter]) -> Kernels {
    let to_f32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    Kernels {
        side: scale[0].side(),
        values: scale
            .iter()
            .flat_map(|f| [to_f32(&f.re), to_f32(&f.im)])
            .collect(),
    }
}

/// A real filter as a kernel.
fn real_kernels(filter: &Filter) -> Kernels {
    Kernels {
        side: filter.side(),
        values: vec![filter.re.iter().map(|&x| x as f32).collect()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_counts() {
        let device = Device::flex();
        let s = Scattering::new(2, 8);
        assert_eq!(s.coefficients(), 81);
        assert_eq!(Scattering::new(1, 8).coefficients(), 9);
        assert_eq!(Scattering::new(3, 4).coefficients(), 1 + 12 + 16 * 3);
        let out = s.forward(Tensor::<4>::ones([2, 1, 28, 28], &device));
        assert_eq!(out.dims(), [2, 81, 7, 7]);
        let out = s.forward(Tensor::<4>::ones([1, 3, 12, 13], &device));
        assert_eq!(out.dims(), [1, 3 * 81, 3, 4]);
    }

    #[test]
    fn a_large_batch_goes_through_in_parts_with_the_same_result() {
        let device = Device::flex();
        let n = IMAGES_AT_ONCE + 6;
        let values: Vec<f32> = (0..n * 16 * 16)
            .map(|i| ((i * 7) % 23) as f32 / 23.0)
            .collect();
        let images = Tensor::<4>::from_data(TensorData::new(values, [n, 1, 16, 16]), &device);
        let s = Scattering::new(2, 4);
        let all = s.forward(images.clone());
        assert_eq!(all.dims()[0], n);
        for i in [0, IMAGES_AT_ONCE - 1, IMAGES_AT_ONCE, n - 1] {
            let one = s.forward(images.clone().narrow(0, i, 1));
            let gap = (all.clone().narrow(0, i, 1) - one)
                .abs()
                .max()
                .into_scalar::<f32>();
            assert!(gap < 1e-5, "image {i}: {gap}");
        }
    }

    #[test]
    fn a_constant_image_has_only_its_average() {
        // Wavelets sum to zero and reflection keeps a constant constant: every order above 0
        // vanishes, and order 0 is the constant (the low-pass filter sums to about one).
        let device = Device::flex();
        let out = Scattering::new(2, 4).forward(Tensor::<4>::full([1, 1, 16, 16], 2.0, &device));
        let values = out.into_data().try_to_vec::<f32>().unwrap();
        let per_channel = 4 * 4;
        for &v in &values[..per_channel] {
            assert!((v - 2.0).abs() < 0.03, "order 0: {v}");
        }
        for &v in &values[per_channel..] {
            assert!(v.abs() < 1e-4, "higher orders: {v}");
        }
    }

    #[test]
    fn coefficients_barely_move_when_the_image_shifts_by_a_pixel() {
        // The transform is stable to small translations: a vertical bar two pixels wide moved
        // by one pixel changes half its pixels (relative change 1) but a third of its
        // coefficients.
        let device = Device::flex();
        let bar = |column: usize| {
            let mut v = vec![0.0f32; 28 * 28];
            for row in 6..22 {
                v[row * 28 + column] = 1.0;
                v[row * 28 + column + 1] = 1.0;
            }
            Tensor::<4>::from_data(TensorData::new(v, [1, 1, 28, 28]), &device)
        };
        let s = Scattering::new(2, 8);
        let a = s.forward(bar(12));
        let b = s.forward(bar(13));
        let change = (a.clone() - b)
            .powi_scalar(2)
            .sum()
            .into_scalar::<f32>()
            .sqrt();
        let size = a.powi_scalar(2).sum().into_scalar::<f32>().sqrt();
        assert!(change < 0.4 * size, "change {change} of {size}");
    }
}
