//! The fixed filters of a wavelet scattering transform, computed on the host: Morlet wavelets
//! at `J` scales and `L` orientations and a Gaussian low-pass filter, with the parameters of
//! kymatio's `Scattering2D` (σ = 0.8·2^j, ξ = 3π/4 / 2^j, slant 4/L, low-pass σ = 0.8·2^(J−1)).
//! Kymatio builds them periodised in the Fourier domain; here they are truncated in space to
//! three standard deviations of their envelope, so that they are ordinary convolution kernels.

use std::f64::consts::PI;

/// A complex filter on a square grid of odd side `2 * radius + 1`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// Half the side: the filter covers offsets `-radius..=radius` in each direction.
    pub radius: usize,
    /// Real parts.
    pub re: Vec<f64>,
    /// Imaginary parts (zero for the low-pass filter).
    pub im: Vec<f64>,
}

impl Filter {
    /// Side of the square grid.
    pub fn side(&self) -> usize {
        2 * self.radius + 1
    }
}

/// Morlet wavelets `[scale][orientation]` and the low-pass filters of a scattering transform.
/// A map subsampled by `2^r` is filtered by the same filters `r` scales smaller: wavelet `j`
/// at resolution `r` is `wavelets[j - r]`, the low-pass is `low_pass[r]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterBank {
    /// `wavelets[j][t]`: scale `j` (σ = 0.8·2^j), orientation `t` (angle (L/2 − 1 − t)·π/L).
    pub wavelets: Vec<Vec<Filter>>,
    /// `low_pass[r]`: the Gaussian (σ = 0.8·2^(J−1−r)) that averages a map subsampled by `2^r`
    /// before it is subsampled to `2^J`.
    pub low_pass: Vec<Filter>,
}

impl FilterBank {
    /// The filters of `scales` (J) scales and `orientations` (L) orientations.
    pub fn new(scales: usize, orientations: usize) -> Self {
        let l = orientations as f64;
        let wavelets = (0..scales)
            .map(|j| {
                let scale = f64::from(1u32 << j);
                (0..orientations)
                    .map(|t| {
                        let theta = ((l - l / 2.0 - 1.0).floor() - t as f64) * PI / l;
                        morlet(0.8 * scale, theta, 0.75 * PI / scale, 4.0 / l)
                    })
                    .collect()
            })
            .collect();
        let low_pass = (0..scales.max(1))
            .map(|r| {
                let sigma =
                    0.8 * f64::from(1u32 << scales.saturating_sub(1)) / f64::from(1u32 << r);
                gabor(sigma, 0.0, 0.0, 1.0)
            })
            .collect();
        Self { wavelets, low_pass }
    }
}

/// Radius of a filter whose envelope has standard deviation `sigma / slant` along its longer
/// axis: three of those.
pub fn radius(sigma: f64, slant: f64) -> usize {
    (3.0 * sigma / slant.min(1.0)).ceil() as usize
}

/// A Gabor filter: a Gaussian envelope of standard deviation `sigma` (`sigma / slant` across
/// the orientation `theta`) times a complex wave of frequency `xi` along `theta`, normalised by
/// `2πσ² / slant` as kymatio's `gabor_2d`.
pub fn gabor(sigma: f64, theta: f64, xi: f64, slant: f64) -> Filter {
    let radius = radius(sigma, slant);
    let (sin, cos) = theta.sin_cos();
    // R · diag(1, slant²) · R⁻¹ / (2σ²)
    let s2 = slant * slant;
    let c00 = (cos * cos + s2 * sin * sin) / (2.0 * sigma * sigma);
    let c01 = (cos * sin - s2 * sin * cos) / (2.0 * sigma * sigma);
    let c11 = (sin * sin + s2 * cos * cos) / (2.0 * sigma * sigma);
    let norm = 2.0 * PI * sigma * sigma / slant;
    let r = radius as isize;
    let mut re = Vec::with_capacity((2 * radius + 1).pow(2));
    let mut im = Vec::with_capacity(re.capacity());
    for x in -r..=r {
        for y in -r..=r {
            let (x, y) = (x as f64, y as f64);
            let envelope = (-(c00 * x * x + 2.0 * c01 * x * y + c11 * y * y)).exp() / norm;
            let phase = (x * cos + y * sin) * xi;
            re.push(envelope * phase.cos());
            im.push(envelope * phase.sin());
        }
    }
    Filter { radius, re, im }
}

