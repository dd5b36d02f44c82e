//! `model.py`: a plain `torch.nn.Module` of an [`Architecture`], whose `state_dict()` has
//! exactly the names and shapes of [`crate::torch_state_dict`], so that
//! `load_state_dict(..., strict=True)` reads Kiln's export.

use std::fmt::Write;

use crate::{Architecture, ConvBlockSpec, RecurrentSpec};

/// The source of `model.py` for `arch`, for a run named `name`.
pub fn torch_module_source(arch: &Architecture, name: &str) -> String {
    let mut py = String::new();
    let _ = writeln!(
        py,
        "\"\"\"Kiln run `{name}` as a plain torch.nn.Module (written by `kiln export --format \
         pytorch-module`).\n\nUsage:\n    import model\n    net, prep = model.load(\".\")   # reads \
         model.safetensors, preprocessing.json\n    logits = net(prep.standardize(x))\n\nThe \
         module takes standardised inputs of shape [batch, *input_shape] (preprocessing.json) \
         and returns logits.\n\"\"\""
    );
    py.push_str(PRELUDE);
    match arch {
        Architecture::Linear { inputs, outputs } => {
            let _ = writeln!(
                py,
                "\ndef build():\n    return nn.Linear({inputs}, {outputs})"
            );
        }
        Architecture::Mlp {
            inputs,
            hidden,
            outputs,
            activation,
            batch_norm,
            dropout,
        } => {
            py.push_str(MLP);
            let _ = writeln!(
                py,
                "\ndef build():\n    return Mlp({inputs}, {hidden:?}, {outputs}, {act:?}, {bn}, {dropout:?})",
                act = activation,
                bn = py_bool(*batch_norm),
            );
        }
        Architecture::Cnn {
            input_shape,
            blocks,
            global_pool,
            hidden,
            outputs,
            dropout,
        } => {
            py.push_str(CNN);
            let blocks: Vec<String> = blocks.iter().map(block_call).collect();
            let _ = writeln!(
                py,
                "\ndef build():\n    blocks = [\n        {}\n    ]\n    return Cnn(blocks, {}, {hidden:?}, {last}, {outputs}, {dropout:?})",
                blocks.join(",\n        "),
                py_bool(*global_pool),
                last = classifier_inputs(input_shape, arch),
            );
        }
        Architecture::Rnn { encoder, outputs } => {
            py.push_str(RNN);
            let _ = writeln!(
                py,
                "\ndef build():\n    return SequenceClassifier({}, {outputs})",
                encoder_call(encoder)
            );
        }
        Architecture::Charlm {
            vocab,
            encoder,
            dropout,
        } => {
            py.push_str(CHARLM);
            let _ = writeln!(
                py,
                "\ndef build():\n    return CharLanguageModel({vocab}, {}, {dropout:?})",
                encoder_call(encoder)
            );
        }
    }
    py.push_str(LOAD);
    py
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

fn block_call(b: &ConvBlockSpec) -> String {
    format!(
        "Block({}, {}, {}, {}, {}, {}, {}, {}, {}, {:?})",
        b.in_channels,
        b.out_channels,
        b.kernel_size,
        b.stride,
        b.padding,
        py_bool(b.batch_norm),
        py_bool(b.residual),
        py_bool(b.projection),
        b.pool,
        b.dropout
    )
}

/// Width of the flattened (or pooled) feature map the classifier reads.
fn classifier_inputs(input_shape: &[usize; 3], arch: &Architecture) -> usize {
    let Architecture::Cnn {
        blocks,
        global_pool,
        ..
    } = arch
    else {
        return 0;
    };
    let [mut h, mut w] = [input_shape[1], input_shape[2]];
    let mut channels = input_shape[0];
    for b in blocks {
        let k = if b.residual { 3 } else { b.kernel_size };
        let p = if b.residual { 1 } else { b.padding };
        h = (h + 2 * p - k) / b.stride + 1;
        w = (w + 2 * p - k) / b.stride + 1;
        h /= b.pool;
        w /= b.pool;
        channels = b.out_channels;
    }
    if *global_pool {
        channels
    } else {
        channels * h * w
    }
}

fn encoder_call(e: &RecurrentSpec) -> String {
    let class = match e.cell.as_str() {
        "lstm" => "nn.LSTM",
        "gru" => "nn.GRU",
        _ => "nn.RNN",
    };
    let nonlinearity = if e.cell == "rnn" {
        format!(", nonlinearity={:?}", e.nonlinearity)
    } else {
        String::new()
    };
    format!(
        "{class}({}, {}, num_layers={}, batch_first=True, bidirectional={}, dropout={:?}{nonlinearity})",
        e.input_size,
        e.hidden_size,
        e.num_layers,
        py_bool(e.bidirectional),
        e.dropout
    )
}

const PRELUDE: &str = r#"
import json
import os

import torch
from torch import nn
import torch.nn.functional as F
"#;

const MLP: &str = r#"

def activation(name):
    if name.startswith("leaky_relu:"):
        return nn.LeakyReLU(float(name.split(":")[1]))
    return {"relu": nn.ReLU(), "tanh": nn.Tanh(), "sigmoid": nn.Sigmoid(), "gelu": nn.GELU(),
            "gelu_tanh": nn.GELU(approximate="tanh"), "identity": nn.Identity()}[name]


class Mlp(nn.Module):
    """Linear -> [BatchNorm1d] -> activation -> [Dropout] per hidden size, then Linear."""

    def __init__(self, inputs, hidden, outputs, act, batch_norm, dropout):
        super().__init__()
        widths = [inputs] + list(hidden)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) for b in hidden) if batch_norm else nn.ModuleList()
        self.activation = activation(act)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(widths[-1], outputs)

    def forward(self, x):
        for i, layer in enumerate(self.hidden):
            x = layer(x)
            if len(self.norms):
                x = self.norms[i](x)
            x = self.dropout(self.activation(x))
        return self.output(x)
