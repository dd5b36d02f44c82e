//! One module per subcommand.

pub mod bench;
pub mod card;
pub mod compress;
pub mod eval;
pub mod explain;
pub mod export;
pub mod fairness;
pub mod generate;
pub mod import;
pub mod inputs;
pub mod inspect;
pub mod list;
pub mod predict;
pub mod privacy;
pub mod train;

use kiln_train::{BackendKind, Result};

/// Parses an optional `--backend` value.
pub fn parse_backend(name: Option<&str>) -> Result<Option<BackendKind>> {
    name.map(str::parse).transpose()
}
