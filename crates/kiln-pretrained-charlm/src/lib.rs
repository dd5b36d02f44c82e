//! The pretrained character language model `char-shakespeare`: the files of the run folder
//! that `kiln train configs/char-shakespeare.toml` wrote (`weights/char-shakespeare/`; its
//! provenance is in kiln-pretrained's `weights/README.md`). Its 7.4 MB of weights would take
//! kiln-pretrained past the Rust package registry's 10 MB per crate, so they ship here; use
//! them through `kiln_pretrained::find("char-shakespeare")`.
#![warn(missing_docs)]

/// The shipped config's name.
pub const NAME: &str = "char-shakespeare";

/// (file name, bytes) of each file of the run folder.
pub const FILES: &[(&str, &[u8])] = &[
    (
        "config.toml",
        include_bytes!("../weights/char-shakespeare/config.toml"),
    ),
    (
        "preprocess.json",
        include_bytes!("../weights/char-shakespeare/preprocess.json"),
    ),
    (
        "model.bpk",
        include_bytes!("../weights/char-shakespeare/model.bpk"),
    ),
    (
        "manifest.json",
        include_bytes!("../weights/char-shakespeare/manifest.json"),
    ),
    (
        "summary.json",
        include_bytes!("../weights/char-shakespeare/summary.json"),
    ),
    (
        "model-card.md",
        include_bytes!("../weights/char-shakespeare/model-card.md"),
    ),
    (
        "model-card.json",
        include_bytes!("../weights/char-shakespeare/model-card.json"),
    ),
    (
        "curves.png",
        include_bytes!("../weights/char-shakespeare/curves.png"),
    ),
];
