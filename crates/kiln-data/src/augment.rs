//! Seeded image augmentation for training: random shifts and small rotations, applied to each
//! sample's pixels on the CPU while a batch is gathered.

use crate::SeededRng;

/// Random shifts (in pixels) and rotations (in degrees) of single-channel images; the default
/// changes nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Augment {
    /// Largest shift along each axis, in pixels (0 = none).
    pub max_shift: f32,
    /// Largest rotation either way, in degrees (0 = none).
    pub max_rotation: f32,
}

impl Augment {
    /// True when the augmentation changes nothing.
    pub fn is_identity(&self) -> bool {
        self.max_shift == 0.0 && self.max_rotation == 0.0
    }

    /// Transforms every channel of one `[channels, height, width]` image in place with a shift and
    /// rotation drawn from `rng` (bilinear sampling; outside the image, the value of the top-left
    /// pixel, i.e. the background, also after standardisation).
    pub fn apply(&self, image: &mut [f32], height: usize, width: usize, rng: &mut SeededRng) {
        let mut draw = |limit: f32| (rng.unit_f32() * 2.0 - 1.0) * limit;
        let (dx, dy) = (draw(self.max_shift), draw(self.max_shift));
        let angle = draw(self.max_rotation);
        shift_rotate(image, height, width, dx, dy, angle);
    }
}

/// Shifts every channel of one `[channels, height, width]` image by `(dx, dy)` pixels and
/// rotates it by `degrees` around its centre, in place (bilinear sampling; outside the image,
/// the value of the top-left pixel, i.e. the background, also after standardisation).
pub fn shift_rotate(
    image: &mut [f32],
    height: usize,
    width: usize,
    dx: f32,
    dy: f32,
    degrees: f32,
) {
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = ((width as f32 - 1.0) / 2.0, (height as f32 - 1.0) / 2.0);
    for channel in image.chunks_exact_mut(height * width) {
        let source = channel.to_vec();
        let background = source[0];
        let sample = |x: f32, y: f32| -> f32 {
            if x < 0.0 || y < 0.0 || x > (width - 1) as f32 || y > (height - 1) as f32 {
                return background;
            }
            let (x0, y0) = (x.floor() as usize, y.floor() as usize);
            let (x1, y1) = ((x0 + 1).min(width - 1), (y0 + 1).min(height - 1));
            let (fx, fy) = (x - x0 as f32, y - y0 as f32);
            let at = |xx: usize, yy: usize| source[yy * width + xx];
            (at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx) * (1.0 - fy)
                + (at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx) * fy
        };
        for y in 0..height {
            for x in 0..width {
                // Inverse map: undo the shift, then rotate back around the centre.
                let (u, v) = (x as f32 - dx - cx, y as f32 - dy - cy);
                let (sx, sy) = (cos * u + sin * v + cx, -sin * u + cos * v + cy);
                channel[y * width + x] = sample(sx, sy);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot_image() -> Vec<f32> {
        let mut image = vec![0.0; 49];
        image[3 * 7 + 3] = 1.0;
        image
    }

    #[test]
    fn identity_changes_nothing_and_shift_moves_mass() {
        let mut image = dot_image();
        let none = Augment {
            max_shift: 0.0,
            max_rotation: 0.0,
        };
        none.apply(&mut image, 7, 7, &mut SeededRng::new(1));
        assert_eq!(image, dot_image());
        let shift = Augment {
            max_shift: 2.0,
            max_rotation: 0.0,
        };
        let mut moved = dot_image();
        shift.apply(&mut moved, 7, 7, &mut SeededRng::new(1));
        assert_ne!(moved, dot_image());
        assert!(
            (moved.iter().sum::<f32>() - 1.0).abs() < 1e-4,
            "bilinear shift keeps the mass inside"
        );
    }

    #[test]
    fn same_seed_same_result() {
        let aug = Augment {
            max_shift: 2.0,
            max_rotation: 15.0,
        };
        let (mut a, mut b) = (dot_image(), dot_image());
        aug.apply(&mut a, 7, 7, &mut SeededRng::new(9));
        aug.apply(&mut b, 7, 7, &mut SeededRng::new(9));
        assert_eq!(a, b);
    }
}
