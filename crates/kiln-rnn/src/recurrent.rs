//! One recurrent encoder for all cell kinds: Kiln's [`Elman`] network or Kiln's gated LSTM
//! and GRU layers, stacked and optionally bidirectional, with a state that carries over
//! between chunks.

use burn::nn::{Dropout, DropoutConfig};
use burn::prelude::*;

use crate::elman::{Elman, ElmanActivation, ElmanConfig};
use crate::gated::{GateKind, GatedLayer};
use crate::state::RecurrentState;

/// The recurrent cell of a [`Recurrent`] encoder.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum CellKind {
    /// Kiln's Elman layer, `h_t = f(W_hh h_{t-1} + W_xh x_t + b_h)`.
    Elman,
    /// Long short-term memory (state: hidden and cell), as PyTorch's `nn.LSTM`.
    Lstm,
    /// Gated recurrent unit (reset gate applied after the matmul, as PyTorch's `nn.GRU`).
    Gru,
}

/// Configuration of a [`Recurrent`] encoder.
#[derive(Config, Debug)]
pub struct RecurrentConfig {
    /// The recurrent cell.
    pub cell: CellKind,
    /// Number of input features per time step.
    pub input_size: usize,
    /// Width of the hidden state of every layer and direction.
    pub hidden_size: usize,
    /// Number of stacked layers.
    #[config(default = 1)]
    pub num_layers: usize,
    /// Reads every level forwards and backwards and concatenates both outputs.
    #[config(default = false)]
    pub bidirectional: bool,
    /// Non-linearity of the Elman cell (ignored by LSTM and GRU).
    #[config(default = "ElmanActivation::Tanh")]
    pub activation: ElmanActivation,
    /// Dropout probability on the outputs of every layer but the last (0 disables it).
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// What the first level of a [`Recurrent`] encoder reads.
#[derive(Debug, Clone)]
// One value per call, made once: the token variant's two tensors are not worth a box.
#[allow(clippy::large_enum_variant)]
enum LevelInput {
    /// Features `[batch, time, features]`.
    Features(Tensor<3>),
    /// Token ids `[batch, time]` and the embedding `[vocabulary, features]` whose rows they
    /// select.
    Tokens {
        ids: Tensor<2, Int>,
        embedding: Tensor<2>,
    },
}

impl LevelInput {
    /// The features themselves (the tokens' embedding rows).
    fn features(self) -> Tensor<3> {
        match self {
            LevelInput::Features(x) => x,
            LevelInput::Tokens { ids, embedding } => {
                burn::tensor::module::embedding(embedding, ids)
            }
        }
    }

    /// Sequences and time steps.
    fn batch_and_time(&self) -> [usize; 2] {
        match self {
            LevelInput::Features(x) => {
                let [batch, time, _] = x.dims();
                [batch, time]
            }
            LevelInput::Tokens { ids, .. } => ids.dims(),
        }
    }
}

/// One level of a [`Recurrent`] encoder (both directions when bidirectional).
#[derive(Module, Debug)]
pub enum RecurrentLayer {
    /// A one-level Kiln [`Elman`] network (one or two directions).
    Elman(Elman),
    /// Kiln's LSTM or GRU layers, one per direction (forward first).
    Gated(Vec<GatedLayer>),
}

impl RecurrentLayer {
    /// Runs the level over `x` `[batch, time, features]` from `hidden` (and `cell` for an LSTM),
    /// each `[directions, batch, hidden]`; returns the outputs and the final hidden and cell.
    fn forward(
        &self,
        x: LevelInput,
        hidden: Option<Tensor<3>>,
        cell: Option<Tensor<3>>,
    ) -> (Tensor<3>, Tensor<3>, Option<Tensor<3>>) {
        match self {
            RecurrentLayer::Elman(elman) => {
                let (output, hidden) = elman.forward(x.features(), hidden);
                (output, hidden, None)
            }
            RecurrentLayer::Gated(layers) => {
                let state = |s: &Option<Tensor<3>>, d: usize| {
                    s.as_ref()
                        .map(|s| s.clone().narrow(0, d, 1).squeeze_dim::<2>(0))
                };
                let runs: Vec<_> = layers
                    .iter()
                    .enumerate()
                    .map(|(d, layer)| {
                        let (h0, c0) = (state(&hidden, d), state(&cell, d));
                        match x.clone() {
                            LevelInput::Features(x) => layer.forward(x, h0, c0),
                            LevelInput::Tokens { ids, embedding } => {
                                layer.forward_tokens(ids, embedding, h0, c0)
                            }
                        }
                    })
                    .collect();
                let cells: Vec<Tensor<3>> = runs
                    .iter()
                    .filter_map(|r| r.cell.clone().map(|c| c.unsqueeze_dim(0)))
                    .collect();
                let hiddens = runs
                    .iter()
                    .map(|r| r.hidden.clone().unsqueeze_dim(0))
                    .collect();
                let outputs = runs.into_iter().map(|r| r.output).collect();
                let cell = (!cells.is_empty()).then(|| Tensor::cat(cells, 0));
                (Tensor::cat(outputs, 2), Tensor::cat(hiddens, 0), cell)
            }
        }
    }