/// A Morlet wavelet: the Gabor filter less its envelope times the constant that makes its
/// values sum to zero (kymatio's `morlet_2d`).
pub fn morlet(sigma: f64, theta: f64, xi: f64, slant: f64) -> Filter {
    let wave = gabor(sigma, theta, xi, slant);
    let envelope = gabor(sigma, theta, 0.0, slant);
    let total: f64 = envelope.re.iter().sum();
    let (k_re, k_im) = (
        wave.re.iter().sum::<f64>() / total,
        wave.im.iter().sum::<f64>() / total,
    );
    let less_envelope = |part: &[f64], k: f64| -> Vec<f64> {
        part.iter()
            .zip(&envelope.re)
            .map(|(w, e)| w - k * e)
            .collect()
    };
    Filter {
        radius: wave.radius,
        re: less_envelope(&wave.re, k_re),
        im: less_envelope(&wave.im, k_im),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wavelets_have_zero_mean_and_the_low_pass_sums_to_one() {
        let bank = FilterBank::new(2, 8);
        assert_eq!(bank.wavelets.len(), 2);
        assert_eq!(bank.wavelets[0].len(), 8);
        for filter in bank.wavelets.iter().flatten() {
            assert!(filter.re.iter().sum::<f64>().abs() < 1e-12);
            assert!(filter.im.iter().sum::<f64>().abs() < 1e-12);
        }
        // The truncated Gaussians keep all but about 1% of their mass.
        for low_pass in &bank.low_pass {
            let sum: f64 = low_pass.re.iter().sum();
            assert!((sum - 1.0).abs() < 0.02, "low-pass sum {sum}");
            assert!(low_pass.im.iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn radii_follow_the_scales() {
        let bank = FilterBank::new(2, 8);
        // σ = 0.8 and 1.6, slant 0.5: envelopes 1.6 and 3.2 across, three of them.
        assert_eq!(bank.wavelets[0][0].radius, 5);
        assert_eq!(bank.wavelets[1][0].radius, 10);
        // The low-pass filters at full and half resolution: σ = 1.6 and 0.8.
        assert_eq!(bank.low_pass[0].radius, 5);
        assert_eq!(bank.low_pass[1].radius, 3);
        assert_eq!(bank.wavelets[1][3].side(), 21);
    }

    #[test]
    fn a_wavelet_responds_to_its_own_orientation() {
        // A wave along theta excites the wavelet of angle theta far more than the orthogonal one.
        let bank = FilterBank::new(1, 4);
        let response = |filter: &Filter, theta: f64| {
            let r = filter.radius as isize;
            let (sin, cos) = theta.sin_cos();
            let (mut re, mut im) = (0.0, 0.0);
            let mut k = 0;
            for x in -r..=r {
                for y in -r..=r {
                    let v = ((x as f64 * cos + y as f64 * sin) * 0.75 * PI).cos();
                    re += v * filter.re[k];
                    im += v * filter.im[k];
                    k += 1;
                }
            }
            (re * re + im * im).sqrt()
        };
        // Orientation t has angle (L/2 - 1 - t)·π/L: t = 1 is 0, t = 3 is -π/2.
        let along = response(&bank.wavelets[0][1], 0.0);
        let across = response(&bank.wavelets[0][3], 0.0);
        assert!(along > 10.0 * across, "along {along}, across {across}");
    }
}
