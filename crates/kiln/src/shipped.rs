//! The configs shipped in `configs/`, compiled in so that `kiln train NAME` works anywhere.

/// (name, TOML text) of every shipped config.
pub const SHIPPED_CONFIGS: [(&str, &str); 8] = [
    (
        "fnn-breast-cancer",
        include_str!("../../../configs/fnn-breast-cancer.toml"),
    ),
    ("fnn-iris", include_str!("../../../configs/fnn-iris.toml")),
    ("mlp-mnist", include_str!("../../../configs/mlp-mnist.toml")),
    ("cnn-mnist", include_str!("../../../configs/cnn-mnist.toml")),
    (
        "resnet-mnist",
        include_str!("../../../configs/resnet-mnist.toml"),
    ),
    (
        "lstm-seqmnist",
        include_str!("../../../configs/lstm-seqmnist.toml"),
    ),
    (
        "gru-seqmnist",
        include_str!("../../../configs/gru-seqmnist.toml"),
    ),
    (
        "rnn-seqmnist",
        include_str!("../../../configs/rnn-seqmnist.toml"),
    ),
];

/// The text of a shipped config by name.
pub fn shipped_config(name: &str) -> Option<&'static str> {
    SHIPPED_CONFIGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}
