//! Kiln's own LSTM and GRU layers: the input projection of every step as one matmul, then the
//! fused time loop of [`crate::fused`].

use burn::module::Param;
use burn::prelude::*;

use crate::elman::pytorch_uniform;
use crate::fused::{self, Cell, SequenceInput, TokenSequenceInput};

/// The gated cells Kiln implements itself.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum GateKind {
    /// Long short-term memory, gates `(i, f, g, o)` as PyTorch's `nn.LSTM`.
    Lstm,
    /// Gated recurrent unit, gates `(r, z, n)`, reset after the matmul as PyTorch's `nn.GRU`.
    Gru,
}

impl GateKind {
    /// Number of gate blocks in the weights.
    pub fn gates(self) -> usize {
        match self {
            GateKind::Lstm => 4,
            GateKind::Gru => 3,
        }
    }
}

/// One LSTM or GRU layer running in one direction over a batch-first sequence.
///
/// Weights are right-multiplied, gate blocks side by side: `w_ih` is `[input, gates * hidden]`
/// and `w_hh` is `[hidden, gates * hidden]`. All are initialised uniformly in
/// `±1/sqrt(hidden)`, like PyTorch.
#[derive(Module, Debug)]
pub struct GatedLayer {
    /// Input-to-gates weights, `[input, gates * hidden]`.
    pub w_ih: Param<Tensor<2>>,
    /// Input-side gate biases, `[gates * hidden]`.
    pub b_ih: Param<Tensor<1>>,
    /// Hidden-to-gates weights, `[hidden, gates * hidden]`.
    pub w_hh: Param<Tensor<2>>,
    /// Hidden-side gate biases, `[gates * hidden]`.
    pub b_hh: Param<Tensor<1>>,
    /// LSTM or GRU.
    #[module(skip)]
    pub kind: GateKind,
    /// Reads the sequence from the last step to the first when true.
    pub reverse: bool,
}

/// The outputs of one [`GatedLayer`] run: every hidden state and the final state.
#[derive(Debug, Clone)]
pub struct GatedOutput {
    /// Hidden state at every step `[batch, time, hidden]`, in time order.
    pub output: Tensor<3>,
    /// The last hidden state computed, `[batch, hidden]`.
    pub hidden: Tensor<2>,
    /// The last cell state of an LSTM, `[batch, hidden]`.
    pub cell: Option<Tensor<2>>,
}

impl GatedLayer {
    /// A layer with fresh weights uniform in `±1/sqrt(hidden_size)`.
    pub fn new(
        kind: GateKind,
        input_size: usize,
        hidden_size: usize,
        reverse: bool,
        device: &Device,
    ) -> Self {
        let init = pytorch_uniform(hidden_size);
        let width = kind.gates() * hidden_size;
        Self {
            w_ih: init.init([input_size, width], device),
            b_ih: init.init([width], device),
            w_hh: init.init([hidden_size, width], device),
            b_hh: init.init([width], device),
            kind,
            reverse,
        }
    }

    /// Width of the hidden state.
    pub fn hidden_size(&self) -> usize {
        self.w_hh.dims()[0]
    }

    /// Number of input features per time step.
    pub fn input_size(&self) -> usize {
        self.w_ih.dims()[0]
    }

