//! The IDX format of MNIST (`00 00 08 03` images, `00 00 08 01` labels), gzipped or not.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::read_file;
use crate::{DataError, Samples};

/// Magic number of an IDX file of unsigned bytes with three dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with one dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// The standard MNIST file names, without the optional `.gz`.
pub const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Decompresses `bytes` when they start with the gzip magic, otherwise returns them as they are.
pub fn maybe_gunzip(bytes: Vec<u8>, origin: &Path) -> Result<Vec<u8>, DataError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() * 4);
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_end(&mut out)
        .map_err(|source| DataError::Io {
            path: origin.into(),
            source,
        })?;
    Ok(out)
}

/// Parses an IDX file of unsigned bytes: checks the magic and the payload length, returns the
/// dimensions and the payload.
pub fn parse_idx(
    bytes: &[u8],
    origin: &Path,
    magic: u32,
) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let ndims = (magic & 0xff) as usize;
    let header_len = 4 + 4 * ndims;
    if bytes.len() < 4 {
        return Err(DataError::Truncated {
            path: origin.into(),
            expected: header_len,
            actual: bytes.len(),
        });
    }
    let found = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if found != magic {
        return Err(DataError::BadMagic {
            path: origin.into(),
            expected: magic,
            found,
        });
    }
    if bytes.len() < header_len {
        return Err(DataError::Truncated {
            path: origin.into(),
            expected: header_len,
            actual: bytes.len(),
        });
    }
    let dims: Vec<usize> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims.iter().product::<usize>();
    let payload = &bytes[header_len..];
    if payload.len() < expected {
        return Err(DataError::Truncated {
            path: origin.into(),
            expected,
            actual: payload.len(),
        });
    }
    if payload.len() > expected {
        return Err(DataError::Malformed {
            path: origin.into(),
            problem: format!(
                "{} bytes after the {expected} the header announces",
                payload.len() - expected
            ),
        });
    }
    if expected == 0 {
        return Err(DataError::Empty {
            path: origin.into(),
        });
    }
    Ok((dims, payload.to_vec()))
}

/// Builds image samples (`[1, rows, cols]`, pixels scaled to `0..1`) from IDX image and label
/// bytes; the paths name the sources in errors.
pub fn images_from_idx(
    images: &[u8],
    images_path: &Path,
    labels: &[u8],
    labels_path: &Path,
) -> Result<Samples, DataError> {
    let (image_dims, pixels) = parse_idx(images, images_path, IMAGES_MAGIC)?;
    let (label_dims, label_bytes) = parse_idx(labels, labels_path, LABELS_MAGIC)?;
    if image_dims[0] != label_dims[0] {
        return Err(DataError::CountMismatch {
            images: images_path.into(),
            image_count: image_dims[0],
            labels: labels_path.into(),
            label_count: label_dims[0],
        });
    }
    let labels: Vec<u32> = label_bytes.iter().map(|&l| l as u32).collect();
    let num_classes = labels.iter().max().map_or(0, |&m| m as usize + 1).max(10);
    Ok(Samples {
        features: pixels.iter().map(|&p| p as f32 / 255.0).collect(),
        sample_shape: vec![1, image_dims[1], image_dims[2]],
        labels,
        num_classes,
        feature_names: Vec::new(),
        groups: Default::default(),
    })
}

/// Loads an MNIST-style directory holding the four standard files (each `.gz` or plain) and
/// returns the (train, test) samples.
pub fn load_mnist_dir(dir: &Path) -> Result<(Samples, Samples), DataError> {
    if !dir.is_dir() {
        return Err(DataError::Missing { path: dir.into() });
    }
    let read = |name: &str| -> Result<(Vec<u8>, PathBuf), DataError> {
        let gz = dir.join(format!("{name}.gz"));
        let path = if gz.exists() { gz } else { dir.join(name) };
        let bytes = read_file(&path)?;
        Ok((maybe_gunzip(bytes, &path)?, path))
    };
    let [train_images, train_labels, test_images, test_labels] = MNIST_FILES.map(read);
    let (ti, tip) = train_images?;
    let (tl, tlp) = train_labels?;
    let (vi, vip) = test_images?;
    let (vl, vlp) = test_labels?;
    Ok((
        images_from_idx(&ti, &tip, &tl, &tlp)?,
        images_from_idx(&vi, &vip, &vl, &vlp)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut out = magic.to_be_bytes().to_vec();
        dims.iter().for_each(|d| out.extend(d.to_be_bytes()));
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn parses_images_and_labels() {
        let images = idx(IMAGES_MAGIC, &[2, 2, 2], &[0, 255, 0, 0, 51, 0, 0, 0]);
        let labels = idx(LABELS_MAGIC, &[2], &[3, 7]);
        let s = images_from_idx(&images, Path::new("i"), &labels, Path::new("l")).unwrap();
        assert_eq!(s.sample_shape, vec![1, 2, 2]);
        assert_eq!(s.labels, vec![3, 7]);
        assert_eq!(s.features[1], 1.0);
        assert!((s.features[4] - 0.2).abs() < 1e-6);
    }

    #[test]
    fn wrong_magic_truncation_and_count_mismatch_are_named() {
        let labels = idx(LABELS_MAGIC, &[2], &[3, 7]);
        let err = images_from_idx(&labels, Path::new("img"), &labels, Path::new("l")).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::BadMagic {
                    found: LABELS_MAGIC,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("img: wrong IDX magic number 0x00000801")
        );

        let short = idx(IMAGES_MAGIC, &[2, 2, 2], &[0; 5]);
        let err = images_from_idx(&short, Path::new("img"), &labels, Path::new("l")).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected: 8,
                    actual: 5,
                    ..
                }
            ),
            "{err}"
        );

        let three = idx(IMAGES_MAGIC, &[3, 1, 1], &[0; 3]);
        let err = images_from_idx(&three, Path::new("img"), &labels, Path::new("lab")).unwrap_err();
        assert_eq!(err.to_string(), "img holds 3 images but lab holds 2 labels");
    }

    #[test]
    fn gzip_is_detected_by_its_magic() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"hello").unwrap();
        let packed = gz.finish().unwrap();
        assert_eq!(maybe_gunzip(packed, Path::new("x")).unwrap(), b"hello");
        assert_eq!(
            maybe_gunzip(b"plain".to_vec(), Path::new("x")).unwrap(),
            b"plain"
        );
    }
}
