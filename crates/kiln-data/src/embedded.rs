//! The datasets compiled into Kiln so that everything runs offline. Sources and licenses are in
//! `crates/kiln-data/data/*/README.md`.

use std::io::Read;
use std::path::Path;

use crate::idx::images_from_idx;
use crate::table::parse_csv;
use crate::{DataError, Samples, Table, TableOptions, parse_table};

const BREAST_CANCER_CSV: &[u8] = include_bytes!("../data/breast-cancer/breast_cancer.csv");
const IRIS_CSV: &[u8] = include_bytes!("../data/iris/iris.csv");
const ADULT_CSV_GZ: &[u8] = include_bytes!("../data/adult-census-income/adult.csv.gz");
const MNIST_TRAIN_IMAGES: &[u8] = include_bytes!("../data/mnist-10k/train-images-idx3-ubyte.gz");
const MNIST_TRAIN_LABELS: &[u8] = include_bytes!("../data/mnist-10k/train-labels-idx1-ubyte.gz");
const MNIST_TEST_IMAGES: &[u8] = include_bytes!("../data/mnist-10k/t10k-images-idx3-ubyte.gz");
const MNIST_TEST_LABELS: &[u8] = include_bytes!("../data/mnist-10k/t10k-labels-idx1-ubyte.gz");
const SHAKESPEARE_GZ: &[u8] = include_bytes!("../data/shakespeare/tragedies.txt.gz");

/// The names of the embedded datasets, as used in configs (`data.dataset`).
pub const EMBEDDED: [&str; 5] = [
    "adult-census-income",
    "breast-cancer",
    "iris",
    "mnist-10k",
    "shakespeare",
];

/// The embedded datasets that are CSV tables, for [`embedded_csv`].
pub const EMBEDDED_TABLES: [&str; 3] = ["adult-census-income", "breast-cancer", "iris"];

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

/// UCI Adult ("Census Income", 1994) as raw CSV bytes: 48,842 rows (UCI train 32,561 + test
/// 16,281, column `split`), 14 feature columns (8 categorical, missing cells empty), sensitive
/// `sex` and `race`, target `income_gt_50k`. Read it with [`parse_table`], e.g. [`adult`].
pub fn adult_census_income_csv() -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(ADULT_CSV_GZ)
        .read_to_end(&mut out)
        .expect("embedded adult gzip is valid");
    out
}

/// UCI Adult read with `options` (see [`adult_census_income_csv`]).
pub fn adult(options: &TableOptions) -> Result<Table, DataError> {
    parse_table(
        &adult_census_income_csv(),
        Path::new("embedded:adult-census-income"),
        options,
    )
}

/// The raw CSV bytes of an embedded table (one of [`EMBEDDED_TABLES`]), for
/// [`parse_table`]; `None` for any other name.
pub fn embedded_csv(name: &str) -> Option<Vec<u8>> {
    match name {
        "adult-census-income" => Some(adult_census_income_csv()),
        "breast-cancer" => Some(BREAST_CANCER_CSV.to_vec()),
        "iris" => Some(IRIS_CSV.to_vec()),
        _ => None,
    }
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

/// The README of an embedded dataset (source, license, columns), or `None` for any other name.
pub fn readme(name: &str) -> Option<&'static str> {
    Some(match name {
        "adult-census-income" => include_str!("../data/adult-census-income/README.md"),
        "breast-cancer" => include_str!("../data/breast-cancer/README.md"),
        "iris" => include_str!("../data/iris/README.md"),
        "mnist-10k" => include_str!("../data/mnist-10k/README.md"),
        "shakespeare" => include_str!("../data/shakespeare/README.md"),
        _ => return None,
    })
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

    #[test]
    fn embedded_tables_read_through_the_table_loader_as_before() {
        let bytes = embedded_csv("breast-cancer").unwrap();
        let table = parse_table(&bytes, Path::new("bc"), &TableOptions::new("target")).unwrap();
        assert!(table.encoding.is_identity());
        assert_eq!(table.samples.features, breast_cancer().features);
        assert_eq!(table.samples.feature_names, breast_cancer().feature_names);
        assert!(embedded_csv("iris").is_some() && embedded_csv("mnist-10k").is_none());
        for name in EMBEDDED {
            assert!(readme(name).is_some_and(|r| r.starts_with("# ")), "{name}");
        }
        assert!(readme("nope").is_none());
    }

    fn adult_options() -> TableOptions {
        TableOptions {
            sensitive: vec!["sex".into(), "race".into()],
            drop: vec!["fnlwgt".into()],
            split_column: Some("split".into()),
            ..TableOptions::new("income_gt_50k")
        }
    }

    #[test]
    fn adult_has_the_counts_of_its_readme() {
        let table = adult(&adult_options()).unwrap();
        let all = &table.samples;
        assert_eq!(all.len(), 48_842);
        assert_eq!(all.class_counts(), vec![48_842 - 11_687, 11_687]);
        let (train, test) = table.split_by_column().unwrap();
        assert_eq!((train.len(), test.len()), (32_561, 16_281));
        assert_eq!(train.class_counts()[1], 7_841);
        assert_eq!(test.class_counts()[1], 3_846);

        let count = |s: &Samples, attr: &str, value: &str| {
            s.attribute(attr)
                .unwrap()
                .iter()
                .zip(&s.labels)
                .filter(|(v, _)| **v == value)
                .fold((0, 0), |(n, pos), (_, &l)| (n + 1, pos + l as usize))
        };
        assert_eq!(count(all, "sex", "Female"), (16_192, 1_769));
        assert_eq!(count(all, "sex", "Male"), (32_650, 9_918));
        assert_eq!(count(all, "race", "Amer-Indian-Eskimo"), (470, 55));
        assert_eq!(count(&test, "sex", "Female").0, 5_421);

        let levels = |name: &str| {
            table
                .encoding
                .columns
                .iter()
                .find(|c| c.name() == name)
                .map(|c| c.width())
        };
        // 8 levels plus '?' for the 2,799 rows without a workclass.
        assert_eq!(levels("workclass"), Some(9));
        assert_eq!(levels("education"), Some(16));
        assert_eq!(levels("native_country"), Some(42));
        assert_eq!(
            (levels("sex"), levels("fnlwgt"), levels("age")),
            (None, None, Some(1))
        );
        let unknown_workclass = all
            .feature_names
            .iter()
            .position(|f| f == "workclass=?")
            .unwrap();
        let missing = (0..all.len())
            .filter(|&i| all.sample(i)[unknown_workclass] == 1.0)
            .count();
        assert_eq!(missing, 2_799);
        assert_eq!(all.sample_size(), 5 + 9 + 16 + 7 + 15 + 6 + 42);
    }
}
