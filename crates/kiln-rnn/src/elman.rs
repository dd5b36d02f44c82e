//! Kiln's own Elman recurrent network: `h_t = f(W_hh h_{t-1} + W_xh x_t + b_h)`, with stacked
//! layers and an optional backward direction.

use burn::module::Param;
use burn::nn::{Dropout, DropoutConfig, Initializer};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::fused::{self, Cell, SequenceInput};

/// PyTorch's initialisation of recurrent layers: uniform in `±1/sqrt(hidden_size)`.
pub(crate) fn pytorch_uniform(hidden_size: usize) -> Initializer {
    let bound = 1.0 / (hidden_size.max(1) as f64).sqrt();
    Initializer::Uniform {
        min: -bound,
        max: bound,
    }
}

/// The non-linearity `f` of an Elman layer.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum ElmanActivation {
    /// Hyperbolic tangent (the classic Elman network).
    Tanh,
    /// Rectified linear unit.
    Relu,
}

impl ElmanActivation {
    /// Applies the non-linearity element-wise.
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            ElmanActivation::Tanh => x.tanh(),
            ElmanActivation::Relu => relu(x),
        }
    }
}

/// Configuration of an [`Elman`] network: sizes, non-linearity, depth and direction.
#[derive(Config, Debug)]
pub struct ElmanConfig {
    /// Number of input features per time step.
    pub input_size: usize,
    /// Width of the hidden state of every layer and direction.
    pub hidden_size: usize,
    /// The non-linearity `f`.
    #[config(default = "ElmanActivation::Tanh")]
    pub activation: ElmanActivation,
    /// Number of stacked layers; layer `l + 1` reads the outputs of layer `l`.
    #[config(default = 1)]
    pub num_layers: usize,
    /// Adds a second layer per level that reads the sequence backwards; outputs of both are
    /// concatenated, so each level emits `2 * hidden_size` features.
    #[config(default = false)]
    pub bidirectional: bool,
    /// Dropout probability on the outputs of every layer but the last (0 disables it).
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// One Elman layer running in one direction over a batch-first sequence.
///
/// Weights are stored as in the equation (and as PyTorch's `nn.RNN`): `w_xh` is
/// `[hidden, input]` and `w_hh` is `[hidden, hidden]`. They are initialised uniformly in
/// `±1/sqrt(hidden)`, like PyTorch.
#[derive(Module, Debug)]
pub struct ElmanLayer {
    /// Input-to-hidden weights `W_xh`, `[hidden, input]`.
    pub w_xh: Param<Tensor<2>>,
    /// Hidden-to-hidden weights `W_hh`, `[hidden, hidden]`.
    pub w_hh: Param<Tensor<2>>,
    /// Hidden bias `b_h`, `[hidden]`.
    pub b_h: Param<Tensor<1>>,
    /// The non-linearity `f`.
    #[module(skip)]
    pub activation: ElmanActivation,
    /// Reads the sequence from the last step to the first when true.
    pub reverse: bool,
}

impl ElmanLayer {
    /// A layer with fresh weights uniform in `±1/sqrt(hidden_size)`.
    pub fn new(
        input_size: usize,
        hidden_size: usize,
        activation: ElmanActivation,
        reverse: bool,
        device: &Device,
    ) -> Self {
        let init = pytorch_uniform(hidden_size);
        Self {
            w_xh: init.init([hidden_size, input_size], device),
            w_hh: init.init([hidden_size, hidden_size], device),
            b_h: init.init([hidden_size], device),
            activation,
            reverse,
        }
    }

    /// Width of the hidden state.
    pub fn hidden_size(&self) -> usize {
        self.w_hh.dims()[0]
    }

    /// Number of input features per time step.
    pub fn input_size(&self) -> usize {
        self.w_xh.dims()[1]
    }

