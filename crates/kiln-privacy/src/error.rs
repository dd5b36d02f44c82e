//! What the accountant refuses.

/// A value out of range, or a budget no noise can meet.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PrivacyError {
    /// A parameter out of its range (the message names it).
    #[error("{0}")]
    Input(String),
}