    /// Number of input features per time step this level reads.
    pub fn input_size(&self) -> usize {
        match self {
            RecurrentLayer::Elman(elman) => elman.layers[0].input_size(),
            RecurrentLayer::Gated(layers) => layers[0].input_size(),
        }
    }

    /// The cell kind of this level.
    pub fn cell_kind(&self) -> CellKind {
        match self {
            RecurrentLayer::Elman(_) => CellKind::Elman,
            RecurrentLayer::Gated(layers) => match layers[0].kind {
                GateKind::Lstm => CellKind::Lstm,
                GateKind::Gru => CellKind::Gru,
            },
        }
    }
}

/// A stacked, optionally bidirectional recurrent encoder over batch-first sequences that maps
/// `[batch, time, input_size]` to `[batch, time, output_size()]`.
#[derive(Module, Debug)]
pub struct Recurrent {
    /// The levels, first to last.
    pub layers: Vec<RecurrentLayer>,
    /// Dropout on the outputs of every level but the last.
    pub dropout: Dropout,
    /// Width of one direction's hidden state.
    pub hidden_size: usize,
    /// Whether each level also reads the sequence backwards.
    pub bidirectional: bool,
}

impl RecurrentConfig {
    /// Builds the encoder with freshly initialised weights on `device`.
    ///
    /// # Panics
    /// If `num_layers` is 0.
    pub fn init(&self, device: &Device) -> Recurrent {
        assert!(
            self.num_layers > 0,
            "a recurrent encoder needs at least one layer"
        );
        let directions = if self.bidirectional { 2 } else { 1 };
        let (hidden, bi) = (self.hidden_size, self.bidirectional);
        let layers = (0..self.num_layers)
            .map(|level| {
                let width = if level == 0 {
                    self.input_size
                } else {
                    hidden * directions
                };
                match self.cell {
                    CellKind::Elman => RecurrentLayer::Elman(
                        ElmanConfig::new(width, hidden)
                            .with_activation(self.activation)
                            .with_bidirectional(bi)
                            .init(device),
                    ),
                    CellKind::Lstm | CellKind::Gru => {
                        let kind = if self.cell == CellKind::Lstm {
                            GateKind::Lstm
                        } else {
                            GateKind::Gru
                        };
                        RecurrentLayer::Gated(
                            (0..directions)
                                .map(|d| GatedLayer::new(kind, width, hidden, d == 1, device))
                                .collect(),
                        )
                    }
                }
            })
            .collect();
        Recurrent {
            layers,
            dropout: DropoutConfig::new(self.dropout).init(),
            hidden_size: self.hidden_size,
            bidirectional: self.bidirectional,
        }
    }
}

impl Recurrent {
    /// Runs the encoder over `x` `[batch, time, input_size]`, starting from `state` (zeros when
    /// `None`).
    ///
    /// Returns the last level's outputs `[batch, time, output_size()]` (forward features, then
    /// backward ones) and the final state of every layer, which continues the sequence when
    /// passed to the next call. For a backward direction that state is the one after reading the
    /// chunk's first step, so carrying it over is only meaningful for unidirectional encoders.
    ///
    /// # Panics
    /// If the sequence has no time step, or `state` does not fit the encoder (number of layers,
    /// or an LSTM state without its cell).
    pub fn forward(
        &self,
        x: Tensor<3>,
        state: Option<RecurrentState>,
    ) -> (Tensor<3>, RecurrentState) {
        self.run(LevelInput::Features(x), state)
    }

