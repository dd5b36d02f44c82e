//! The configs shipped in `configs/`, compiled in so that `kiln train NAME` works anywhere.

macro_rules! shipped {
    ($($name:literal),* $(,)?) => {
        /// (name, TOML text) of every shipped config.
        pub const SHIPPED_CONFIGS: &[(&str, &str)] =
            &[$(($name, include_str!(concat!("../../../configs/", $name, ".toml")))),*];
    };
}

shipped!(
    "fnn-breast-cancer",
    "fnn-iris",
    "fnn-adult",
    "mlp-mnist",
    "cnn-mnist",
    "resnet-mnist",
    "lstm-seqmnist",
    "gru-seqmnist",
    "rnn-seqmnist",
    "char-shakespeare",
    "distill-mlp-mnist",
    "dp-mnist",
    "dp-adult",
);

/// The text of a shipped config by name.
pub fn shipped_config(name: &str) -> Option<&'static str> {
    SHIPPED_CONFIGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}
