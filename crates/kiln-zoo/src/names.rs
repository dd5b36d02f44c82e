//! Config files write enum values in lower snake case (`relu`, `lstm`, `gelu_approximate`);
//! Burn's `Config` enums serialise their variant names (`Relu`, `Lstm`). This adapter lets the
//! model crates' own enums sit in a config section unchanged: `#[serde(with = "names")]`.

use serde::de::{DeserializeOwned, Error};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Writes `value` with its variant name in snake case.
pub fn serialize<T: Serialize, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    let json = serde_json::to_value(value).map_err(serde::ser::Error::custom)?;
    rename_variant(json, to_snake).serialize(serializer)
}

/// Reads a value whose variant name is in snake case.
pub fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    let json = Value::deserialize(deserializer)?;
    let shown = json.to_string();
    serde_json::from_value(rename_variant(json, to_camel))
        .map_err(|_| D::Error::custom(format!("unknown value {shown}")))
}

/// A unit variant is a string, a variant with data a one-key object: rename either.
fn rename_variant(json: Value, rename: fn(&str) -> String) -> Value {
    match json {
        Value::String(name) => Value::String(rename(&name)),
        Value::Object(map) if map.len() == 1 => Value::Object(
            map.into_iter()
                .map(|(name, inner)| (rename(&name), inner))
                .collect(),
        ),
        other => other,
    }
}

fn to_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn to_camel(name: &str) -> String {
    name.split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::activation::ActivationConfig;

    #[derive(Serialize, Deserialize, Debug)]
    struct Holder {
        #[serde(with = "super")]
        activation: ActivationConfig,
    }

    #[test]
    fn burn_enums_read_and_write_in_snake_case() {
        for (text, value) in [
            ("relu", ActivationConfig::Relu),
            ("gelu_approximate", ActivationConfig::GeluApproximate),
            ("tanh", ActivationConfig::Tanh),
        ] {
            let json = format!("{{\"activation\":\"{text}\"}}");
            let holder: Holder = serde_json::from_str(&json).unwrap();
            assert_eq!(format!("{:?}", holder.activation), format!("{value:?}"));
            assert_eq!(serde_json::to_string(&holder).unwrap(), json);
        }
        let err = serde_json::from_str::<Holder>("{\"activation\":\"swish2\"}").unwrap_err();
        assert!(
            err.to_string().contains("unknown value \"swish2\""),
            "{err}"
        );
    }
}
