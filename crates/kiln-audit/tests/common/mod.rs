//! The embedded UCI Adult data, read as the tests need it.

use std::collections::HashMap;
use std::io::Read;

/// One row of `adult.csv.gz`, the columns the tests use.
#[allow(dead_code)]
pub struct Row {
    pub age: u32,
    pub education_num: u32,
    pub hours_per_week: u32,
    pub capital_gain: u32,
    pub sex: String,
    pub race: String,
    pub income_gt_50k: u8,
    pub split: String,
}

/// Every row of the embedded Adult CSV, in file order.
pub fn adult() -> Vec<Row> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../kiln-data/data/adult-census-income/adult.csv.gz"
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("open adult.csv.gz"))
        .read_to_string(&mut text)
        .expect("gunzip adult.csv.gz");
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let header: HashMap<String, usize> = rdr
        .headers()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, h)| (h.to_string(), i))
        .collect();
    let rows: Vec<Row> = rdr
        .records()
        .map(|r| {
            let r = r.unwrap();
            let get = |c: &str| r[header[c]].to_string();
            let int = |c: &str| get(c).parse::<u32>().unwrap();
            Row {
                age: int("age"),
                education_num: int("education_num"),
                hours_per_week: int("hours_per_week"),
                capital_gain: int("capital_gain"),
                sex: get("sex"),
                race: get("race"),
                income_gt_50k: int("income_gt_50k") as u8,
                split: get("split"),
            }
        })
        .collect();
    assert_eq!(rows.len(), 48_842);
    rows
}

/// The rows of one split.
#[allow(dead_code)]
pub fn split(rows: &[Row], split: &str) -> Vec<usize> {
    (0..rows.len())
        .filter(|&i| rows[i].split == split)
        .collect()
}
