//! The architecture of a zoo model, read off the model itself: what `model.py` and any other
//! reimplementation (the numpy forward pass of the tests) need besides the weights.

use burn::nn::PaddingConfig2d;
use burn::nn::activation::Activation;
use kiln_cnn::{Cnn, ConvBlock};
use kiln_fnn::Mlp;
use kiln_rnn::{CellKind, ElmanActivation, Recurrent, RecurrentLayer};
use kiln_train::{KilnError, Result};
use kiln_zoo::AnyModel;
use serde::Serialize;

/// A zoo model's architecture, as `architecture.json` holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Architecture {
    /// One linear layer: `[batch, inputs] -> [batch, outputs]`.
    Linear {
        /// Input features.
        inputs: usize,
        /// Outputs (logits).
        outputs: usize,
    },
    /// `Linear -> [BatchNorm1d] -> activation -> [Dropout]` per hidden size, then `Linear`.
    Mlp {
        /// Input features.
        inputs: usize,
        /// Hidden widths, first to last.
        hidden: Vec<usize>,
        /// Outputs (logits).
        outputs: usize,
        /// `relu`, `tanh`, `sigmoid`, `gelu`, `gelu_tanh`, `leaky_relu:<slope>` or `identity`.
        activation: String,
        /// Batch norm after each hidden linear layer.
        batch_norm: bool,
        /// Dropout probability (training only).
        dropout: f64,
    },
    /// Conv blocks, flatten or global average pooling, `Linear -> ReLU` per hidden size, `Linear`.
    Cnn {
        /// `[channels, height, width]` of an input image.
        input_shape: [usize; 3],
        /// The conv blocks, first to last.
        blocks: Vec<ConvBlockSpec>,
        /// Global average pooling before the classifier (else flatten, channels first).
        global_pool: bool,
        /// Hidden widths of the classifier.
        hidden: Vec<usize>,
        /// Outputs (logits).
        outputs: usize,
        /// Classifier dropout (training only).
        dropout: f64,
    },
    /// A recurrent encoder over `[batch, time, features]`, then `Linear` on its last step.
    Rnn {
        /// The encoder.
        encoder: RecurrentSpec,
        /// Outputs (logits).
        outputs: usize,
    },
    /// Character language model: `Embedding -> encoder -> Linear` at every step.
    Charlm {
        /// Vocabulary size.
        vocab: usize,
        /// The encoder (its input size is the embedding width).
        encoder: RecurrentSpec,
        /// Dropout before the output layer (training only).
        dropout: f64,
    },
}

/// One conv block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConvBlockSpec {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Square kernel size of the first convolution.
    pub kernel_size: usize,
    /// Its stride.
    pub stride: usize,
    /// Its zero padding on every side.
    pub padding: usize,
    /// Whether the first convolution has a bias.
    pub bias: bool,
    /// Batch norm after the first convolution.
    pub batch_norm: bool,
    /// A residual block: `conv -> bn -> relu -> conv2 (3x3) -> bn2`, plus the skip (a 1x1
    /// `projection` with its batch norm when present), then ReLU.
    pub residual: bool,
    /// The skip connection's 1x1 projection (residual blocks whose shape changes).
    pub projection: bool,
    /// Square max pool size and stride at the end of the block; 1 for none.
    pub pool: usize,
    /// Dropout at the end of the block (training only).
    pub dropout: f64,
}

/// A stacked recurrent encoder, batch first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecurrentSpec {
    /// `lstm`, `gru` or `rnn` (Elman).
    pub cell: String,
    /// Elman's non-linearity (`tanh` or `relu`); `tanh` for the gated cells.
    pub nonlinearity: String,
    /// Features per time step.
    pub input_size: usize,
    /// Width of one direction's hidden state.
    pub hidden_size: usize,
    /// Stacked levels.
    pub num_layers: usize,
    /// Each level also reads backwards; outputs are forward features, then backward ones.
    pub bidirectional: bool,
    /// Dropout between levels (training only).
    pub dropout: f64,
}

impl Architecture {
    /// The architecture of `model`. Models whose parts have no PyTorch counterpart here (an
    /// activation other than those listed) are an input error naming the part.
    pub fn of(model: &AnyModel) -> Result<Self> {
        Ok(match model {
            AnyModel::Linear(linear) => {
                let [inputs, outputs] = linear.weight.dims();
                Architecture::Linear { inputs, outputs }
            }
            AnyModel::Mlp(mlp) => mlp_architecture(mlp)?,
            AnyModel::Cnn(cnn) => cnn_architecture(cnn)?,
            AnyModel::Rnn(rnn) => Architecture::Rnn {
                encoder: recurrent_spec(&rnn.encoder),
                outputs: rnn.num_classes(),
            },
            AnyModel::Charlm(lm) => Architecture::Charlm {
                vocab: lm.vocab_size(),
                encoder: recurrent_spec(&lm.encoder),
                dropout: lm.dropout.prob,
            },
            AnyModel::Scatter(_) => {
                return Err(KilnError::Input(
                    "scattering networks cannot be exported in PyTorch's layout: their wavelet \
                     scattering transform has no torch.nn counterpart (only the Linear head has \
                     weights)"
                        .into(),
                ));
            }
        })
    }

