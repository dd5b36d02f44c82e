//! Accuracy under shifted inputs for image models: rotations, translations and pixel noise at a
//! few strengths, the card's answer to "how far does it generalise?".

use kiln_data::{Samples, SeededRng, shift_rotate};
use serde::{Deserialize, Serialize};

/// One distortion of the test images and the accuracy on it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShiftedAccuracy {
    /// `rotation`, `translation` or `noise`.
    pub distortion: String,
    /// How strong: degrees, pixels, or the noise's standard deviation in pixel units (0..1).
    pub strength: f32,
    /// Test accuracy on the distorted images.
    pub accuracy: f64,
}

/// The distortions measured: (kind, strengths). Rotations and translations alternate in sign
/// from image to image; noise is Gaussian and seeded.
pub const DISTORTIONS: [(&str, [f32; 3]); 3] = [
    ("rotation", [10.0, 20.0, 30.0]),
    ("translation", [1.0, 2.0, 3.0]),
    ("noise", [0.1, 0.2, 0.4]),
];

/// Accuracy of `classify` on `test` (standardised `[1, h, w]` images) under each distortion.
/// `pixel_std` is the standardisation's deviation, to express noise in raw pixel units.
pub fn shifted_accuracies<E>(
    test: &Samples,
    pixel_std: f32,
    seed: u64,
    mut classify: impl FnMut(&Samples) -> Result<Vec<u32>, E>,
) -> Result<Vec<ShiftedAccuracy>, E> {
    let [_, height, width] = test.sample_shape[..] else {
        return Ok(Vec::new());
    };
    let mut results = Vec::new();
    for (kind, strengths) in DISTORTIONS {
        for strength in strengths {
            let mut shifted = test.clone();
            let mut rng = SeededRng::new(seed ^ strength.to_bits() as u64);
            let size = test.sample_size();
            for (i, image) in shifted.features.chunks_exact_mut(size).enumerate() {
                let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                match kind {
                    "rotation" => shift_rotate(image, height, width, 0.0, 0.0, sign * strength),
                    "translation" => {
                        let (dx, dy) = if i % 4 < 2 {
                            (strength, 0.0)
                        } else {
                            (0.0, strength)
                        };
                        shift_rotate(image, height, width, sign * dx, sign * dy, 0.0)
                    }
                    _ => image
                        .iter_mut()
                        .for_each(|v| *v += gaussian(&mut rng) * strength / pixel_std),
                }
            }
            let predicted = classify(&shifted)?;
            let correct = predicted
                .iter()
                .zip(&test.labels)
                .filter(|(p, l)| p == l)
                .count();
            results.push(ShiftedAccuracy {
                distortion: kind.into(),
                strength,
                accuracy: correct as f64 / test.len().max(1) as f64,
            });
        }
    }
    Ok(results)
}

/// A standard normal draw (Box-Muller).
fn gaussian(rng: &mut SeededRng) -> f32 {
    let u1 = rng.unit_f32().max(f32::MIN_POSITIVE);
    let u2 = rng.unit_f32();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// Draws `robustness.png`: one panel per distortion, accuracy (0 to 1) against strength, the
/// clean test accuracy at strength 0.
pub fn write_picture(
    path: &std::path::Path,
    shifted: &[ShiftedAccuracy],
    clean: f64,
) -> kiln_train::Result<()> {
    let panels: Vec<crate::plot::PointPanel> = DISTORTIONS
        .iter()
        .map(|(kind, strengths)| {
            let mut points = vec![(0.0, clean)];
            points.extend(
                shifted
                    .iter()
                    .filter(|s| s.distortion == *kind)
                    .map(|s| (f64::from(s.strength), s.accuracy)),
            );
            crate::plot::PointPanel {
                points,
                x_range: (0.0, f64::from(strengths[2])),
                y_range: (0.0, 1.0),
                reference: None,
            }
        })
        .collect();
    crate::plot::write_panels(path, &panels)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Images whose class is the side of the bright pixel: translation by 3 moves it across.
    fn two_sided() -> Samples {
        let mut features = Vec::new();
        let mut labels = Vec::new();
        for i in 0..8 {
            let mut image = vec![0.0f32; 49];
            let class = i % 2;
            image[3 * 7 + if class == 0 { 2 } else { 4 }] = 1.0;
            features.extend(image);
            labels.push(class as u32);
        }
        Samples {
            features,
            sample_shape: vec![1, 7, 7],
            labels,
            num_classes: 2,
            ..Samples::default()
        }
    }

    fn brightest_side(samples: &Samples) -> Result<Vec<u32>, ()> {
        Ok(samples
            .features
            .chunks(49)
            .map(|img| {
                let left: f32 = (0..7)
                    .flat_map(|y| (0..3).map(move |x| y * 7 + x))
                    .map(|i| img[i])
                    .sum();
                let right: f32 = (0..7)
                    .flat_map(|y| (4..7).map(move |x| y * 7 + x))
                    .map(|i| img[i])
                    .sum();
                u32::from(right > left)
            })
            .collect())
    }

    #[test]
    fn every_distortion_is_measured_and_strong_shifts_hurt() {
        let test = two_sided();
        assert_eq!(brightest_side(&test).unwrap(), test.labels);
        let results = shifted_accuracies(&test, 1.0, 7, brightest_side).unwrap();
        assert_eq!(results.len(), 9);
        let at = |kind: &str, s: f32| {
            results
                .iter()
                .find(|r| r.distortion == kind && r.strength == s)
                .unwrap()
                .accuracy
        };
        assert!(at("translation", 3.0) < 1.0, "{results:?}");
        assert!(at("noise", 0.1) > 0.5, "{results:?}");
        assert_eq!(
            results,
            shifted_accuracies(&test, 1.0, 7, brightest_side).unwrap(),
            "seeded"
        );
    }

    #[test]
    fn tables_get_no_distortions() {
        let table = Samples {
            features: vec![0.0; 4],
            sample_shape: vec![2],
            labels: vec![0, 1],
            num_classes: 2,
            ..Samples::default()
        };
        assert!(
            shifted_accuracies(&table, 1.0, 0, brightest_side)
                .unwrap()
                .is_empty()
        );
    }
}