    /// Runs the layer over `x` `[batch, time, input]` from `hidden` and (LSTM) `cell`, each
    /// `[batch, hidden]` (zeros when `None`).
    ///
    /// # Panics
    /// If the sequence has no time step.
    pub fn forward(
        &self,
        x: Tensor<3>,
        hidden: Option<Tensor<2>>,
        cell: Option<Tensor<2>>,
    ) -> GatedOutput {
        let [batch, time, _] = x.dims();
        assert!(time > 0, "a recurrent layer needs at least one time step");
        let size = self.hidden_size();
        let (device, dtype) = (x.device(), x.dtype());
        let zeros = || Tensor::<2>::zeros([batch, size], (&device, dtype));
        let h0 = hidden.unwrap_or_else(zeros);
        // An LSTM's two biases only ever appear summed; a GRU's hidden bias sits inside the
        // reset product, so the kernel takes it separately.
        let input_bias = match self.kind {
            GateKind::Lstm => self.b_ih.val() + self.b_hh.val(),
            GateKind::Gru => self.b_ih.val(),
        };
        let lstm = self.kind == GateKind::Lstm;
        let input = SequenceInput {
            x,
            w_in: kiln_kernels::float_weight(self.w_ih.val()),
            b_in: input_bias,
            w: kiln_kernels::float_weight(self.w_hh.val()),
            bias: (!lstm).then(|| self.b_hh.val()),
            c0: lstm.then(|| cell.unwrap_or_else(zeros)),
            h0,
        };
        let kernel = if lstm { Cell::Lstm } else { Cell::Gru };
        self.outputs(fused::sequence(kernel, input, self.reverse), time)
    }

    /// Runs the layer over the embedding rows `embedding[tokens]` (`tokens` `[batch, time]`,
    /// `embedding` `[vocabulary, input]`): [`forward`](Self::forward) of the embedded tokens, bit
    /// for bit. An LSTM on a CPU backend computes each token's input projection once where the
    /// batch holds at least as many tokens as the vocabulary ([`fused::lstm_tokens`]).
    ///
    /// # Panics
    /// If the sequence has no time step.
    pub fn forward_tokens(
        &self,
        tokens: Tensor<2, Int>,
        embedding: Tensor<2>,
        hidden: Option<Tensor<2>>,
        cell: Option<Tensor<2>>,
    ) -> GatedOutput {
        if self.kind != GateKind::Lstm {
            let x = burn::tensor::module::embedding(embedding, tokens);
            return self.forward(x, hidden, cell);
        }
        let [batch, time] = tokens.dims();
        assert!(time > 0, "a recurrent layer needs at least one time step");
        let size = self.hidden_size();
        let embedding = kiln_kernels::float_weight(embedding);
        let (device, dtype) = (embedding.device(), embedding.dtype());
        let zeros = || Tensor::<2>::zeros([batch, size], (&device, dtype));
        // The biases read first, then the weights, as `forward` reads them: Burn initialises a
        // parameter when it is first read, so the order fixes a seeded model's weights.
        let b_in = self.b_ih.val() + self.b_hh.val();
        let input = TokenSequenceInput {
            tokens,
            embedding,
            w_in: kiln_kernels::float_weight(self.w_ih.val()),
            b_in,
            w: kiln_kernels::float_weight(self.w_hh.val()),
            h0: hidden.unwrap_or_else(zeros),
            c0: cell.unwrap_or_else(zeros),
        };
        self.outputs(fused::lstm_tokens(input, self.reverse), time)
    }

