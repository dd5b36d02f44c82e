//! Digit pictures for prediction: PNG or JPEG, turned into a grayscale image of the size the
//! model was trained on, with MNIST's polarity (light digit on a dark background).

use std::path::Path;

use crate::DataError;
use crate::error::read_file;

/// Loads a PNG or JPEG file as `height x width` grayscale values in `0..1`, resized with a
/// triangle filter. A picture that is mostly light (a dark digit on paper) is inverted so that
/// it looks like MNIST.
pub fn load_digit_image(path: &Path, height: usize, width: usize) -> Result<Vec<f32>, DataError> {
    let bytes = read_file(path)?;
    let picture = image::load_from_memory(&bytes).map_err(|e| DataError::Malformed {
        path: path.into(),
        problem: format!("not a readable PNG or JPEG image: {e}"),
    })?;
    let gray = image::imageops::resize(
        &picture.to_luma8(),
        width as u32,
        height as u32,
        image::imageops::FilterType::Triangle,
    );
    let mut values: Vec<f32> = gray.pixels().map(|p| p.0[0] as f32 / 255.0).collect();
    let mean = values.iter().sum::<f32>() / values.len().max(1) as f32;
    if mean > 0.5 {
        values.iter_mut().for_each(|v| *v = 1.0 - *v);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resizes_and_inverts_dark_on_light_pictures() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("digit.png");
        let mut picture = image::GrayImage::from_pixel(56, 56, image::Luma([255]));
        for y in 10..46 {
            for x in 22..34 {
                picture.put_pixel(x, y, image::Luma([0]));
            }
        }
        picture.save(&path).unwrap();
        let values = load_digit_image(&path, 28, 28).unwrap();
        assert_eq!(values.len(), 784);
        assert!(values[0] < 0.01, "background becomes dark");
        assert!(values[14 * 28 + 14] > 0.9, "the stroke becomes light");
    }

    #[test]
    fn a_file_that_is_not_an_image_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.png");
        std::fs::write(&path, b"not an image").unwrap();
        let err = load_digit_image(&path, 28, 28).unwrap_err();
        assert!(
            err.to_string()
                .contains("x.png: not a readable PNG or JPEG image"),
            "{err}"
        );
    }
}
