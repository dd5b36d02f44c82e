//! The fused kernels against the composed reference: same outputs and the same gradients for
//! every input, in both directions, for every cell, for a batch small enough to run in one part
//! and one split across threads.

use burn::prelude::*;
use burn::tensor::{DType, Distribution};
use kiln_kernels::testing::assert_close;

use super::{Cell, SequenceInput, TokenSequenceInput, composed, lstm_tokens, sequence};

/// A small batch (one part) and one large enough to be split across threads.
const SIZES: [(usize, usize, usize); 2] = [(3, 5, 4), (64, 6, 48)];

/// Features per step of the layer's input.
const FEATURES: usize = 7;

const CELLS: [Cell; 4] = [
    Cell::Lstm,
    Cell::Gru,
    Cell::Elman { relu: false },
    Cell::Elman { relu: true },
];

/// Random inputs of `(batch, time, hidden)` for `cell` on `device`.
fn inputs(
    cell: Cell,
    device: &Device,
    (batch, time, hidden): (usize, usize, usize),
) -> SequenceInput {
    let gates = match cell {
        Cell::Lstm => 4,
        Cell::Gru => 3,
        Cell::Elman { .. } => 1,
    };
    let uniform = Distribution::Uniform(-1.0, 1.0);
    let width = gates * hidden;
    SequenceInput {
        x: Tensor::random([batch, time, FEATURES], uniform, device),
        w_in: Tensor::random([FEATURES, width], uniform, device) * 0.5,
        b_in: Tensor::random([width], uniform, device),
        w: Tensor::random([hidden, width], uniform, device),
        bias: (cell == Cell::Gru).then(|| Tensor::random([width], uniform, device)),
        h0: Tensor::random([batch, hidden], uniform, device),
        c0: (cell == Cell::Lstm).then(|| Tensor::random([batch, hidden], uniform, device)),
    }
}

/// Every input as a fresh leaf that requires its gradient.
fn leaves(input: &SequenceInput) -> SequenceInput {
    SequenceInput {
        x: input.x.clone().detach().require_grad(),
        w_in: input.w_in.clone().detach().require_grad(),
        b_in: input.b_in.clone().detach().require_grad(),
        w: input.w.clone().detach().require_grad(),
        bias: input.bias.clone().map(|b| b.detach().require_grad()),
        h0: input.h0.clone().detach().require_grad(),
        c0: input.c0.clone().map(|c| c.detach().require_grad()),
    }
}

/// The input cast to `dtype`.
fn cast(input: &SequenceInput, dtype: DType) -> SequenceInput {
    SequenceInput {
        x: input.x.clone().cast(dtype),
        w_in: input.w_in.clone().cast(dtype),
        b_in: input.b_in.clone().cast(dtype),
        w: input.w.clone().cast(dtype),
        bias: input.bias.clone().map(|b| b.cast(dtype)),
        h0: input.h0.clone().cast(dtype),
        c0: input.c0.clone().map(|c| c.cast(dtype)),
    }
}

type Run = fn(Cell, SequenceInput, bool) -> Tensor<3>;

/// The output and the gradient of every input under a loss that weighs each output differently.
fn output_and_gradients(
    f: Run,
    cell: Cell,
    input: &SequenceInput,
    reverse: bool,
) -> Vec<Tensor<3>> {
    let leaves = leaves(input);
    let out = f(cell, leaves.clone(), reverse);
    let n = out.shape().num_elements() as i64;
    let weights = Tensor::<1, Int>::arange(0..n, &out.device())
        .float()
        .reshape(out.dims());
    let grads = (out.clone() * weights.sin()).sum().backward();
    let as3 = |t: Tensor<2>| t.unsqueeze::<3>();
    let mut all = vec![
        out.detach(),
        leaves.x.grad(&grads).expect("d x"),
        as3(leaves.w_in.grad(&grads).expect("d w_in")),
        leaves.b_in.grad(&grads).expect("d b_in").unsqueeze::<3>(),
        as3(leaves.w.grad(&grads).expect("d w")),
        as3(leaves.h0.grad(&grads).expect("d h0")),
    ];
    all.extend(
        leaves
            .bias
            .map(|b| b.grad(&grads).expect("d bias").unsqueeze::<3>()),
    );
    all.extend(leaves.c0.map(|c| as3(c.grad(&grads).expect("d c0"))));
    all
}

