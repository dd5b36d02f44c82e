//! Serialising an `f64` that may be ±infinity (JSON has no infinity): as `"inf"` / `"-inf"`.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

/// Writes finite values as numbers, infinities as `"inf"` / `"-inf"`, NaN as `"nan"`.
pub(crate) fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    if x.is_finite() {
        s.serialize_f64(*x)
    } else if x.is_nan() {
        s.serialize_str("nan")
    } else if *x > 0.0 {
        s.serialize_str("inf")
    } else {
        s.serialize_str("-inf")
    }
}

/// Reads what [`serialize`] writes.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Number(f64),
        Text(String),
    }
    match Repr::deserialize(d)? {
        Repr::Number(x) => Ok(x),
        Repr::Text(t) => match t.as_str() {
            "inf" => Ok(f64::INFINITY),
            "-inf" => Ok(f64::NEG_INFINITY),
            "nan" => Ok(f64::NAN),
            other => Err(D::Error::custom(format!(
                "expected a number, \"inf\" or \"-inf\", got \"{other}\""
            ))),
        },
    }
}
