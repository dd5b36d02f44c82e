//! Attribution heat maps as PNG files: a diverging colour map (blue negative, white zero, red
//! positive, symmetric around zero), optionally beside the greyscale image, upscaled.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use crate::ExplainError;

/// Upscaling that makes a 28x28 map readable: 224x224 pixels.
pub const DEFAULT_SCALE: usize = 8;

/// An 8-bit RGB image, rows top to bottom, three bytes per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes, row-major, red-green-blue.
    pub pixels: Vec<u8>,
}

impl RgbImage {
    /// The colour of the pixel at column `x`, row `y`.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let at = (y as usize * self.width as usize + x as usize) * 3;
        [self.pixels[at], self.pixels[at + 1], self.pixels[at + 2]]
    }
}

/// The diverging colour of `value` on a scale where `max_abs` is full colour: white at 0,
/// pure red `[255, 0, 0]` at `+max_abs`, pure blue `[0, 0, 255]` at `-max_abs`, linear in
/// between and clamped beyond. `NaN`, and any value when `max_abs` is not positive, is white.
pub fn diverging_colour(value: f32, max_abs: f32) -> [u8; 3] {
    if value.is_nan() || max_abs.is_nan() || max_abs <= 0.0 {
        return [255; 3];
    }
    let t = (value / max_abs).clamp(-1.0, 1.0);
    let fade = (255.0 * (1.0 - t.abs())).round() as u8;
    if t >= 0.0 {
        [255, fade, fade]
    } else {
        [fade, fade, 255]
    }
}

/// Renders the `height x width` `attributions` (row-major) as a heat map, each value a
/// `scale x scale` square, coloured by [`diverging_colour`] with the largest finite
/// `|attribution|` as full colour. With `image` (the same shape; for example the input in any
/// value range, rescaled min to max as black to white), the greyscale image comes first, then
/// a white gap one value wide, then the map: `(2 * width + 1) * scale` pixels wide.
pub fn render_heat_map(
    attributions: &[f32],
    height: usize,
    width: usize,
    image: Option<&[f32]>,
    scale: usize,
) -> Result<RgbImage, ExplainError> {
    if height == 0 {
        return Err(ExplainError::Zero("height"));
    }
    if width == 0 {
        return Err(ExplainError::Zero("width"));
    }
    if scale == 0 {
        return Err(ExplainError::Zero("scale"));
    }
    let cells = height
        .checked_mul(width)
        .ok_or(ExplainError::ImageTooLarge {
            width: width as u64,
            height: height as u64,
        })?;
    if attributions.len() != cells {
        return Err(ExplainError::LengthMismatch {
            what: "attributions (height x width)",
            expected: cells,
            actual: attributions.len(),
        });
    }
    if let Some(image) = image
        && image.len() != cells
    {
        return Err(ExplainError::LengthMismatch {
            what: "image (height x width)",
            expected: cells,
            actual: image.len(),
        });
    }
    let columns = if image.is_some() {
        2 * width + 1
    } else {
        width
    } as u64;
    let (out_width, out_height) = (columns * scale as u64, height as u64 * scale as u64);
    // PNG allows 2^31 - 1 per side; keep the whole buffer addressable too.
    let limit = i32::MAX as u64;
    if out_width > limit
        || out_height > limit
        || out_width.saturating_mul(out_height).saturating_mul(3) > isize::MAX as u64
    {
        return Err(ExplainError::ImageTooLarge {
            width: out_width,
            height: out_height,
        });
    }

    let max_abs = attributions
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f32, |m, v| m.max(v.abs()));
    let heat: Vec<[u8; 3]> = attributions
        .iter()
        .map(|&v| diverging_colour(v, max_abs))
        .collect();
    let grey = image.map(greyscale);

    // One row of cells at a time: build the row's colours, then repeat it `scale` times.
    let mut pixels = Vec::with_capacity((out_width * out_height * 3) as usize);
    let mut line = Vec::with_capacity((out_width * 3) as usize);
    for row in 0..height {
        line.clear();
        let mut push = |colour: [u8; 3]| {
            for _ in 0..scale {
                line.extend_from_slice(&colour);
            }
        };
        if let Some(grey) = &grey {
            for &g in &grey[row * width..(row + 1) * width] {
                push([g; 3]);
            }
            push([255; 3]);
        }
        for &colour in &heat[row * width..(row + 1) * width] {
            push(colour);
        }
        for _ in 0..scale {
            pixels.extend_from_slice(&line);
        }
    }
    Ok(RgbImage {
        width: out_width as u32,
        height: out_height as u32,
        pixels,
    })
}