#[test]
fn fused_outputs_and_gradients_match_the_composed_reference() {
    let device = Device::flex().autodiff();
    let names = [
        "output",
        "d x",
        "d w_in",
        "d b_in",
        "d w",
        "d h0",
        "d bias or c0",
    ];
    for cell in CELLS {
        for size in SIZES {
            for reverse in [false, true] {
                // Rounding grows with the width of the sums and the number of steps.
                let tol = if size == SIZES[0] { 1e-5 } else { 3e-5 };
                let input = inputs(cell, &device, size);
                let fused = output_and_gradients(sequence, cell, &input, reverse);
                let reference = output_and_gradients(composed::sequence, cell, &input, reverse);
                assert_eq!(fused.len(), reference.len());
                for ((a, b), name) in fused.into_iter().zip(reference).zip(names) {
                    let what = format!("{cell:?}, size {size:?}, reverse {reverse}: {name}");
                    assert_close(a, b, tol, &what);
                }
            }
        }
    }
}

#[test]
fn half_precision_inputs_come_back_in_their_own_type() {
    let device = Device::flex();
    for dtype in [DType::F16, DType::BF16] {
        for cell in CELLS {
            let input = inputs(cell, &device, SIZES[0]);
            let reference = sequence(cell, input.clone(), false);
            let half = sequence(cell, cast(&input, dtype), false);
            assert_eq!(half.dtype(), dtype, "{cell:?}");
            assert_close(half, reference, 0.05, &format!("{cell:?} in {dtype:?}"));
        }
    }
}

#[test]
fn without_autodiff_the_fused_kernel_gives_the_same_outputs() {
    let device = Device::flex();
    for cell in CELLS {
        let input = inputs(cell, &device, SIZES[1]);
        let fused = sequence(cell, input.clone(), true);
        let reference = composed::sequence(cell, input, true);
        assert_close(fused, reference, 3e-5, &format!("{cell:?}"));
    }
}

#[test]
fn an_untracked_input_still_gives_the_weight_gradients() {
    let device = Device::flex().autodiff();
    for cell in CELLS {
        let input = inputs(cell, &device, SIZES[1]);
        let grads_of = |f: Run| {
            let w_in = input.w_in.clone().detach().require_grad();
            let w = input.w.clone().detach().require_grad();
            let run = SequenceInput {
                x: input.x.clone().detach(),
                w_in: w_in.clone(),
                w: w.clone(),
                ..input.clone()
            };
            let grads = f(cell, run, false).sum().backward();
            (w_in.grad(&grads).unwrap(), w.grad(&grads).unwrap())
        };
        let (fused_in, fused_w) = grads_of(sequence);
        let (ref_in, ref_w) = grads_of(composed::sequence);
        assert_close(fused_in, ref_in, 3e-5, &format!("{cell:?}: d w_in"));
        assert_close(fused_w, ref_w, 3e-5, &format!("{cell:?}: d w"));
    }
}

