"""A forward pass of a `kiln export --format pytorch-module` folder in numpy alone.

Reads model.safetensors (PyTorch's names and layout) and architecture.json, and computes the
logits of standardised inputs, independently of Kiln and of PyTorch:

    python3 numpy_forward.py EXPORT_DIR INPUTS.json   # prints {"logits": [[...], ...]}

INPUTS.json holds {"inputs": [[...], ...]}: standardised samples, flattened.
MLP, CNN (plain and residual blocks, batch norm, max pooling) and the linear model.
"""
import json
import sys

import numpy as np
from safetensors.numpy import load_file


def batch_norm(x, w, prefix, axis=1, eps=1e-5):
    shape = [1] * x.ndim
    shape[axis] = -1
    mean = w[prefix + ".running_mean"].reshape(shape)
    var = w[prefix + ".running_var"].reshape(shape)
    gamma = w[prefix + ".weight"].reshape(shape)
    beta = w[prefix + ".bias"].reshape(shape)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def linear(x, w, prefix):
    return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]


def activation(name, x):
    if name.startswith("leaky_relu:"):
        return np.where(x > 0, x, x * float(name.split(":")[1]))
    if name == "relu":
        return np.maximum(x, 0)
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "identity":
        return x
    raise SystemExit(f"activation {name} is not implemented here")


def conv2d(x, weight, bias, stride, padding):
    """x [n, c, h, w], weight [f, c, k, k] (PyTorch's cross-correlation)."""
    n, c, h, wd = x.shape
    f, _, k, _ = weight.shape
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh = (h + 2 * padding - k) // stride + 1
    ow = (wd + 2 * padding - k) // stride + 1
    cols = np.empty((n, c, k, k, oh, ow), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = x[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
    out = np.einsum("nckloq,fckl->nfoq", cols, weight, optimize=True)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out


def max_pool(x, size):
    n, c, h, w = x.shape
    oh, ow = h // size, w // size
    x = x[:, :, :oh * size, :ow * size].reshape(n, c, oh, size, ow, size)
    return x.max(axis=(3, 5))


def block(x, w, prefix, spec):
    if spec["residual"]:
        y = conv2d(x, w[prefix + ".conv.weight"], None, spec["stride"], 1)
        y = np.maximum(batch_norm(y, w, prefix + ".norm"), 0)
        y = batch_norm(conv2d(y, w[prefix + ".conv2.weight"], None, 1, 1), w, prefix + ".norm2")
        skip = x
        if spec["projection"]:
            skip = conv2d(x, w[prefix + ".projection.weight"], None, spec["stride"], 0)
            skip = batch_norm(skip, w, prefix + ".projection_norm")
        y = y + skip
    else:
        bias = w.get(prefix + ".conv.bias")
        y = conv2d(x, w[prefix + ".conv.weight"], bias, spec["stride"], spec["padding"])
        if spec["batch_norm"]:
            y = batch_norm(y, w, prefix + ".norm")
    y = np.maximum(y, 0)
    if spec["pool"] > 1:
        y = max_pool(y, spec["pool"])
    return y


def forward(arch, w, x):
    kind = arch["kind"]
    if kind == "linear":
        return x @ w["weight"].T + w["bias"]
    if kind == "mlp":
        for i in range(len(arch["hidden"])):
            x = linear(x, w, f"hidden.{i}")
            if arch["batch_norm"]:
                x = batch_norm(x, w, f"norms.{i}")
            x = activation(arch["activation"], x)
        return linear(x, w, "output")
    if kind == "cnn":
        x = x.reshape(x.shape[0], *arch["input_shape"])
        for i, spec in enumerate(arch["blocks"]):
            x = block(x, w, f"blocks.{i}", spec)
        if arch["global_pool"]:
            x = x.mean(axis=(2, 3))
        x = x.reshape(x.shape[0], -1)
        for i in range(len(arch["hidden"])):
            x = np.maximum(linear(x, w, f"hidden.{i}"), 0)
        return linear(x, w, "output")
    raise SystemExit(f"model kind {kind} is not implemented in the numpy forward pass")


def main():
    folder, inputs = sys.argv[1], sys.argv[2]
    with open(f"{folder}/architecture.json") as f:
        arch = json.load(f)
    weights = {k: v.astype(np.float64) for k, v in load_file(f"{folder}/model.safetensors").items()}
    with open(inputs) as f:
        x = np.asarray(json.load(f)["inputs"], dtype=np.float64)
    print(json.dumps({"logits": forward(arch, weights, x).tolist()}))


if __name__ == "__main__":
    main()
