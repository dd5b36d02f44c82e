#!/usr/bin/env python3
"""Compare Kiln with PyTorch on the seven reference models: training, inference and batch-1 latency.

Usage (from anywhere; paths are resolved from the repository root):

    python benches/compare_pytorch.py [--kiln PATH_TO_KILN_BINARY] [--rounds N] [--steps N]
        [--models mlp,cnn,lstm,rnn,gru,resnet,char] [--threads N] [--markdown FILE] [--json FILE]

The models and the Kiln configs they mirror:

* ``mlp`` (mlp-mnist), ``cnn`` (cnn-mnist, the LeNet-style reference CNN), ``lstm``, ``rnn``,
  ``gru`` (``*-seqmnist``, 28 rows of 28 pixels, hidden 128): Adam lr 1e-3, batch 64, and a
  global gradient-norm clip of 1.0 for the recurrent ones, as Kiln's configs do.
* ``resnet`` (resnet-mnist, Kiln's ``resnet`` preset): a 3x3 stem conv to 32 channels + batch
  norm + ReLU, residual blocks to 64 and 128 channels (stride 2 each, a 1x1 projection + batch
  norm on the skip), global average pooling, Linear(128, 10); 289,514 trainable parameters
  (290,730 with the batch-norm running statistics, which Kiln counts). AdamW lr 3e-3 with
  decoupled weight decay 1e-4 on every parameter: Kiln maps ``[regularization] l2`` to AdamW's
  weight decay, as ``torch.optim.AdamW(weight_decay=...)`` applies it. Batch 64.
* ``char`` (char-shakespeare at LSTM 576, ``model.hidden=576``; the shipped config has 640):
  embedding 64 -> LSTM 576 -> dropout 0.6 -> Linear to the 73
  characters of the Shakespeare text that Kiln embeds; 128 parallel streams x 50 characters a
  step (truncated back-propagation through time, the hidden state carried to the next chunk
  detached), Adam lr 4e-3, global gradient-norm clip 1.0. Its rates count characters
  (128 x 50 a training step), as ``kiln bench`` reports them for a language model.

All in float32, from the same data (the MNIST-10k digits and the Shakespeare text embedded in
Kiln), without the configs' learning-rate schedules (a few scalar operations a step) and
without augmentation (Kiln's cnn and resnet are measured with ``data.augment_shift=0`` and
``data.augment_rotation=0``).

For each model the script alternates the two programs -- Kiln, PyTorch, Kiln, PyTorch, ... --
for ``--rounds`` rounds (default 3). Each measurement runs in a fresh process, so the peak
resident memory reported is that of one measurement (training and inference):

* Kiln: ``kiln bench CONFIG --steps N --json TMPFILE``; ``train_samples_per_sec``,
  ``infer_samples_per_sec``, ``infer_batch1_ms`` and ``peak_rss_mib`` are read from the JSON.
* PyTorch: this script re-run as ``--torch-worker MODEL``, which does what ``kiln bench`` does
  (crates/kiln-experiment/src/bench.rs and bench_text.rs) and prints one JSON line.

What each measurement is, on both sides:

* training (samples/s, characters/s for ``char``): 5 warm-up steps dropped, then the following
  steps timed in windows of 5 steps; the median window throughput.
* inference, batch 256 (``infer_samples_per_sec``): without autodiff (PyTorch: ``model.eval()``
  under ``torch.inference_mode()``), the logits of one batch of 256 test samples (cycling
  through the test set) read back, 25 times; the first 5 dropped, the median over windows of 5
  calls. For ``char``: the forward pass of the first 128 x 50 training chunk from a zero state
  (characters/s).
* batch-1 latency (``infer_batch1_ms``, milliseconds): the same inference on ONE test sample,
  5 warm-up calls, then the median of 50 calls each timed alone (the upper middle value, as
  Kiln takes it). For ``char``: one step of generation -- one character of the training text
  in (a 1 x 1 tensor made each call), the state of the previous step fed back, the logits of
  that character read back; sampling (softmax and draw) is not included on either side.

The report is a Markdown table: per model the median of each program over the rounds (training
also with its min-max range; every range is in ``--json``), and three ratios, each > 1 when
Kiln is faster: training Kiln/PyTorch and inference Kiln/PyTorch (throughputs), and batch-1
PyTorch ms / Kiln ms (latencies). Its header names the CPU, its vector extensions (the
``avx512*`` flags of /proc/cpuinfo, or "AVX2 only") and both programs' thread counts. It is
printed, and written to ``--markdown FILE`` if given; ``--json FILE`` keeps every raw number.

Build Kiln first with ``cargo build --release``. The only dependencies are torch and numpy;
without them, or without the kiln binary, the script exits with status 2.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import hashlib
import json
import math
import os
import platform
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MNIST_DIR = REPO_ROOT / "crates" / "kiln-data" / "data" / "mnist-10k"
SHAKESPEARE_DIR = REPO_ROOT / "crates" / "kiln-data" / "data" / "shakespeare"
DEFAULT_KILN = REPO_ROOT / "target" / "release" / "kiln"

# Model name -> shipped Kiln config.
KILN_CONFIGS = {
    "mlp": "mlp-mnist",
    "cnn": "cnn-mnist",
    "lstm": "lstm-seqmnist",
    "rnn": "rnn-seqmnist",
    "gru": "gru-seqmnist",
    "resnet": "resnet-mnist",
    "char": "char-shakespeare",
}
RECURRENT = {"lstm", "rnn", "gru"}
TEXT_MODELS = {"char"}
# The PyTorch side does not augment, so Kiln's CNNs are measured without their configs'
# augmentation.
NO_AUGMENTATION = ["--set", "data.augment_shift=0", "--set", "data.augment_rotation=0"]
# The character model is measured at the performance issue's shape, LSTM 576 (the config's
# shipped model is LSTM 640 since 2026-12-07, to keep its 2.0 bits per character).
KILN_OVERRIDES = {
    "cnn": NO_AUGMENTATION,
    "resnet": NO_AUGMENTATION,
    "char": ["--set", "model.hidden=576"],
}

# Mirrors crates/kiln-experiment/src/bench.rs, bench_text.rs and the reference configs.
BATCH_SIZE = 64
WARMUP_STEPS = 5
WINDOW_STEPS = 5
MIN_STEPS = 10
LEARNING_RATE = 1e-3
CLIP_GRAD_NORM = 1.0
SEED = 42
CNN_PARAMETERS = 225_034
# Inference: batches of 256, 5 warm-up calls + 20 timed in windows of 5 (bench.rs).
INFER_BATCH = 256
INFER_WARMUP = 5
INFER_CALLS = 20
# Batch-1 latency: 5 warm-up calls, then the median of 50 (bench.rs BATCH1_WARMUP, BATCH1_CALLS).
BATCH1_WARMUP = 5
BATCH1_CALLS = 50

# resnet-mnist: AdamW lr 0.003, [regularization] l2 = 1e-4 as AdamW's decoupled weight decay.
RESNET_LEARNING_RATE = 3e-3
RESNET_WEIGHT_DECAY = 1e-4
RESNET_PARAMETERS = 289_514  # trainable: weights, biases, batch-norm gamma and beta
RESNET_PARAMETERS_WITH_STATISTICS = 290_730  # Kiln's count (`kiln inspect`)

# char-shakespeare: 128 streams x 50 characters, embedding 64, LSTM 576, dropout 0.6, Adam lr
# 0.004, clip 1.0, the first 90% of the text for training (data.valid_fraction = 0.1).
CHAR_STREAMS = 128
CHAR_SEQ_LEN = 50
CHAR_EMBEDDING = 64
CHAR_HIDDEN = 576
CHAR_DROPOUT = 0.6
CHAR_LEARNING_RATE = 4e-3
CHAR_VALID_FRACTION = 0.1
CHAR_VOCAB = 73
CHAR_PARAMETERS = 1_525_961  # Kiln's count (`kiln inspect` of a char-shakespeare run)


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def fail(message: str, code: int = 1) -> None:
    """Prints `message` to stderr and exits with `code`."""
    print(f"compare_pytorch: {message}", file=sys.stderr)
    sys.exit(code)


def expected_sha256(directory: Path) -> dict[str, str]:
    """The file -> sha256 table of the folder's SHA256SUMS (empty if there is none)."""
    sums = directory / "SHA256SUMS"
    if not sums.is_file():
        return {}
    table = {}
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            table[parts[1].lstrip("*")] = parts[0]
    return table