"#;

const CNN: &str = r#"

class Block(nn.Module):
    """Conv -> [BatchNorm2d] -> ReLU, or a residual block; then [MaxPool2d] and Dropout."""

    def __init__(self, cin, cout, k, stride, padding, batch_norm, residual, projection, pool, dropout):
        super().__init__()
        self.residual = residual
        if residual:
            self.conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.norm = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.norm2 = nn.BatchNorm2d(cout)
            if projection:
                self.projection = nn.Conv2d(cin, cout, 1, stride, 0, bias=False)
                self.projection_norm = nn.BatchNorm2d(cout)
            else:
                self.projection = None
        else:
            self.conv = nn.Conv2d(cin, cout, k, stride, padding, bias=not batch_norm)
            self.norm = nn.BatchNorm2d(cout) if batch_norm else None
        self.pool = nn.MaxPool2d(pool, pool) if pool > 1 else None
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        y = self.conv(x)
        if self.norm is not None:
            y = self.norm(y)
        if self.residual:
            y = self.norm2(self.conv2(F.relu(y)))
            skip = x if self.projection is None else self.projection_norm(self.projection(x))
            y = y + skip
        y = F.relu(y)
        if self.pool is not None:
            y = self.pool(y)
        return self.dropout(y)


class Cnn(nn.Module):
    """Conv blocks, flatten (or global average pooling), Linear -> ReLU per hidden size, Linear."""

    def __init__(self, blocks, global_pool, hidden, features, outputs, dropout):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.global_pool = global_pool
        widths = [features] + list(hidden)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(widths[-1], outputs)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        if self.global_pool:
            x = x.mean(dim=(2, 3))
        x = torch.flatten(x, 1)
        for layer in self.hidden:
            x = self.dropout(F.relu(layer(x)))
        return self.output(x)
"#;

const RNN: &str = r#"

class SequenceClassifier(nn.Module):
    """A recurrent encoder over [batch, time, features], then Linear on its last step."""

    def __init__(self, encoder, outputs):
        super().__init__()
        self.encoder = encoder
        directions = 2 if encoder.bidirectional else 1
        self.output = nn.Linear(encoder.hidden_size * directions, outputs)

    def forward(self, x):
        out, _ = self.encoder(x)
        return self.output(out[:, -1])
"#;

const CHARLM: &str = r#"

class CharLanguageModel(nn.Module):
    """Embedding -> recurrent encoder -> Dropout -> Linear at every step: logits [batch, time, vocab]."""

    def __init__(self, vocab, encoder, dropout):
        super().__init__()
        self.embedding = nn.Embedding(vocab, encoder.input_size)
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        directions = 2 if encoder.bidirectional else 1
        self.output = nn.Linear(encoder.hidden_size * directions, vocab)

    def forward(self, tokens, state=None):
        out, state = self.encoder(self.embedding(tokens), state)
        return self.output(self.dropout(out)), state
"#;

const LOAD: &str = r#"

class Preprocessing:
    """The standardisation fitted at training time (preprocessing.json)."""

    def __init__(self, spec):
        self.spec = spec
        self.input_shape = spec["input_shape"]
        self.mean = torch.tensor(spec["mean"], dtype=torch.float32)
        self.std = torch.tensor(spec["std"], dtype=torch.float32)

    def standardize(self, x):
        """Raw samples [batch, *input_shape] (or flattened) to what the module takes."""
        x = torch.as_tensor(x, dtype=torch.float32).reshape(-1, *self.input_shape)
        if self.mean.numel() == 0:
            return x
        flat = x.reshape(x.shape[0], -1)
        return ((flat - self.mean) / self.std).reshape(x.shape)


def load(directory=os.path.dirname(os.path.abspath(__file__))):
    """The module in eval mode with Kiln's weights (strict), and the preprocessing."""
    from safetensors.torch import load_file

    net = build()
    net.load_state_dict(load_file(os.path.join(directory, "model.safetensors")), strict=True)
    net.eval()
    with open(os.path.join(directory, "preprocessing.json")) as f:
        return net, Preprocessing(json.load(f))
"#;
