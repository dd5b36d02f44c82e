//! The configs shipped in `configs/`, compiled in so that `kiln train NAME` works anywhere.

/// (name, TOML text) of every shipped config.
pub const SHIPPED_CONFIGS: [(&str, &str); 3] = [
    (
        "fnn-breast-cancer",
        include_str!("../../../configs/fnn-breast-cancer.toml"),
    ),
    ("fnn-iris", include_str!("../../../configs/fnn-iris.toml")),
    ("mlp-mnist", include_str!("../../../configs/mlp-mnist.toml")),
];

/// The text of a shipped config by name.
pub fn shipped_config(name: &str) -> Option<&'static str> {
    SHIPPED_CONFIGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}