def read_idx(path: Path, magic: int, ndim: int, sha256: str | None):
    """Reads a gzip-compressed IDX file of uint8 values as a numpy array."""
    import numpy as np

    if not path.is_file():
        fail(f"MNIST-10k file not found: {path}")
    raw = path.read_bytes()
    if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
        fail(f"{path} does not match its sha256 in SHA256SUMS")
    try:
        data = gzip.decompress(raw)
    except OSError as error:
        fail(f"cannot decompress {path}: {error}")
    header = 4 + 4 * ndim
    if len(data) < header or struct.unpack(">I", data[:4])[0] != magic:
        fail(f"{path} is not an IDX file with magic {magic:#010x}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    payload = np.frombuffer(data, dtype=np.uint8, offset=header)
    if payload.size != int(np.prod(dims)):
        fail(f"{path}: {payload.size} values, the header says {dims}")
    return payload.reshape(dims)


def load_mnist(count: int, split: str = "train"):
    """The first `count` images of `split` ("train" or "t10k", the test set; cycling) as float32
    [count, 28, 28] in [0, 1], and their labels."""
    import numpy as np

    sums = expected_sha256(MNIST_DIR)
    images = read_idx(
        MNIST_DIR / f"{split}-images-idx3-ubyte.gz", 0x00000803, 3,
        sums.get(f"{split}-images-idx3-ubyte.gz"),
    )
    labels = read_idx(
        MNIST_DIR / f"{split}-labels-idx1-ubyte.gz", 0x00000801, 1,
        sums.get(f"{split}-labels-idx1-ubyte.gz"),
    )
    if images.shape[1:] != (28, 28) or images.shape[0] != labels.shape[0]:
        fail(f"unexpected MNIST-10k shapes: images {images.shape}, labels {labels.shape}")
    order = np.arange(count) % images.shape[0]
    return images[order].astype(np.float32) / 255.0, labels[order].astype(np.int64)


def load_mnist_train(count: int):
    """The first `count` training images (cycling) as float32 [count, 28, 28] in [0, 1], and labels."""
    return load_mnist(count, "train")


def load_shakespeare():
    """The embedded Shakespeare text as Kiln encodes it: (vocabulary, training tokens).

    The vocabulary is the text's distinct characters sorted by code point, a token the index of
    its character; the training part is the first round(90%) of the tokens (crates/kiln-data
    src/text.rs `Corpus`, `split_at_fraction`).
    """
    import numpy as np

    path = SHAKESPEARE_DIR / "tragedies.txt.gz"
    if not path.is_file():
        fail(f"Shakespeare text not found: {path}")
    raw = path.read_bytes()
    sha256 = expected_sha256(SHAKESPEARE_DIR).get(path.name)
    if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
        fail(f"{path} does not match its sha256 in SHA256SUMS")
    try:
        text = gzip.decompress(raw).decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"cannot read {path} as gzip-compressed UTF-8 text: {error}")
    vocab = sorted(set(text))
    index = {char: i for i, char in enumerate(vocab)}
    tokens = np.fromiter((index[char] for char in text), dtype=np.int64, count=len(text))
    # Rust's f64::round rounds halves away from zero; the product is positive.
    cut = math.floor(len(tokens) * (1.0 - CHAR_VALID_FRACTION) + 0.5)
    return vocab, tokens[:cut]


