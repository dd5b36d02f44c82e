//! PyTorch's names for the tensors of Kiln's models.
//!
//! Kiln's Linear, conv and batch-norm modules are named as PyTorch names the same modules in
//! the `model.py` Kiln writes (`hidden.0.weight`, `blocks.1.norm.running_var`; batch norm's
//! `gamma`/`beta` become `weight`/`bias` through burn-store's adapter). Only the recurrent
//! encoders differ: Kiln keeps one module per level and direction, PyTorch's `nn.LSTM`, `nn.GRU`
//! and `nn.RNN` one module with flat names (`weight_ih_l0`, `bias_hh_l1_reverse`).

/// PyTorch's name for the tensor a Kiln model holds at `path` (enum variants skipped).
pub fn torch_name(path: &str) -> String {
    match recurrent_parts(path) {
        Some(parts) => parts.torch_name(),
        None => path.to_string(),
    }
}

/// A recurrent encoder's tensor, split into what PyTorch's flat names need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecurrentTensor<'a> {
    /// The encoder's own path (`encoder`).
    pub prefix: &'a str,
    /// Its level.
    pub level: usize,
    /// 0 forward, 1 backward.
    pub direction: usize,
    /// `weight_ih`, `weight_hh`, `bias_ih` or `bias_hh`.
    pub role: &'static str,
}

impl RecurrentTensor<'_> {
    /// The flat PyTorch name.
    pub fn torch_name(&self) -> String {
        let reverse = if self.direction == 1 { "_reverse" } else { "" };
        format!("{}.{}_l{}{reverse}", self.prefix, self.role, self.level)
    }
}

/// Splits `<prefix>.layers.<level>.<direction>.<w_ih|w_hh|b_ih|b_hh>` (LSTM, GRU) and
/// `<prefix>.layers.<level>.layers.<direction>.<w_xh|w_hh|b_h>` (Elman).
pub(crate) fn recurrent_parts(path: &str) -> Option<RecurrentTensor<'_>> {
    let (head, name) = path.rsplit_once('.')?;
    let role = match name {
        "w_ih" | "w_xh" => "weight_ih",
        "w_hh" => "weight_hh",
        "b_ih" | "b_h" => "bias_ih",
        "b_hh" => "bias_hh",
        _ => return None,
    };
    let (head, direction) = head.rsplit_once('.')?;
    let direction: usize = direction.parse().ok()?;
    let head = head.strip_suffix(".layers").unwrap_or(head);
    let (head, level) = head.rsplit_once('.')?;
    let level: usize = level.parse().ok()?;
    let prefix = head.strip_suffix(".layers")?;
    Some(RecurrentTensor {
        prefix,
        level,
        direction,
        role,
    })
}

/// Whether `path` is an Elman layer's single bias, which PyTorch's `nn.RNN` splits in two
/// (`bias_ih` and `bias_hh`, summed).
pub(crate) fn is_elman_bias(path: &str) -> bool {
    path.ends_with(".b_h")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_modules_keep_their_names() {
        assert_eq!(torch_name("hidden.0.weight"), "hidden.0.weight");
        assert_eq!(
            torch_name("blocks.1.norm2.running_var"),
            "blocks.1.norm2.running_var"
        );
        assert_eq!(torch_name("weight"), "weight");
    }

    #[test]
    fn gated_layers_get_flat_names() {
        assert_eq!(
            torch_name("encoder.layers.0.0.w_ih"),
            "encoder.weight_ih_l0"
        );
        assert_eq!(
            torch_name("encoder.layers.2.1.b_hh"),
            "encoder.bias_hh_l2_reverse"
        );
    }

    #[test]
    fn elman_layers_get_flat_names() {
        assert_eq!(
            torch_name("encoder.layers.1.layers.0.w_xh"),
            "encoder.weight_ih_l1"
        );
        assert_eq!(
            torch_name("encoder.layers.0.layers.1.b_h"),
            "encoder.bias_ih_l0_reverse"
        );
        assert!(is_elman_bias("encoder.layers.0.layers.1.b_h"));
    }
}
