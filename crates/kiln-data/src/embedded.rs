//! The datasets compiled into Kiln so that everything runs offline. Sources and licenses are in
//! `crates/kiln-data/data/*/README.md`.

use std::io::Read;
use std::path::Path;

use crate::idx::images_from_idx;
use crate::table::parse_csv;
use crate::{DataError, Samples};

const BREAST_CANCER_CSV: &[u8] = include_bytes!("../data/breast-cancer/breast_cancer.csv");
const IRIS_CSV: &[u8] = include_bytes!("../data/iris/iris.csv");
const MNIST_TRAIN_IMAGES: &[u8] = include_bytes!("../data/mnist-10k/train-images-idx3-ubyte.gz");
const MNIST_TRAIN_LABELS: &[u8] = include_bytes!("../data/mnist-10k/train-labels-idx1-ubyte.gz");
const MNIST_TEST_IMAGES: &[u8] = include_bytes!("../data/mnist-10k/t10k-images-idx3-ubyte.gz");
const MNIST_TEST_LABELS: &[u8] = include_bytes!("../data/mnist-10k/t10k-labels-idx1-ubyte.gz");
const SHAKESPEARE_GZ: &[u8] = include_bytes!("../data/shakespeare/tragedies.txt.gz");

/// The names of the embedded datasets, as used in configs (`data.dataset`).
pub const EMBEDDED: [&str; 4] = ["breast-cancer", "iris", "mnist-10k", "shakespeare"];

/// Wisconsin diagnostic breast cancer: 569 rows, 30 features, target 0 = malignant, 1 = benign.
pub fn breast_cancer() -> Samples {
    parse_csv(
        BREAST_CANCER_CSV,
        Path::new("embedded:breast-cancer"),
        "target",
    )
    .expect("embedded breast-cancer CSV is valid")
}

/// Fisher's iris: 150 rows, 4 features, 3 classes.
pub fn iris() -> Samples {
    parse_csv(IRIS_CSV, Path::new("embedded:iris"), "target").expect("embedded iris CSV is valid")
}

/// The embedded 10,000 MNIST digits as (8,000 train, 2,000 test), pixels in `0..1`.
pub fn mnist_10k() -> (Samples, Samples) {
    let gunzip = |bytes: &[u8]| {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("embedded gzip is valid");
        out
    };
    let load = |images: &[u8], labels: &[u8], name: &str| {
        images_from_idx(
            &gunzip(images),
            Path::new(&format!("embedded:mnist-10k/{name}-images")),
            &gunzip(labels),
            Path::new(&format!("embedded:mnist-10k/{name}-labels")),
        )
        .expect("embedded MNIST is valid")
    };
    (
        load(MNIST_TRAIN_IMAGES, MNIST_TRAIN_LABELS, "train"),
        load(MNIST_TEST_IMAGES, MNIST_TEST_LABELS, "t10k"),
    )
}

/// The text of six Shakespeare tragedies (plain text, about 1 MB).
pub fn shakespeare() -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(SHAKESPEARE_GZ)
        .read_to_string(&mut text)
        .expect("embedded Shakespeare is valid UTF-8 gzip");
    text
}

/// An embedded tabular dataset by name, or an error listing the names there are.
pub fn embedded_table(name: &str) -> Result<Samples, DataError> {
    match name {
        "breast-cancer" => Ok(breast_cancer()),
        "iris" => Ok(iris()),
        _ => Err(DataError::Missing {
            path: format!("embedded:{name}").into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_sets_have_their_documented_sizes() {
        let bc = breast_cancer();
        assert_eq!((bc.len(), bc.sample_size(), bc.num_classes), (569, 30, 2));
        assert_eq!(bc.class_counts(), vec![212, 357]);
        let iris = iris();
        assert_eq!(
            (iris.len(), iris.sample_size(), iris.num_classes),
            (150, 4, 3)
        );
        let (train, test) = mnist_10k();
        assert_eq!((train.len(), test.len()), (8000, 2000));
        assert_eq!(train.sample_shape, vec![1, 28, 28]);
        assert_eq!(test.class_counts()[0], 200);
        assert!(shakespeare().len() > 500_000);
    }
}
