//! Models too large to build are refused with their size before any memory is asked for.

use kiln_train::{KilnError, Result};

/// Most parameters a zoo model may have (8 GiB of f32 weights).
pub const MAX_PARAMS: u128 = 1 << 31;

/// Refuses a model of `params` parameters (`None`: too many to count) above [`MAX_PARAMS`],
/// naming the keys that set its size.
pub fn check_params(params: Option<u128>, keys: &str) -> Result<()> {
    match params {
        Some(n) if n <= MAX_PARAMS => Ok(()),
        Some(n) => Err(KilnError::Input(format!(
            "{keys}: the model would have {n} parameters ({} bytes of f32 weights), more than the {MAX_PARAMS} Kiln builds",
            n.saturating_mul(4)
        ))),
        None => Err(KilnError::Input(format!(
            "{keys}: the model would have more parameters than can be counted"
        ))),
    }
}

/// Parameters of a stack of linear layers with biases: `inputs -> hidden... -> outputs`.
pub fn linear_stack(inputs: usize, hidden: &[usize], outputs: usize) -> Option<u128> {
    let mut width = inputs;
    let mut sum = 0u128;
    for &h in hidden.iter().chain([&outputs]) {
        sum = sum.checked_add(linear(width, h)?)?;
        width = h;
    }
    Some(sum)
}

/// Parameters of a linear layer `inputs -> outputs` with bias.
pub fn linear(inputs: usize, outputs: usize) -> Option<u128> {
    (inputs as u128)
        .checked_mul(outputs as u128)?
        .checked_add(outputs as u128)
}