# ---------------------------------------------------------------------------------------------
# PyTorch models and worker
# ---------------------------------------------------------------------------------------------


def build_model(name: str):
    """The PyTorch twin of Kiln's reference model `name`."""
    from torch import nn

    if name == "mlp":
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 256), nn.ReLU(),
            nn.Linear(256, 128), nn.ReLU(),
            nn.Linear(128, 10),
        )
    if name == "cnn":
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 5 * 5, 128), nn.ReLU(),
            nn.Linear(128, 10),
        )
        count = sum(p.numel() for p in model.parameters())
        assert count == CNN_PARAMETERS, f"cnn has {count} parameters, Kiln's lenet {CNN_PARAMETERS}"
        return model
    if name == "resnet":
        model = small_resnet()
        count = sum(p.numel() for p in model.parameters())
        running = sum(
            buffer.numel() for key, buffer in model.named_buffers()
            if key.endswith(("running_mean", "running_var"))
        )
        assert count == RESNET_PARAMETERS, (
            f"resnet has {count} parameters, Kiln's {RESNET_PARAMETERS}")
        assert count + running == RESNET_PARAMETERS_WITH_STATISTICS, (
            f"resnet has {count + running} values with its running statistics, "
            f"Kiln's {RESNET_PARAMETERS_WITH_STATISTICS}"
        )
        return model
    if name in RECURRENT:
        return sequence_classifier(name)
    raise ValueError(f"unknown model {name!r}")