    /// Runs the encoder over the embedding rows `embedding[tokens]` (`tokens` `[batch, time]`,
    /// `embedding` `[vocabulary, input_size]`): [`forward`](Self::forward) of the embedded tokens,
    /// bit for bit. A first level of LSTMs reads the tokens themselves (see
    /// [`GatedLayer::forward_tokens`]: on the CPU backends, each token's input projection
    /// computed once).
    ///
    /// # Panics
    /// As [`forward`](Self::forward).
    pub fn forward_tokens(
        &self,
        tokens: Tensor<2, Int>,
        embedding: Tensor<2>,
        state: Option<RecurrentState>,
    ) -> (Tensor<3>, RecurrentState) {
        let input = LevelInput::Tokens {
            ids: tokens,
            embedding: kiln_kernels::float_weight(embedding),
        };
        self.run(input, state)
    }

    /// [`forward`](Self::forward) from the first level's input.
    fn run(&self, x: LevelInput, state: Option<RecurrentState>) -> (Tensor<3>, RecurrentState) {
        let [batch, time] = x.batch_and_time();
        assert!(time > 0, "a recurrent encoder needs at least one time step");
        let directions = self.num_directions();
        if let Some(state) = &state {
            assert_eq!(
                state.num_states(),
                self.layers.len() * directions,
                "the state must hold num_layers * directions hidden states"
            );
        }
        let levels = self.layers.len();
        // Start from zeros of the input's type, so that the encoder also runs in f16/bf16.
        let (device, dtype) = match &x {
            LevelInput::Features(x) => (x.device(), x.dtype()),
            LevelInput::Tokens { embedding, .. } => (embedding.device(), embedding.dtype()),
        };
        let state = state.or_else(|| {
            let shape = [levels * directions, batch, self.hidden_size];
            let zeros = || Tensor::<3>::zeros(shape, (&device, dtype));
            let cell = (self.cell_kind() == CellKind::Lstm).then(zeros);
            Some(RecurrentState::new(zeros(), cell))
        });
        let mut input = x;
        let mut hiddens = Vec::with_capacity(levels);
        let mut cells = Vec::with_capacity(levels);
        for (level, layer) in self.layers.iter().enumerate() {
            let (h0, c0) = match &state {
                Some(state) => {
                    let (hidden, cell) = state.narrow(level * directions, directions);
                    (Some(hidden), cell)
                }
                None => (None, None),
            };
            let (output, hidden, cell) = layer.forward(input, h0, c0);
            hiddens.push(hidden);
            cells.extend(cell);
            input = LevelInput::Features(if level + 1 < levels {
                self.dropout.forward(output)
            } else {
                output
            });
        }
        let cell = (!cells.is_empty()).then(|| Tensor::cat(cells, 0));
        (
            input.features(),
            RecurrentState::new(Tensor::cat(hiddens, 0), cell),
        )
    }

    /// The cell kind of every level.
    pub fn cell_kind(&self) -> CellKind {
        self.layers[0].cell_kind()
    }

    /// Number of input features per time step.
    pub fn input_size(&self) -> usize {
        self.layers[0].input_size()
    }

    /// Number of stacked levels.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// 2 when bidirectional, else 1.
    pub fn num_directions(&self) -> usize {
        if self.bidirectional { 2 } else { 1 }
    }

    /// Features per step of the output: `hidden_size * num_directions()`.
    pub fn output_size(&self) -> usize {
        self.hidden_size * self.num_directions()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    const KINDS: [CellKind; 3] = [CellKind::Elman, CellKind::Lstm, CellKind::Gru];

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_into_vec_as::<f32>().unwrap()
    }

    fn assert_close<const D: usize>(actual: Tensor<D>, expected: Tensor<D>, what: &str) {
        assert_eq!(actual.dims(), expected.dims(), "{what}: shape");
        for (i, (a, e)) in values(actual).iter().zip(values(expected)).enumerate() {
            assert!((a - e).abs() < 1e-5, "{what}, index {i}: {a} vs {e}");
        }
    }