    /// The shape of one input sample as the model's `forward` takes it (after
    /// standardisation): `[features]`, `[channels, height, width]`, `[time, features]` (the
    /// time steps of `sample_size` flattened values) or `[time]` token ids.
    pub fn input_shape(&self, sample_size: usize) -> Vec<usize> {
        match self {
            Architecture::Linear { inputs, .. } | Architecture::Mlp { inputs, .. } => {
                vec![*inputs]
            }
            Architecture::Cnn { input_shape, .. } => input_shape.to_vec(),
            Architecture::Rnn { encoder, .. } => {
                vec![sample_size / encoder.input_size.max(1), encoder.input_size]
            }
            Architecture::Charlm { .. } => vec![sample_size],
        }
    }
}

fn mlp_architecture(mlp: &Mlp) -> Result<Architecture> {
    let activation = match &mlp.activation {
        Activation::Relu(_) => "relu".to_string(),
        Activation::Tanh(_) => "tanh".into(),
        Activation::Sigmoid(_) => "sigmoid".into(),
        Activation::Identity(_) => "identity".into(),
        Activation::Gelu(g) if g.approximate => "gelu_tanh".into(),
        Activation::Gelu(_) => "gelu".into(),
        Activation::LeakyRelu(l) => format!("leaky_relu:{}", l.negative_slope),
        other => {
            return Err(KilnError::Input(format!(
                "the MLP's activation {other:?} has no export here (relu, tanh, sigmoid, gelu, \
                 leaky_relu and identity do)"
            )));
        }
    };
    Ok(Architecture::Mlp {
        inputs: mlp.input_size(),
        hidden: mlp.hidden.iter().map(|l| l.weight.dims()[1]).collect(),
        outputs: mlp.output.weight.dims()[1],
        activation,
        batch_norm: !mlp.norms.is_empty(),
        dropout: mlp.dropout.prob,
    })
}

fn cnn_architecture(cnn: &Cnn) -> Result<Architecture> {
    let blocks = cnn
        .blocks
        .iter()
        .enumerate()
        .map(|(i, b)| block_spec(b).map_err(|e| KilnError::Input(format!("conv block {i}: {e}"))))
        .collect::<Result<_>>()?;
    Ok(Architecture::Cnn {
        input_shape: cnn.input_shape,
        blocks,
        global_pool: cnn.global_pool.is_some(),
        hidden: cnn.hidden.iter().map(|l| l.weight.dims()[1]).collect(),
        outputs: cnn.output.weight.dims()[1],
        dropout: cnn.dropout.prob,
    })
}

fn block_spec(block: &ConvBlock) -> std::result::Result<ConvBlockSpec, String> {
    let conv = &block.conv;
    let [out_channels, in_channels, k0, k1] = conv.weight.dims();
    if k0 != k1 || conv.stride[0] != conv.stride[1] || conv.dilation != [1, 1] || conv.groups != 1 {
        return Err("only square, undilated, ungrouped convolutions are exported".into());
    }
    let padding = match conv.padding {
        PaddingConfig2d::Valid => 0,
        PaddingConfig2d::Explicit(a, b, c, d) if a == b && b == c && c == d => a,
        ref other => return Err(format!("padding {other:?} is not exported")),
    };
    let pool = match &block.pool {
        None => 1,
        Some(p) if p.kernel_size[0] == p.kernel_size[1] && p.stride == p.kernel_size => {
            p.kernel_size[0]
        }
        Some(_) => return Err("only square max pools with stride = size are exported".into()),
    };
    Ok(ConvBlockSpec {
        in_channels,
        out_channels,
        kernel_size: k0,
        stride: conv.stride[0],
        padding,
        bias: conv.bias.is_some(),
        batch_norm: block.norm.is_some(),
        residual: block.is_residual(),
        projection: block.projection.is_some(),
        pool,
        dropout: block.dropout.prob,
    })
}

fn recurrent_spec(encoder: &Recurrent) -> RecurrentSpec {
    let (cell, nonlinearity) = match (encoder.cell_kind(), &encoder.layers[0]) {
        (CellKind::Lstm, _) => ("lstm", "tanh"),
        (CellKind::Gru, _) => ("gru", "tanh"),
        (CellKind::Elman, RecurrentLayer::Elman(e))
            if e.layers[0].activation == ElmanActivation::Relu =>
        {
            ("rnn", "relu")
        }
        (CellKind::Elman, _) => ("rnn", "tanh"),
    };
    RecurrentSpec {
        cell: cell.into(),
        nonlinearity: nonlinearity.into(),
        input_size: encoder.input_size(),
        hidden_size: encoder.hidden_size,
        num_layers: encoder.num_layers(),
        bidirectional: encoder.bidirectional,
        dropout: encoder.dropout.prob,
    }
}
