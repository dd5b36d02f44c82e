//! Heat-map PNGs: the decoded file has the expected size and the most positive value is red.

use std::fs::File;
use std::io::BufReader;

use kiln_explain::{DEFAULT_SCALE, ExplainError, render_heat_map, write_heat_map};

/// Decodes an 8-bit RGB PNG: width, height and pixels.
fn decode(path: &std::path::Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(BufReader::new(File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    pixels.truncate(info.buffer_size());
    (info.width, info.height, pixels)
}

/// A 28x28 attribution map with a positive peak at (row 5, column 20) and a negative one.
fn map() -> Vec<f32> {
    let mut values: Vec<f32> = (0..784).map(|i| ((i % 29) as f32 - 14.0) / 100.0).collect();
    values[5 * 28 + 20] = 2.0;
    values[20 * 28 + 3] = -1.5;
    values
}

#[test]
fn written_png_has_the_size_and_the_most_positive_pixel_is_red() {
    let dir = tempfile::tempdir().unwrap();
    let values = map();
    let image: Vec<f32> = (0..784).map(|i| (i / 28) as f32).collect();
    let scale = DEFAULT_SCALE;

    let alone = dir.path().join("alone.png");
    write_heat_map(&alone, &values, 28, 28, None, scale).unwrap();
    let (width, height, pixels) = decode(&alone);
    assert_eq!((width, height), (224, 224));
    let at = |x: usize, y: usize| {
        let i = (y * width as usize + x) * 3;
        [pixels[i], pixels[i + 1], pixels[i + 2]]
    };
    // Every pixel of the peak's 8x8 square is pure red; the negative peak is pure blue.
    for dy in 0..scale {
        for dx in 0..scale {
            assert_eq!(at(20 * scale + dx, 5 * scale + dy), [255, 0, 0]);
        }
    }
    assert!(at(3 * scale, 20 * scale)[2] == 255 && at(3 * scale, 20 * scale)[0] < 100);
    // Pure red appears nowhere else.
    let reds = pixels.chunks(3).filter(|p| p == &[255, 0, 0]).count();
    assert_eq!(reds, scale * scale);

    let beside = dir.path().join("beside.png");
    write_heat_map(&beside, &values, 28, 28, Some(&image), scale).unwrap();
    let (width, height, pixels) = decode(&beside);
    assert_eq!((width, height), ((2 * 28 + 1) * 8, 224));
    let at = |x: usize, y: usize| {
        let i = (y * width as usize + x) * 3;
        [pixels[i], pixels[i + 1], pixels[i + 2]]
    };
    assert_eq!(at(0, 0), [0, 0, 0], "the image's darkest row is black");
    assert_eq!(at(0, 223), [255, 255, 255], "its brightest row is white");
    assert_eq!(at((29 + 20) * scale, 5 * scale), [255, 0, 0]);
}

#[test]
fn errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.png");
    let values = map();
    assert!(matches!(
        write_heat_map(&path, &values, 28, 27, None, 8).unwrap_err(),
        ExplainError::LengthMismatch {
            expected: 756,
            actual: 784,
            ..
        }
    ));
    assert!(matches!(
        write_heat_map(&path, &values, 28, 28, Some(&[0.0; 10]), 8).unwrap_err(),
        ExplainError::LengthMismatch {
            what: "image (height x width)",
            ..
        }
    ));
    assert!(matches!(
        write_heat_map(&path, &values, 28, 28, None, 0).unwrap_err(),
        ExplainError::Zero("scale")
    ));
    assert!(matches!(
        write_heat_map(&path, &[], 0, 28, None, 8).unwrap_err(),
        ExplainError::Zero("height")
    ));
    assert!(matches!(
        render_heat_map(&[1.0], 1, 1, None, 1 << 31).unwrap_err(),
        ExplainError::ImageTooLarge { .. }
    ));
    let missing = dir.path().join("no such folder").join("map.png");
    let error = write_heat_map(&missing, &values, 28, 28, None, 8).unwrap_err();
    assert!(matches!(error, ExplainError::Io { .. }), "{error:?}");
    assert!(!path.exists(), "nothing is written for a bad size");
}