    #[test]
    fn output_and_state_shapes_for_every_cell_kind() {
        let device = Device::flex();
        let x = Tensor::<3>::random([3, 5, 4], Distribution::Default, &device);
        for cell in KINDS {
            for layers in [1, 2] {
                for bidirectional in [false, true] {
                    let what = format!("{cell:?}, {layers} layers, bidirectional {bidirectional}");
                    let encoder = RecurrentConfig::new(cell, 4, 6)
                        .with_num_layers(layers)
                        .with_bidirectional(bidirectional)
                        .init(&device);
                    let directions = if bidirectional { 2 } else { 1 };
                    let (output, state) = encoder.forward(x.clone(), None);
                    assert_eq!(output.dims(), [3, 5, 6 * directions], "{what}");
                    assert_eq!(encoder.output_size(), 6 * directions, "{what}");
                    assert_eq!(encoder.cell_kind(), cell, "{what}");
                    assert_eq!(encoder.num_layers(), layers, "{what}");
                    assert_eq!(encoder.input_size(), 4, "{what}");
                    assert_eq!(state.hidden.dims(), [layers * directions, 3, 6], "{what}");
                    match cell {
                        CellKind::Lstm => assert_eq!(
                            state.cell.as_ref().map(|c| c.dims()),
                            Some([layers * directions, 3, 6]),
                            "{what}"
                        ),
                        _ => assert!(state.cell.is_none(), "{what}"),
                    }
                    // The returned state is accepted back, also for bidirectional encoders.
                    let (again, _) = encoder.forward(x.clone(), Some(state));
                    assert_eq!(again.dims(), [3, 5, 6 * directions], "{what}");
                }
            }
        }
    }

    #[test]
    fn carrying_the_state_over_two_chunks_equals_one_pass() {
        let device = Device::flex();
        let x = Tensor::<3>::random([2, 6, 3], Distribution::Default, &device);
        for cell in KINDS {
            for layers in [1, 2] {
                let what = format!("{cell:?}, {layers} layers");
                let encoder = RecurrentConfig::new(cell, 3, 5)
                    .with_num_layers(layers)
                    .init(&device);
                let (whole, whole_state) = encoder.forward(x.clone(), None);
                let (first, state) = encoder.forward(x.clone().narrow(1, 0, 3), None);
                let (second, state) =
                    encoder.forward(x.clone().narrow(1, 3, 3), Some(state.detach()));
                assert_close(Tensor::cat(vec![first, second], 1), whole, &what);
                assert_close(state.hidden, whole_state.hidden, &what);
                match (state.cell, whole_state.cell) {
                    (Some(a), Some(b)) => assert_close(a, b, &what),
                    (None, None) => {}
                    _ => panic!("{what}: cell state present in only one run"),
                }
            }
        }
    }

    #[test]
    fn final_state_is_the_last_output_of_a_unidirectional_encoder() {
        let device = Device::flex();
        let x = Tensor::<3>::random([2, 4, 3], Distribution::Default, &device);
        for cell in KINDS {
            let encoder = RecurrentConfig::new(cell, 3, 5).init(&device);
            let (output, state) = encoder.forward(x.clone(), None);
            let last = output.narrow(1, 3, 1).swap_dims(0, 1);
            assert_close(state.hidden, last, &format!("{cell:?}"));
        }
    }

    #[test]
    fn gradients_reach_the_weights_of_every_cell_kind() {
        let device = Device::flex().autodiff();
        for cell in KINDS {
            let encoder = RecurrentConfig::new(cell, 3, 4)
                .with_num_layers(2)
                .with_bidirectional(true)
                .with_dropout(0.2)
                .init(&device);
            let x = Tensor::<3>::random([2, 4, 3], Distribution::Default, &device);
            let (output, _) = encoder.forward(x, None);
            let grads = output.sum().backward();
            // A recurrent weight of the first level's backward direction.
            let weight = match &encoder.layers[0] {
                RecurrentLayer::Elman(elman) => &elman.layers[1].w_hh,
                RecurrentLayer::Gated(layers) => &layers[1].w_hh,
            };
            let grad = weight
                .grad(&grads)
                .expect("a gradient for the recurrent weight");
            let gates = match cell {
                CellKind::Elman => 1,
                CellKind::Lstm => 4,
                CellKind::Gru => 3,
            };
            assert_eq!(grad.dims(), [4, 4 * gates]);
            assert!(
                grad.abs().sum().into_scalar::<f32>() > 0.0,
                "{cell:?}: zero gradient"
            );
        }
    }
}
