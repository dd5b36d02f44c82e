//! `--set dotted.key=value` overrides of a config's TOML table.

use kiln_train::{KilnError, Result};

/// Applies one `dotted.key=value` override; the value is read as TOML (number, bool, array,
/// quoted string) and otherwise taken as a plain string.
pub fn apply_override(table: &mut toml::Table, item: &str) -> Result<()> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| KilnError::Config(format!("--set '{item}': expected key=value")))?;
    let key = key.trim();
    let value = format!("v = {}", raw.trim())
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(KilnError::Config(format!(
            "--set '{item}': bad key '{key}'"
        )));
    }
    let mut node = table;
    for part in &parts[..parts.len() - 1] {
        let entry = node
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = entry.as_table_mut().ok_or_else(|| {
            KilnError::Config(format!("--set '{item}': '{part}' is not a section"))
        })?;
    }
    node.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

pub(crate) fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