    /// Runs the layer over `x` `[batch, time, input]` from `state` `[batch, hidden]` (zeros when
    /// `None`) and returns the hidden state at every step `[batch, time, hidden]` (in time
    /// order, also when reversed) and the last state computed `[batch, hidden]`.
    ///
    /// The input projection `x W_xh^T + b_h` of all steps and the time loop are one fused
    /// operation ([`crate::fused`]).
    ///
    /// # Panics
    /// If the sequence has no time step.
    pub fn forward(&self, x: Tensor<3>, state: Option<Tensor<2>>) -> (Tensor<3>, Tensor<2>) {
        let [batch, time, _] = x.dims();
        assert!(time > 0, "an Elman layer needs at least one time step");
        let hidden = self.hidden_size();
        let device = x.device();
        let dtype = x.dtype();

        let h0 = state.unwrap_or_else(|| Tensor::zeros([batch, hidden], (&device, dtype)));
        let relu = self.activation == ElmanActivation::Relu;
        let input = SequenceInput {
            x,
            w_in: kiln_kernels::float_weight(self.w_xh.val()).transpose(),
            b_in: self.b_h.val(),
            w: kiln_kernels::float_weight(self.w_hh.val()).transpose(),
            bias: None,
            h0,
            c0: None,
        };
        let output = fused::sequence(Cell::Elman { relu }, input, self.reverse);
        let last = if self.reverse { 0 } else { time - 1 };
        let h = output.clone().narrow(1, last, 1).squeeze_dim::<2>(1);
        (output, h)
    }
}

/// A stacked, optionally bidirectional Elman network over batch-first sequences.
#[derive(Module, Debug)]
pub struct Elman {
    /// Layers in state order: level `l`, direction `d` (0 forward, 1 backward) at
    /// `l * directions + d`.
    pub layers: Vec<ElmanLayer>,
    /// Dropout on the outputs of every level but the last.
    pub dropout: Dropout,
    /// Whether each level also reads the sequence backwards.
    pub bidirectional: bool,
}

impl ElmanConfig {
    /// Builds the network with freshly initialised weights on `device`.
    pub fn init(&self, device: &Device) -> Elman {
        let directions = if self.bidirectional { 2 } else { 1 };
        let mut layers = Vec::with_capacity(self.num_layers * directions);
        for level in 0..self.num_layers {
            let width = if level == 0 {
                self.input_size
            } else {
                self.hidden_size * directions
            };
            for direction in 0..directions {
                layers.push(ElmanLayer::new(
                    width,
                    self.hidden_size,
                    self.activation,
                    direction == 1,
                    device,
                ));
            }
        }
        Elman {
            layers,
            dropout: DropoutConfig::new(self.dropout).init(),
            bidirectional: self.bidirectional,
        }
    }
}

impl Elman {
    /// 2 when bidirectional, else 1.
    pub fn num_directions(&self) -> usize {
        if self.bidirectional { 2 } else { 1 }
    }

    /// Number of stacked levels.
    pub fn num_layers(&self) -> usize {
        self.layers.len() / self.num_directions()
    }

    /// Width of one direction's hidden state.
    pub fn hidden_size(&self) -> usize {
        self.layers[0].hidden_size()
    }

    /// Features per step of the output: `hidden_size * num_directions`.
    pub fn output_size(&self) -> usize {
        self.hidden_size() * self.num_directions()
    }