def small_resnet():
    """Kiln's `resnet` preset (crates/kiln-cnn `CnnConfig::resnet_small`, `ConvBlock`, `Cnn`).

    conv3x3(1->32, pad 1, no bias) + BN + ReLU; residual blocks 32->64 and 64->128, stride 2
    each: conv3x3(stride 2, no bias) + BN + ReLU, conv3x3 + BN, plus a 1x1 stride-2 projection
    (no bias) + BN on the skip, added, ReLU; global average pooling; Linear(128, 10) (no hidden
    layer). Batch norm: momentum 0.1, epsilon 1e-5 on both sides.
    """
    from torch import nn

    class ResidualBlock(nn.Module):
        def __init__(self, in_channels: int, out_channels: int, stride: int):
            super().__init__()
            self.conv = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
            self.norm = nn.BatchNorm2d(out_channels)
            self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
            self.norm2 = nn.BatchNorm2d(out_channels)
            self.projection = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
            self.activation = nn.ReLU()

        def forward(self, x):
            y = self.activation(self.norm(self.conv(x)))
            y = self.norm2(self.conv2(y))
            return self.activation(y + self.projection(x))

    return nn.Sequential(
        nn.Conv2d(1, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        ResidualBlock(32, 64, 2),
        ResidualBlock(64, 128, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(128, 10),
    )


def char_model(vocab: int):
    """char-shakespeare's model (crates/kiln-rnn `CharLanguageModel`): Embedding(vocab, 64) ->
    LSTM(64, 576) -> Dropout(0.6) -> Linear(576, vocab); `forward(tokens, state)` returns the
    logits [batch, time, vocab] and the state that continues the sequences."""
    from torch import nn

    class CharModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, CHAR_EMBEDDING)
            self.encoder = nn.LSTM(CHAR_EMBEDDING, CHAR_HIDDEN, num_layers=1, batch_first=True)
            self.dropout = nn.Dropout(CHAR_DROPOUT)
            self.output = nn.Linear(CHAR_HIDDEN, vocab)

        def forward(self, tokens, state=None):
            features, state = self.encoder(self.embedding(tokens), state)
            return self.output(self.dropout(features)), state

    model = CharModel()
    count = sum(p.numel() for p in model.parameters())
    if vocab == CHAR_VOCAB:
        assert count == CHAR_PARAMETERS, f"char has {count} parameters, Kiln's {CHAR_PARAMETERS}"
    return model


def sequence_classifier(cell: str):
    """28 rows of 28 pixels -> one recurrent layer (hidden 128) -> Linear(128, 10) on the last step.

    `cell` is lstm, rnn (tanh) or gru. The class is defined here so the script imports without torch.
    """
    from torch import nn

    class SequenceClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            if cell == "lstm":
                self.rnn = nn.LSTM(28, 128, num_layers=1, batch_first=True)
            elif cell == "gru":
                self.rnn = nn.GRU(28, 128, num_layers=1, batch_first=True)
            else:
                self.rnn = nn.RNN(28, 128, num_layers=1, nonlinearity="tanh", batch_first=True)
            self.head = nn.Linear(128, 10)

        def forward(self, images):
            outputs, _ = self.rnn(images.reshape(images.shape[0], 28, 28))
            return self.head(outputs[:, -1, :])

    return SequenceClassifier()


def median_window_rate(times: list[float], window: int) -> float:
    """Median steps/s over windows of `window` intervals, as `median_rate` in Kiln's bench.rs."""
    rates = sorted(
        window / max(times[i + window] - times[i], 1e-12)
        for i in range(0, len(times) - window, window)
    )
    return rates[len(rates) // 2] if rates else float("nan")


def median_latency_ms(call, warmup: int = BATCH1_WARMUP, timed: int = BATCH1_CALLS) -> float:
    """Median wall time of `timed` calls of `call` after `warmup` untimed ones, in milliseconds
    (the upper middle value for an even count), as `median_latency_ms` in Kiln's bench.rs."""
    for _ in range(warmup):
        call()
    millis = []
    for _ in range(timed):
        start = time.perf_counter()
        call()
        millis.append((time.perf_counter() - start) * 1e3)
    millis.sort()
    return millis[len(millis) // 2] if millis else float("nan")


def timed_calls(call, count: int) -> list[float]:
    """`perf_counter` before the first of `count` calls of `call` and after each."""
    times = [time.perf_counter()]
    for _ in range(count):
        call()
        times.append(time.perf_counter())
    return times


def torch_worker(name: str, steps: int, threads: int) -> dict:
    """Trains PyTorch's `name` model for warm-up + `steps` steps, then measures its inference at
    batch 256 and batch 1; returns the measurement."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    steps = max(steps, MIN_STEPS)
    if name in TEXT_MODELS:
        result = char_worker(steps)
    else:
        result = image_worker(name, steps)
    result.update({
        "model": name,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
    })
    return result


def image_worker(name: str, steps: int) -> dict:
    """Training, inference and batch-1 latency of an MNIST classifier (bench.rs `bench`)."""
    import torch
    from torch import nn

    total_steps = WARMUP_STEPS + steps
    images, labels = load_mnist_train(total_steps * BATCH_SIZE)
    inputs = torch.from_numpy(images).unsqueeze(1)  # [N, 1, 28, 28], float32
    targets = torch.from_numpy(labels)

    model = build_model(name).float()
    model.train()
    params = list(model.parameters())
    if name == "resnet":
        optimizer = torch.optim.AdamW(
            params, lr=RESNET_LEARNING_RATE, weight_decay=RESNET_WEIGHT_DECAY)
    else:
        optimizer = torch.optim.Adam(params, lr=LEARNING_RATE)
    loss_fn = nn.CrossEntropyLoss()
    clip = name in RECURRENT

    times = []
    for step in range(total_steps):
        start = step * BATCH_SIZE
        x = inputs[start:start + BATCH_SIZE]
        y = targets[start:start + BATCH_SIZE]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(params, CLIP_GRAD_NORM)
        optimizer.step()
        times.append(time.perf_counter())
    rate = median_window_rate(times[WARMUP_STEPS:], WINDOW_STEPS) * BATCH_SIZE

    # Inference without autodiff: a batch of 256 test images, then one.
    test_images, _ = load_mnist(INFER_BATCH, "t10k")
    batch = torch.from_numpy(test_images).unsqueeze(1)
    single = batch[:1].clone()
    model.eval()
    with torch.inference_mode():
        infer_times = timed_calls(lambda: model(batch).numpy(), INFER_WARMUP + INFER_CALLS)
        infer_rate = median_window_rate(infer_times[INFER_WARMUP:], WINDOW_STEPS) * INFER_BATCH
        batch1_ms = median_latency_ms(lambda: model(single).numpy())
    return {
        "unit": "samples",
        "train_samples_per_sec": rate,
        "infer_samples_per_sec": infer_rate,
        "infer_batch1_ms": batch1_ms,
        "steps": len(times) - WARMUP_STEPS,
        "batch_size": BATCH_SIZE,
        "parameters": sum(p.numel() for p in params),
        "final_loss": float(loss.detach()),
    }


def char_worker(steps: int) -> dict:
    """Training, inference and generation-step latency of the character model (bench_text.rs).

    Training: chunk k of 128 streams laid out as in Kiln's `StreamChunks` over just enough of
    the training text, the LSTM state carried detached from chunk to chunk. Inference: the
    forward pass of the first chunk from a zero state. Batch 1: one character of the training
    text at a time, with the state of the previous step.
    """
    import torch
    from torch import nn

    vocab, train_tokens = load_shakespeare()
    chunks = WARMUP_STEPS + steps
    needed = CHAR_STREAMS * (chunks * CHAR_SEQ_LEN + 1)
    if len(train_tokens) < needed:
        fail(
            f"the training text ({len(train_tokens)} characters) is too short for {chunks} steps "
            f"of {CHAR_STREAMS} streams x {CHAR_SEQ_LEN} characters; pass fewer --steps"
        )
    stream_len = needed // CHAR_STREAMS
    streams = torch.from_numpy(train_tokens[:needed].copy()).reshape(CHAR_STREAMS, stream_len)

    def chunk(index: int):
        start = index * CHAR_SEQ_LEN
        return (streams[:, start:start + CHAR_SEQ_LEN],
                streams[:, start + 1:start + 1 + CHAR_SEQ_LEN])

    model = char_model(len(vocab)).float()
    model.train()
    params = list(model.parameters())
    optimizer = torch.optim.Adam(params, lr=CHAR_LEARNING_RATE)
    loss_fn = nn.CrossEntropyLoss()

    state = None
    times = []
    for index in range(chunks):
        x, y = chunk(index)
        optimizer.zero_grad(set_to_none=True)
        logits, state = model(x, state)
        loss = loss_fn(logits.reshape(-1, len(vocab)), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP_GRAD_NORM)
        optimizer.step()
        state = tuple(s.detach() for s in state)
        times.append(time.perf_counter())
    per_step = CHAR_STREAMS * CHAR_SEQ_LEN
    rate = median_window_rate(times[WARMUP_STEPS:], WINDOW_STEPS) * per_step

    model.eval()
    first, _ = chunk(0)
    first = first.contiguous()
    generation = {"state": None, "position": 0}

    def generation_step():
        token = int(train_tokens[generation["position"] % len(train_tokens)])
        generation["position"] += 1
        logits, generation["state"] = model(torch.tensor([[token]]), generation["state"])
        logits.numpy()

    with torch.inference_mode():
        infer_times = timed_calls(lambda: model(first)[0].numpy(), INFER_WARMUP + INFER_CALLS)
        infer_rate = median_window_rate(infer_times[INFER_WARMUP:], WINDOW_STEPS) * per_step
        batch1_ms = median_latency_ms(generation_step)
    return {
        "unit": "characters",
        "train_samples_per_sec": rate,
        "infer_samples_per_sec": infer_rate,
        "infer_batch1_ms": batch1_ms,
        "steps": len(times) - WARMUP_STEPS,
        "batch_size": CHAR_STREAMS,
        "seq_len": CHAR_SEQ_LEN,
        "parameters": sum(p.numel() for p in params),
        "final_loss": float(loss.detach()),
    }


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------


# What both programs report, per measurement.
KILN_KEYS = ("train_samples_per_sec", "infer_samples_per_sec", "infer_batch1_ms", "peak_rss_mib")


def run_kiln(kiln: Path, name: str, steps: int) -> dict:
    """Runs `kiln bench` once for model `name`; returns its JSON report."""
    with tempfile.TemporaryDirectory(prefix="kiln-bench-") as tmp:
        report = Path(tmp) / "bench.json"
        command = [str(kiln), "bench", KILN_CONFIGS[name], "--steps", str(steps), "--json", str(report)]
        command += KILN_OVERRIDES.get(name, [])
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
        if result.returncode != 0 or not report.is_file():
            fail(f"`{' '.join(command)}` failed (exit {result.returncode}):\n{result.stderr.strip()}")
        measured = json.loads(report.read_text())
    missing = [key for key in KILN_KEYS if not isinstance(measured.get(key), (int, float))]
    if missing:
        fail(f"`{' '.join(command)}` wrote no {', '.join(missing)}: {kiln} is older than this "
             f"script; rebuild it with `cargo build --release` (in {REPO_ROOT})")
    return measured


def run_torch(name: str, steps: int, threads: int) -> dict:
    """Runs one PyTorch measurement of model `name` in a fresh Python process."""
    command = [
        sys.executable, str(Path(__file__).resolve()),
        "--torch-worker", name, "--steps", str(steps), "--threads", str(threads),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or not lines:
        fail(f"PyTorch worker for {name} failed (exit {result.returncode}):\n{result.stderr.strip()}")
    return json.loads(lines[-1])


def measure(kiln: Path, models: list[str], rounds: int, steps: int, threads: int) -> dict:
    """Alternates Kiln and PyTorch `rounds` times per model; returns the raw measurements."""
    results = {}
    for name in models:
        runs = {"kiln": [], "pytorch": []}
        for round_index in range(1, rounds + 1):
            kiln_run = run_kiln(kiln, name, steps)
            runs["kiln"].append(kiln_run)
            torch_run = run_torch(name, steps, threads)
            runs["pytorch"].append(torch_run)
            unit = kiln_run.get("unit", "samples")
            print(
                f"{name} round {round_index}/{rounds} ({unit}/s train, inference; batch-1 ms): "
                f"kiln {kiln_run['train_samples_per_sec']:.0f}, "
                f"{kiln_run['infer_samples_per_sec']:.0f}; {kiln_run['infer_batch1_ms']:.3f} -- "
                f"pytorch {torch_run['train_samples_per_sec']:.0f}, "
                f"{torch_run['infer_samples_per_sec']:.0f}; {torch_run['infer_batch1_ms']:.3f}",
                file=sys.stderr, flush=True,
            )
        results[name] = runs
    return results


def spread(values: list[float]) -> dict:
    """Median, min and max of one measurement over the rounds."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(runs: list[dict]) -> dict:
    """Over the rounds: median and range of training throughput (top-level keys), of inference
    throughput (`infer`) and of batch-1 latency in ms (`batch1_ms`); the largest peak memory."""
    summary = spread([run["train_samples_per_sec"] for run in runs])
    summary["infer"] = spread([run["infer_samples_per_sec"] for run in runs])
    summary["batch1_ms"] = spread([run["infer_batch1_ms"] for run in runs])
    summary["peak_rss_mib"] = max(run["peak_rss_mib"] for run in runs)
    summary["unit"] = runs[0].get("unit", "samples")
    return summary


def cpu_model() -> str:
    """The CPU's "model name" from /proc/cpuinfo, or what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_flags() -> set[str]:
    """The CPU's feature flags (the first "flags" line of /proc/cpuinfo); empty if unknown."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def vector_extensions(flags: set[str]) -> str:
    """"AVX-512 (avx512bw, avx512f, ...)", "AVX2 only", "no AVX2" or "unknown vector extensions"."""
    avx512 = sorted(flag for flag in flags if flag.startswith("avx512"))
    if avx512:
        return f"AVX-512 ({', '.join(avx512)})"
    if "avx2" in flags:
        return "AVX2 only"
    return "no AVX2" if flags else "unknown vector extensions"


def kiln_version(kiln: Path) -> str:
    """`kiln --version`, e.g. "kiln 0.1.0"."""
    result = subprocess.run([str(kiln), "--version"], capture_output=True, text=True)
    return result.stdout.strip() or "kiln (unknown version)"


# `--avx2`: what restricts PyTorch's kernels to AVX2 on an AVX-512 CPU (ATen's dispatch, MKL's
# BLAS and oneDNN's convolutions and RNNs), so that both programs run the AVX2 path.
TORCH_AVX2_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}


def environment(kiln: Path, torch_version: str, threads: int, steps: int, rounds: int) -> dict:
    """What the table header reports about the machine and the programs."""
    flags = cpu_flags()
    extensions = vector_extensions(flags)
    if all(os.environ.get(key) == value for key, value in TORCH_AVX2_ENV.items()):
        extensions = (
            f"the AVX2 path measured on a CPU with {extensions} (PyTorch with "
            + ", ".join(f"{key}={value}" for key, value in TORCH_AVX2_ENV.items())
            + "; Kiln as given by --kiln)"
        )
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cpu_vector_extensions": extensions,
        "avx512_flags": sorted(flag for flag in flags if flag.startswith("avx512")),
        "cores": os.cpu_count(),
        "kiln_version": kiln_version(kiln),
        "kiln_threads": os.environ.get("RAYON_NUM_THREADS", "all cores (rayon default)"),
        "torch_version": torch_version,
        "torch_threads": threads,
        "python_version": platform.python_version(),
        "load_average_1min": os.getloadavg()[0],
        "steps": max(steps, MIN_STEPS),
        "rounds": rounds,
        "batch_size": BATCH_SIZE,
        "char_batch": f"{CHAR_STREAMS} streams x {CHAR_SEQ_LEN} characters",
        "infer_batch": INFER_BATCH,
        "batch1_calls": f"median of {BATCH1_CALLS} after {BATCH1_WARMUP} warm-up calls",
    }


def warn_if_busy() -> None:
    """Warns when other processes keep the CPUs busy: PyTorch's OpenMP threads in particular slow
    down by orders of magnitude when a core they spin on is taken, so the numbers would mislead."""
    load = os.getloadavg()[0]
    if load > 0.5:
        print(
            f"compare_pytorch: warning: the 1-minute load average is {load:.2f} before starting; "
            "other processes compete for the CPUs and the numbers will not be reliable",
            file=sys.stderr, flush=True,
        )


def format_rate(summary: dict) -> str:
    """"12,345 (12,000-12,600)"."""
    return f"{summary['median']:,.0f} ({summary['min']:,.0f}-{summary['max']:,.0f})"


def format_ms(value: float) -> str:
    """A latency in ms with three significant digits or more: "0.412", "1.30", "12.3", "154"."""
    decimals = 3 if value < 1 else 2 if value < 10 else 1 if value < 100 else 0
    return f"{value:,.{decimals}f}"


def ratio(numerator: float, denominator: float) -> str:
    """numerator / denominator with two decimals, "n/a" when the denominator is not positive."""
    return f"{numerator / denominator:.2f}" if denominator > 0 else "n/a"


def markdown_table(env: dict, summaries: dict) -> str:
    """The Markdown report: a header line about the setup, then one row per model."""
    lines = [
        f"Kiln vs PyTorch, {env['date_utc']}, {env['cpu']}, {env['cpu_vector_extensions']}, "
        f"{env['cores']} cores; {env['kiln_version']} (threads: {env['kiln_threads']}) vs PyTorch "
        f"{env['torch_version']} ({env['torch_threads']} threads); float32. Training: batch "
        f"{env['batch_size']} ({env['char_batch']} for char), Adam (AdamW for resnet), median of "
        f"{env['rounds']} alternating rounds (min-max), each the median over windows of "
        f"{WINDOW_STEPS} steps of {env['steps']} timed steps after {WARMUP_STEPS} warm-up steps. "
        f"Inference without autodiff: batch {INFER_BATCH} (char: one {env['char_batch']} chunk), "
        f"median over windows of {WINDOW_STEPS} of {INFER_CALLS} calls after {INFER_WARMUP}; "
        f"batch 1 (char: one generation step), {env['batch1_calls']}; medians of the rounds. "
        "Every ratio is > 1 when Kiln is faster.",
        "",
        "| model (config) | unit | Kiln train/s (median, range) | PyTorch train/s (median, range) "
        "| train Kiln / PyTorch | Kiln infer/s, batch 256 | PyTorch infer/s, batch 256 "
        "| infer Kiln / PyTorch | Kiln batch-1 ms | PyTorch batch-1 ms "
        "| batch-1 PyTorch ms / Kiln ms | Kiln peak MiB | PyTorch peak MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, pair in summaries.items():
        kiln, torch_ = pair["kiln"], pair["pytorch"]
        lines.append(
            f"| {name} ({KILN_CONFIGS[name]}) | {kiln['unit']} "
            f"| {format_rate(kiln)} | {format_rate(torch_)} "
            f"| {ratio(kiln['median'], torch_['median'])} "
            f"| {kiln['infer']['median']:,.0f} | {torch_['infer']['median']:,.0f} "
            f"| {ratio(kiln['infer']['median'], torch_['infer']['median'])} "
            f"| {format_ms(kiln['batch1_ms']['median'])} "
            f"| {format_ms(torch_['batch1_ms']['median'])} "
            f"| {ratio(torch_['batch1_ms']['median'], kiln['batch1_ms']['median'])} "
            f"| {kiln['peak_rss_mib']:.0f} | {torch_['peak_rss_mib']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def torch_version_or_exit() -> str:
    """PyTorch's version; exits with status 2 and an install hint if torch cannot be imported."""
    try:
        import torch  # noqa: F401
        import numpy  # noqa: F401
    except ImportError as error:
        fail(
            f"cannot import {error.name or 'torch'} ({error}); install it with "
            f"`{sys.executable} -m pip install torch numpy`",
            code=2,
        )
    import torch

    return torch.__version__


def parse_models(text: str) -> list[str]:
    """Parses "mlp,cnn,..." and checks the names."""
    models = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in models if name not in KILN_CONFIGS]
    if unknown or not models:
        raise argparse.ArgumentTypeError(
            f"unknown model(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(KILN_CONFIGS)}"
        )
    return models


def positive_int(text: str) -> int:
    """An argparse type for integers >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not >= 1")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Compare Kiln's training and inference speed with PyTorch's on the reference "
                    "models.",
    )
    parser.add_argument("--kiln", type=Path, default=DEFAULT_KILN,
                        help=f"the kiln binary (default: {DEFAULT_KILN.relative_to(REPO_ROOT)})")
    parser.add_argument("--rounds", type=positive_int, default=3,
                        help="alternating Kiln/PyTorch rounds per model (default 3)")
    parser.add_argument("--steps", type=positive_int, default=50,
                        help="timed training steps per measurement, after 5 warm-up steps "
                             "(default 50, at least 10)")
    parser.add_argument("--models", type=parse_models, default=list(KILN_CONFIGS),
                        help=f"comma-separated subset of {','.join(KILN_CONFIGS)} (default: all)")
    parser.add_argument("--threads", type=positive_int, default=2,
                        help="PyTorch intra-op threads (default 2)")
    parser.add_argument("--avx2", action="store_true",
                        help="restrict PyTorch to AVX2 kernels (" + " ".join(
                            f"{k}={v}" for k, v in TORCH_AVX2_ENV.items())
                        + "); pair it with a Kiln built without its avx512 feature")
    parser.add_argument("--markdown", type=Path, help="also write the Markdown table here")
    parser.add_argument("--json", type=Path, help="also write every raw number here as JSON")
    parser.add_argument("--torch-worker", choices=sorted(KILN_CONFIGS), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: a PyTorch worker measurement, or the whole comparison."""
    args = parse_args(argv)
    if args.torch_worker:
        torch_version_or_exit()
        print(json.dumps(torch_worker(args.torch_worker, args.steps, args.threads)), flush=True)
        return 0

    torch_version = torch_version_or_exit()
    kiln = args.kiln.resolve()
    if not kiln.is_file():
        fail(f"kiln binary not found at {kiln}; build it with `cargo build --release` "
             f"(in {REPO_ROOT}) or pass --kiln PATH", code=2)

    if args.avx2:
        os.environ.update(TORCH_AVX2_ENV)  # inherited by every PyTorch worker process
    warn_if_busy()
    env = environment(kiln, torch_version, args.threads, args.steps, args.rounds)
    raw = measure(kiln, args.models, args.rounds, args.steps, args.threads)
    summaries = {
        name: {program: summarize(runs) for program, runs in pair.items()}
        for name, pair in raw.items()
    }
    table = markdown_table(env, summaries)
    print(table, end="")
    if args.markdown:
        args.markdown.write_text(table)
    if args.json:
        args.json.write_text(json.dumps(
            {"environment": env, "summary": summaries, "runs": raw}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