#[test]
fn lstm_inference_gives_the_training_forward_bit_for_bit() {
    // Off autodiff the LSTM sums its gates in register tiles without a tape (where the CPU has
    // them and the width is whole vectors: 48 here); on autodiff it keeps its tape.
    let training = Device::flex().autodiff();
    let plain = Device::flex();
    for size in SIZES {
        for reverse in [false, true] {
            let input = inputs(Cell::Lstm, &plain, size);
            let on_autodiff = SequenceInput {
                x: Tensor::from_data(input.x.to_data(), &training).require_grad(),
                w_in: Tensor::from_data(input.w_in.to_data(), &training),
                b_in: Tensor::from_data(input.b_in.to_data(), &training),
                w: Tensor::from_data(input.w.to_data(), &training),
                bias: None,
                h0: Tensor::from_data(input.h0.to_data(), &training),
                c0: input
                    .c0
                    .as_ref()
                    .map(|c| Tensor::from_data(c.to_data(), &training)),
            };
            let trained = sequence(Cell::Lstm, on_autodiff, reverse).inner();
            let inferred = sequence(Cell::Lstm, input, reverse);
            assert_eq!(
                bits(trained),
                bits(inferred),
                "size {size:?}, reverse {reverse}"
            );
        }
    }
}

/// An LSTM's `input` with token ids `[batch, time]` below `vocabulary` and a random embedding
/// in place of its `x`.
fn token_inputs(input: SequenceInput, vocabulary: usize) -> TokenSequenceInput {
    let device = input.x.device();
    let [batch, time, _] = input.x.dims();
    let ids: Vec<i64> = (0..batch * time)
        .map(|i| ((i * 7919 + 13) % vocabulary) as i64)
        .collect();
    let uniform = Distribution::Uniform(-1.0, 1.0);
    TokenSequenceInput {
        tokens: Tensor::<1, Int>::from_data(ids.as_slice(), &device).reshape([batch, time]),
        embedding: Tensor::random([vocabulary, FEATURES], uniform, &device),
        w_in: input.w_in,
        b_in: input.b_in,
        w: input.w,
        h0: input.h0,
        c0: input.c0.expect("an LSTM's inputs"),
    }
}

/// The values of `t` as bits.
fn bits(t: Tensor<3>) -> Vec<u32> {
    let values = t.into_data().try_to_vec::<f32>().expect("f32 values");
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn an_lstm_over_tokens_gives_the_embedded_sequence_bit_for_bit() {
    // A vocabulary of 10 against the 384 tokens of the larger batch: a table of every token's
    // input projection, looked up (where the CPU has the gate tiles); of 500: the tokens'
    // embedding rows projected step by step; the small batch: gemm's path.
    let device = Device::flex();
    for (size, vocabulary) in [(SIZES[0], 10), (SIZES[1], 10), (SIZES[1], 500)] {
        for reverse in [false, true] {
            let input = token_inputs(inputs(Cell::Lstm, &device, size), vocabulary);
            let expected = sequence(Cell::Lstm, input.clone().embedded(), reverse);
            assert_eq!(
                bits(lstm_tokens(input, reverse)),
                bits(expected),
                "size {size:?}, vocabulary {vocabulary}, reverse {reverse}"
            );
        }
    }
}

#[test]
fn on_autodiff_an_lstm_over_tokens_gives_the_embedding_its_gradient() {
    let device = Device::flex().autodiff();
    let input = token_inputs(inputs(Cell::Lstm, &device, SIZES[1]), 10);
    let run = |f: &dyn Fn(TokenSequenceInput) -> Tensor<3>| {
        let embedding = input.embedding.clone().detach().require_grad();
        let w_in = input.w_in.clone().detach().require_grad();
        let output = f(TokenSequenceInput {
            embedding: embedding.clone(),
            w_in: w_in.clone(),
            ..input.clone()
        });
        let grads = output.clone().sum().backward();
        let grad = |t: Tensor<2>| t.grad(&grads).expect("a gradient");
        (output.inner(), grad(embedding), grad(w_in))
    };
    let (output, d_embedding, d_w_in) = run(&|i| lstm_tokens(i, false));
    let (expected, e_embedding, e_w_in) = run(&|i| sequence(Cell::Lstm, i.embedded(), false));
    assert_eq!(bits(output), bits(expected), "output");
    let flat = |t: Tensor<2>| bits(t.unsqueeze_dim(0));
    assert_eq!(flat(d_embedding), flat(e_embedding), "d embedding");
    assert_eq!(flat(d_w_in), flat(e_w_in), "d w_in");
}