    /// Splits a fused call's result over `time` steps into the outputs, the last hidden state
    /// and (LSTM) the final cell state, which the call appends as one extra step.
    fn outputs(&self, packed: Tensor<3>, time: usize) -> GatedOutput {
        let lstm = self.kind == GateKind::Lstm;
        let output = packed.clone().narrow(1, 0, time);
        let cell = lstm.then(|| packed.narrow(1, time, 1).squeeze_dim::<2>(1));
        let last = if self.reverse { 0 } else { time - 1 };
        let hidden = output.clone().narrow(1, last, 1).squeeze_dim::<2>(1);
        GatedOutput {
            output,
            hidden,
            cell,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{GateController, GruConfig, LstmConfig};
    use burn::tensor::Distribution;

    fn assert_close<const D: usize>(actual: Tensor<D>, expected: Tensor<D>, what: &str) {
        assert_eq!(actual.dims(), expected.dims(), "{what}: shape");
        let a = actual.into_data().try_into_vec::<f32>().unwrap();
        let e = expected.into_data().try_into_vec::<f32>().unwrap();
        for (i, (a, e)) in a.iter().zip(&e).enumerate() {
            assert!((a - e).abs() < 1e-5, "{what}, index {i}: {a} vs {e}");
        }
    }

    /// Kiln's layer holding the weights of Burn's gate controllers, in Kiln's gate order.
    fn from_burn(kind: GateKind, gates: &[&GateController]) -> GatedLayer {
        let cat2 = |f: &dyn Fn(&GateController) -> Tensor<2>| {
            Tensor::cat(gates.iter().map(|g| f(g)).collect(), 1)
        };
        let cat1 = |f: &dyn Fn(&GateController) -> Tensor<1>| {
            Tensor::cat(gates.iter().map(|g| f(g)).collect(), 0)
        };
        let bias = |l: &burn::nn::Linear| l.bias.as_ref().unwrap().val();
        GatedLayer {
            w_ih: Param::from_tensor(cat2(&|g| g.input_transform.weight.val()).detach()),
            b_ih: Param::from_tensor(cat1(&|g| bias(&g.input_transform)).detach()),
            w_hh: Param::from_tensor(cat2(&|g| g.hidden_transform.weight.val()).detach()),
            b_hh: Param::from_tensor(cat1(&|g| bias(&g.hidden_transform)).detach()),
            kind,
            reverse: false,
        }
    }

    /// Burn's hidden-weight gradients of `gates`, side by side.
    fn burn_grads(gates: &[&GateController], grads: &burn::tensor::Gradients) -> Tensor<2> {
        let each = gates
            .iter()
            .map(|g| g.hidden_transform.weight.grad(grads).expect("a gradient"))
            .collect();
        Tensor::cat(each, 1)
    }

    #[test]
    fn lstm_and_gru_match_burns_layers_in_outputs_and_gradients() {
        let device = Device::flex().autodiff();
        let x = Tensor::<3>::random([3, 6, 5], Distribution::Default, &device);

        let lstm = LstmConfig::new(5, 4, true).init(&device);
        let gates = [
            &lstm.input_gate,
            lstm.forget_gate.as_ref().unwrap(),
            &lstm.cell_gate,
            &lstm.output_gate,
        ];
        let ours = from_burn(GateKind::Lstm, &gates);
        let x_burn = x.clone().require_grad();
        let (expected, state) = lstm.forward(x_burn.clone(), None);
        let grads_burn = (expected.clone().sin().sum() + state.cell.clone().sum()).backward();
        let x_ours = x.clone().require_grad();
        let run = ours.forward(x_ours.clone(), None, None);
        let cell = run.cell.clone().unwrap();
        let grads_ours = (run.output.clone().sin().sum() + cell.clone().sum()).backward();
        assert_close(run.output, expected, "LSTM output");
        assert_close(cell, state.cell, "LSTM cell");
        assert_close(run.hidden, state.hidden, "LSTM hidden");
        assert_close(
            x_ours.grad(&grads_ours).unwrap(),
            x_burn.grad(&grads_burn).unwrap(),
            "LSTM d x",
        );
        assert_close(
            ours.w_hh.grad(&grads_ours).unwrap(),
            burn_grads(&gates, &grads_burn),
            "LSTM d w_hh",
        );

        let gru = GruConfig::new(5, 4, true).init(&device);
        let gates = [&gru.reset_gate, &gru.update_gate, &gru.new_gate];
        let ours = from_burn(GateKind::Gru, &gates);
        let x_burn = x.clone().require_grad();
        let expected = gru.forward(x_burn.clone(), None);
        let grads_burn = expected.clone().sin().sum().backward();
        let x_ours = x.require_grad();
        let run = ours.forward(x_ours.clone(), None, None);
        let grads_ours = run.output.clone().sin().sum().backward();
        assert_close(run.output, expected, "GRU output");
        assert_close(
            x_ours.grad(&grads_ours).unwrap(),
            x_burn.grad(&grads_burn).unwrap(),
            "GRU d x",
        );
        assert_close(
            ours.w_hh.grad(&grads_ours).unwrap(),
            burn_grads(&gates, &grads_burn),
            "GRU d w_hh",
        );
    }
}