    /// Runs the network over `x` `[batch, time, input]`.
    ///
    /// `state` is the initial hidden state of every layer, `[num_layers * directions, batch,
    /// hidden]` (zeros when `None`). Returns the top level's outputs `[batch, time,
    /// directions * hidden]` (forward then backward features) and the final hidden state of
    /// every layer in the same layout as `state`. For a backward layer the "final" state is the
    /// one after reading step 0.
    ///
    /// # Panics
    /// If the sequence has no time step or `state` has the wrong number of layers.
    pub fn forward(&self, x: Tensor<3>, state: Option<Tensor<3>>) -> (Tensor<3>, Tensor<3>) {
        if let Some(state) = &state {
            assert_eq!(
                state.dims()[0],
                self.layers.len(),
                "Elman state must hold one hidden state per layer and direction"
            );
        }
        let directions = self.num_directions();
        let levels = self.num_layers();
        let mut input = x;
        let mut finals = Vec::with_capacity(self.layers.len());
        for level in 0..levels {
            let mut outputs = Vec::with_capacity(directions);
            for direction in 0..directions {
                let index = level * directions + direction;
                let h0 = state
                    .as_ref()
                    .map(|s| s.clone().narrow(0, index, 1).squeeze_dim::<2>(0));
                let (output, last) = self.layers[index].forward(input.clone(), h0);
                outputs.push(output);
                finals.push(last);
            }
            input = if directions == 1 {
                outputs.pop().expect("one direction")
            } else {
                Tensor::cat(outputs, 2)
            };
            if level + 1 < levels {
                input = self.dropout.forward(input);
            }
        }
        (input, Tensor::stack(finals, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_into_vec_as::<f32>().unwrap()
    }

    fn assert_close(actual: &[f32], expected: &[f32]) {
        assert_eq!(actual.len(), expected.len());
        for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
            assert!((a - e).abs() < 1e-5, "index {i}: {a} vs {e}");
        }
    }

    const W_XH: [[f32; 2]; 2] = [[0.5, -0.3], [0.8, 0.2]];
    const W_HH: [[f32; 2]; 2] = [[0.1, 0.4], [-0.6, 0.3]];
    const B_H: [f32; 2] = [0.05, -0.1];
    const X: [[f32; 2]; 3] = [[1.0, 2.0], [-0.5, 0.7], [0.3, -1.2]];

    fn layer(activation: ElmanActivation, reverse: bool, device: &Device) -> ElmanLayer {
        let mut layer = ElmanLayer::new(2, 2, activation, reverse, device);
        layer.w_xh = Param::from_tensor(Tensor::from_data(W_XH, device));
        layer.w_hh = Param::from_tensor(Tensor::from_data(W_HH, device));
        layer.b_h = Param::from_tensor(Tensor::from_data(B_H, device));
        layer
    }

    /// `h_t = f(W_hh h_{t-1} + W_xh x_t + b_h)` in plain f32 loops, steps in `order`.
    fn by_hand(f: fn(f32) -> f32, h0: [f32; 2], order: &[usize]) -> Vec<[f32; 2]> {
        let mut h = h0;
        let mut out = vec![[0.0; 2]; X.len()];
        for &t in order {
            let mut next = [0.0f32; 2];
            for (i, value) in next.iter_mut().enumerate() {
                let mut sum = B_H[i];
                for j in 0..2 {
                    sum += W_HH[i][j] * h[j] + W_XH[i][j] * X[t][j];
                }
                *value = f(sum);
            }
            h = next;
            out[t] = h;
        }
        out
    }

    fn check(activation: ElmanActivation, f: fn(f32) -> f32) {
        let device = Device::flex();
        let x = Tensor::<3>::from_data([X], &device);
        let h0 = [0.2f32, -0.4];

        let (out, last) = layer(activation, false, &device).forward(x.clone(), None);
        let expected = by_hand(f, [0.0; 2], &[0, 1, 2]);
        assert_eq!(out.dims(), [1, 3, 2]);
        assert_close(&values(out), expected.as_flattened());
        assert_close(&values(last), &expected[2]);

        let state = Tensor::<2>::from_data([h0], &device);
        let (out, last) = layer(activation, false, &device).forward(x.clone(), Some(state));
        let expected = by_hand(f, h0, &[0, 1, 2]);
        assert_close(&values(out), expected.as_flattened());
        assert_close(&values(last), &expected[2]);

        let (out, last) = layer(activation, true, &device).forward(x, None);
        let expected = by_hand(f, [0.0; 2], &[2, 1, 0]);
        assert_close(&values(out), expected.as_flattened());
        assert_close(&values(last), &expected[0]);
    }

    #[test]
    fn tanh_layer_matches_hand_computation() {
        check(ElmanActivation::Tanh, f32::tanh);
    }

    #[test]
    fn relu_layer_matches_hand_computation() {
        check(ElmanActivation::Relu, |v| v.max(0.0));
    }

    #[test]
    fn bidirectional_concatenates_forward_then_backward() {
        let device = Device::flex();
        let mut net = ElmanConfig::new(2, 2)
            .with_bidirectional(true)
            .init(&device);
        net.layers = vec![
            layer(ElmanActivation::Tanh, false, &device),
            layer(ElmanActivation::Tanh, true, &device),
        ];
        let (out, finals) = net.forward(Tensor::from_data([X], &device), None);
        let fwd = by_hand(f32::tanh, [0.0; 2], &[0, 1, 2]);
        let bwd = by_hand(f32::tanh, [0.0; 2], &[2, 1, 0]);
        let expected: Vec<f32> = (0..3).flat_map(|t| [fwd[t], bwd[t]].concat()).collect();
        assert_eq!(out.dims(), [1, 3, 4]);
        assert_close(&values(out), &expected);
        assert_eq!(finals.dims(), [2, 1, 2]);
        assert_close(&values(finals), &[fwd[2], bwd[0]].concat());
    }

    #[test]
    fn stacked_shapes_and_parameter_count() {
        let device = Device::flex();
        let net = ElmanConfig::new(5, 4)
            .with_num_layers(3)
            .with_bidirectional(true)
            .init(&device);
        let (out, finals) = net.forward(Tensor::zeros([2, 7, 5], &device), None);
        assert_eq!(out.dims(), [2, 7, 8]);
        assert_eq!(finals.dims(), [6, 2, 4]);
        assert_eq!(net.output_size(), 8);
        assert_eq!(net.num_layers(), 3);
        // level 0: 2 * (4*5 + 4*4 + 4); levels 1, 2: 2 * (4*8 + 4*4 + 4) each
        assert_eq!(net.num_params(), 2 * 40 + 4 * 52);
    }
}
