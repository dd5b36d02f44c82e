//! The state a [`Recurrent`](crate::Recurrent) encoder carries from one chunk of a sequence to
//! the next.

use burn::prelude::*;

/// Final (or initial) state of every layer of a [`Recurrent`](crate::Recurrent) encoder.
///
/// Layout as in PyTorch: `hidden` (and `cell`) are `[num_layers * directions, batch, hidden]`,
/// with level `l`, direction `d` (0 forward, 1 backward) at index `l * directions + d`.
///
/// Pass it back to `forward` to continue a sequence; call [`detach`](Self::detach) between
/// chunks for truncated backpropagation through time.
#[derive(Debug, Clone)]
pub struct RecurrentState {
    /// Hidden state of every layer and direction.
    pub hidden: Tensor<3>,
    /// Cell state of every layer and direction: `Some` for an LSTM, `None` for Elman and GRU.
    pub cell: Option<Tensor<3>>,
}

impl RecurrentState {
    /// A state from its parts.
    pub fn new(hidden: Tensor<3>, cell: Option<Tensor<3>>) -> Self {
        Self { hidden, cell }
    }

    /// The same values cut from the autodiff graph, so gradients stop at the chunk boundary.
    ///
    /// The values are copied into tensors of their own: the state is a slice of the layer's
    /// whole output sequence, and a slice keeps all of it alive (16 MB for the character model,
    /// through the next chunk's whole step).
    pub fn detach(self) -> Self {
        let own = |t: Tensor<3>| {
            let (device, dtype) = (t.device(), t.dtype());
            Tensor::<3>::from_data(t.detach().into_data(), (&device, dtype))
        };
        Self {
            hidden: own(self.hidden),
            cell: self.cell.map(own),
        }
    }

    /// Number of sequences in the batch.
    pub fn batch_size(&self) -> usize {
        self.hidden.dims()[1]
    }

    /// `num_layers * directions`: the number of per-layer states held.
    pub fn num_states(&self) -> usize {
        self.hidden.dims()[0]
    }

    /// The states of `count` consecutive layers from `start`, `[count, batch, hidden]` each.
    pub(crate) fn narrow(&self, start: usize, count: usize) -> (Tensor<3>, Option<Tensor<3>>) {
        (
            self.hidden.clone().narrow(0, start, count),
            self.cell
                .as_ref()
                .map(|c| c.clone().narrow(0, start, count)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keeps_values_and_drops_the_graph() {
        let device = Device::flex().autodiff();
        let hidden = Tensor::<3>::ones([2, 3, 4], &device).require_grad();
        let state = RecurrentState::new(hidden.clone() * 2.0, Some(hidden * 3.0)).detach();
        assert!(!state.hidden.is_require_grad());
        assert!(!state.cell.as_ref().unwrap().is_require_grad());
        assert_eq!(state.batch_size(), 3);
        assert_eq!(state.num_states(), 2);
        let total: f32 = state.cell.unwrap().sum().into_scalar::<f32>();
        assert_eq!(total, 72.0);
        // A half-precision state stays in its type.
        let half = Tensor::<3>::ones([1, 2, 2], &device).cast(burn::tensor::DType::F16);
        let state = RecurrentState::new(half, None).detach();
        assert_eq!(state.hidden.dtype(), burn::tensor::DType::F16);
    }
}