/// `image` rescaled from its finite minimum to maximum as 0 to 255 (a constant image is mid
/// grey, non-finite values black).
fn greyscale(image: &[f32]) -> Vec<u8> {
    let finite = image.iter().copied().filter(|v| v.is_finite());
    let low = finite.clone().fold(f32::INFINITY, f32::min);
    let high = finite.fold(f32::NEG_INFINITY, f32::max);
    image
        .iter()
        .map(|&v| {
            if !v.is_finite() {
                0
            } else if high > low {
                (255.0 * (v - low) / (high - low)).round() as u8
            } else {
                128
            }
        })
        .collect()
}

/// Writes [`render_heat_map`]'s picture of `attributions` to `path` as an 8-bit RGB PNG.
pub fn write_heat_map(
    path: impl AsRef<Path>,
    attributions: &[f32],
    height: usize,
    width: usize,
    image: Option<&[f32]>,
    scale: usize,
) -> Result<(), ExplainError> {
    let picture = render_heat_map(attributions, height, width, image, scale)?;
    write_png(path.as_ref(), &picture)
}

/// Writes `picture` to `path` as an 8-bit RGB PNG.
pub fn write_png(path: &Path, picture: &RgbImage) -> Result<(), ExplainError> {
    let name = || path.display().to_string();
    let file = File::create(path).map_err(|source| ExplainError::Io {
        path: name(),
        source,
    })?;
    let png_error = |source| ExplainError::Png {
        path: name(),
        source,
    };
    let mut encoder = png::Encoder::new(BufWriter::new(file), picture.width, picture.height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(png_error)?;
    writer
        .write_image_data(&picture.pixels)
        .map_err(png_error)?;
    writer.finish().map_err(png_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_map_is_diverging_and_symmetric() {
        assert_eq!(diverging_colour(1.0, 1.0), [255, 0, 0]);
        assert_eq!(diverging_colour(-2.0, 2.0), [0, 0, 255]);
        assert_eq!(diverging_colour(0.0, 1.0), [255, 255, 255]);
        assert_eq!(diverging_colour(0.5, 0.0), [255, 255, 255]);
        assert_eq!(diverging_colour(f32::NAN, 1.0), [255, 255, 255]);
        let [r, g, _] = diverging_colour(0.5, 1.0);
        let [_, g2, b2] = diverging_colour(-0.5, 1.0);
        assert_eq!((r, g), (255, 128));
        assert_eq!((g2, b2), (128, 255));
        assert_eq!(diverging_colour(9.0, 1.0), [255, 0, 0]);
    }

    #[test]
    fn layout_with_and_without_the_image() {
        let map = render_heat_map(&[1.0, -1.0], 1, 2, None, 3).unwrap();
        assert_eq!((map.width, map.height), (6, 3));
        assert_eq!(map.pixel(0, 0), [255, 0, 0]);
        assert_eq!(map.pixel(5, 2), [0, 0, 255]);
        let both = render_heat_map(&[1.0, -1.0], 1, 2, Some(&[0.0, 4.0]), 2).unwrap();
        assert_eq!((both.width, both.height), (10, 2));
        assert_eq!(both.pixel(0, 0), [0; 3]);
        assert_eq!(both.pixel(3, 1), [255; 3]);
        assert_eq!(both.pixel(4, 0), [255; 3], "the gap");
        assert_eq!(both.pixel(6, 0), [255, 0, 0]);
        assert_eq!(both.pixel(9, 1), [0, 0, 255]);
        let flat = render_heat_map(&[0.0], 1, 1, Some(&[3.0]), 1).unwrap();
        assert_eq!(flat.pixel(0, 0), [128; 3]);
    }
}
