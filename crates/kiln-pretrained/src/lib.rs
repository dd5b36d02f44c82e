//! Kiln's pretrained models, compiled in: for each, the files of the run folder that
//! `kiln train configs/<name>.toml` wrote (`weights/<name>/`). The weights' provenance is in
//! `weights/README.md`: each `summary.json`'s `weights_sha256` is what that command gives
//! with the config's seed. Reading them back is the experiment crate's job
//! (`kiln_experiment::pretrained`); this crate holds bytes only.
#![warn(missing_docs)]

/// The files of one pretrained run folder.
#[derive(Debug, Clone, Copy)]
pub struct Pretrained {
    /// The shipped config it was trained from (`cnn-mnist`).
    pub name: &'static str,
    /// (file name, bytes) of each file of the run folder.
    pub files: &'static [(&'static str, &'static [u8])],
}

macro_rules! pretrained {
    ($($name:literal),* ; $($other:expr),* $(,)?) => {
        /// Every pretrained model, in the order `kiln list` shows them.
        pub const PRETRAINED: &[Pretrained] = &[$(Pretrained {
            name: $name,
            files: &[
                ("config.toml", include_bytes!(concat!("../weights/", $name, "/config.toml"))),
                ("preprocess.json", include_bytes!(concat!("../weights/", $name, "/preprocess.json"))),
                ("model.bpk", include_bytes!(concat!("../weights/", $name, "/model.bpk"))),
                ("manifest.json", include_bytes!(concat!("../weights/", $name, "/manifest.json"))),
                ("summary.json", include_bytes!(concat!("../weights/", $name, "/summary.json"))),
                ("model-card.md", include_bytes!(concat!("../weights/", $name, "/model-card.md"))),
                ("model-card.json", include_bytes!(concat!("../weights/", $name, "/model-card.json"))),
                ("curves.png", include_bytes!(concat!("../weights/", $name, "/curves.png"))),
                ("confusion.png", include_bytes!(concat!("../weights/", $name, "/confusion.png"))),
            ],
        }),*, $($other),*];
    };
}

pretrained!(
    "fnn-breast-cancer",
    "fnn-iris",
    "fnn-adult",
    "dp-adult",
    "mlp-mnist",
    "dp-mnist",
    "cnn-mnist",
    "lstm-seqmnist",
    "gru-seqmnist",
    "rnn-seqmnist",
    "resnet-mnist";
    // Its own crate: 6.1 MB of weights (no confusion matrix: it predicts characters).
    Pretrained {
        name: kiln_pretrained_charlm::NAME,
        files: kiln_pretrained_charlm::FILES,
    },
);

impl Pretrained {
    /// The bytes of one of its files (`summary.json`), if it ships that file.
    pub fn file(&self, name: &str) -> Option<&'static [u8]> {
        self.files
            .iter()
            .find(|(file, _)| *file == name)
            .map(|(_, bytes)| *bytes)
    }
}

/// The pretrained model of that name.
pub fn find(name: &str) -> Option<&'static Pretrained> {
    PRETRAINED.iter().find(|p| p.name == name)
}

/// The names there are, comma-separated (for error messages).
pub fn names() -> String {
    PRETRAINED
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_ships_a_whole_run_folder() {
        for p in PRETRAINED {
            for (file, bytes) in p.files {
                assert!(!bytes.is_empty(), "{}/{file} is empty", p.name);
            }
            let config = std::str::from_utf8(p.files[0].1).unwrap();
            assert!(
                config.contains(&format!("name = \"{}\"", p.name)),
                "{}",
                p.name
            );
        }
        assert!(find("cnn-mnist").is_some() && find("cnn-cifar").is_none());
        assert!(names().starts_with("fnn-breast-cancer, fnn-iris"));
    }
}
