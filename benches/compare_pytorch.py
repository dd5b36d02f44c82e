#!/usr/bin/env python3
"""Compare Kiln's training throughput with PyTorch's on the five reference models.

Usage (from anywhere; paths are resolved from the repository root):

    python benches/compare_pytorch.py [--kiln PATH_TO_KILN_BINARY] [--rounds N] [--steps N]
        [--models mlp,cnn,lstm,rnn,gru] [--threads N] [--markdown FILE] [--json FILE]

For each model the script alternates the two programs -- Kiln, PyTorch, Kiln, PyTorch, ... --
for ``--rounds`` rounds (default 3). Each measurement runs in a fresh process, so the peak
resident memory reported is that of one measurement:

* Kiln: ``kiln bench CONFIG --steps N --json TMPFILE`` (``train_samples_per_sec`` and
  ``peak_rss_mib`` are read from the JSON).
* PyTorch: this script re-run as ``--torch-worker MODEL``, which builds the same model in
  float32, trains it with Adam (lr 1e-3), batch 64, cross-entropy (and a global gradient-norm
  clip of 1.0 for the recurrent models, as Kiln's configs do) on the MNIST-10k digits that Kiln
  embeds, and prints one JSON line. Like ``kiln bench`` it drops 5 warm-up steps, times the
  following steps in windows of 5 steps and reports the median window throughput.

The report is a Markdown table of the median samples/s of each program (with the min-max range
over the rounds), the ratio Kiln / PyTorch of the medians, and the peak memory of each. It is
printed, and written to ``--markdown FILE`` if given; ``--json FILE`` keeps every raw number.

Build Kiln first with ``cargo build --release``. The only dependencies are torch and numpy.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import hashlib
import json
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
DEFAULT_KILN = REPO_ROOT / "target" / "release" / "kiln"

# Model name -> shipped Kiln config.
KILN_CONFIGS = {
    "mlp": "mlp-mnist",
    "cnn": "cnn-mnist",
    "lstm": "lstm-seqmnist",
    "rnn": "rnn-seqmnist",
    "gru": "gru-seqmnist",
}
RECURRENT = {"lstm", "rnn", "gru"}
# The PyTorch side does not augment, so Kiln's CNN is measured without its config's augmentation.
KILN_OVERRIDES = {
    "cnn": ["--set", "data.augment_shift=0", "--set", "data.augment_rotation=0"],
}

# Mirrors crates/kiln-train/src/bench.rs and the reference configs.
BATCH_SIZE = 64
WARMUP_STEPS = 5
WINDOW_STEPS = 5
MIN_STEPS = 10
LEARNING_RATE = 1e-3
CLIP_GRAD_NORM = 1.0
SEED = 42
CNN_PARAMETERS = 225_034


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


def load_mnist_train(count: int):
    """The first `count` training images (cycling) as float32 [count, 28, 28] in [0, 1], and labels."""
    import numpy as np

    sums = expected_sha256(MNIST_DIR)
    images = read_idx(
        MNIST_DIR / "train-images-idx3-ubyte.gz", 0x00000803, 3,
        sums.get("train-images-idx3-ubyte.gz"),
    )
    labels = read_idx(
        MNIST_DIR / "train-labels-idx1-ubyte.gz", 0x00000801, 1,
        sums.get("train-labels-idx1-ubyte.gz"),
    )
    if images.shape[1:] != (28, 28) or images.shape[0] != labels.shape[0]:
        fail(f"unexpected MNIST-10k shapes: images {images.shape}, labels {labels.shape}")
    order = np.arange(count) % images.shape[0]
    return images[order].astype(np.float32) / 255.0, labels[order].astype(np.int64)


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
    if name in RECURRENT:
        return sequence_classifier(name)
    raise ValueError(f"unknown model {name!r}")


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


def torch_worker(name: str, steps: int, threads: int) -> dict:
    """Trains PyTorch's `name` model for warm-up + `steps` steps; returns the measurement."""
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    steps = max(steps, MIN_STEPS)
    total_steps = WARMUP_STEPS + steps
    images, labels = load_mnist_train(total_steps * BATCH_SIZE)
    inputs = torch.from_numpy(images).unsqueeze(1)  # [N, 1, 28, 28], float32
    targets = torch.from_numpy(labels)

    model = build_model(name).float()
    model.train()
    params = list(model.parameters())
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
    return {
        "model": name,
        "train_samples_per_sec": rate,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "steps": len(times) - WARMUP_STEPS,
        "batch_size": BATCH_SIZE,
        "parameters": sum(p.numel() for p in params),
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "final_loss": float(loss.detach()),
    }


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------


def run_kiln(kiln: Path, name: str, steps: int) -> dict:
    """Runs `kiln bench` once for model `name`; returns its JSON report."""
    with tempfile.TemporaryDirectory(prefix="kiln-bench-") as tmp:
        report = Path(tmp) / "bench.json"
        command = [str(kiln), "bench", KILN_CONFIGS[name], "--steps", str(steps), "--json", str(report)]
        command += KILN_OVERRIDES.get(name, [])
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
        if result.returncode != 0 or not report.is_file():
            fail(f"`{' '.join(command)}` failed (exit {result.returncode}):\n{result.stderr.strip()}")
        return json.loads(report.read_text())


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
            print(
                f"{name} round {round_index}/{rounds}: "
                f"kiln {kiln_run['train_samples_per_sec']:.0f} samples/s, "
                f"pytorch {torch_run['train_samples_per_sec']:.0f} samples/s",
                file=sys.stderr, flush=True,
            )
        results[name] = runs
    return results


def summarize(runs: list[dict]) -> dict:
    """Median and range of throughput, and the largest peak memory, over the rounds."""
    rates = [run["train_samples_per_sec"] for run in runs]
    return {
        "median": statistics.median(rates),
        "min": min(rates),
        "max": max(rates),
        "peak_rss_mib": max(run["peak_rss_mib"] for run in runs),
    }


def cpu_model() -> str:
    """The CPU's "model name" from /proc/cpuinfo, or what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def kiln_version(kiln: Path) -> str:
    """`kiln --version`, e.g. "kiln 0.1.0"."""
    result = subprocess.run([str(kiln), "--version"], capture_output=True, text=True)
    return result.stdout.strip() or "kiln (unknown version)"


def environment(kiln: Path, torch_version: str, threads: int, steps: int, rounds: int) -> dict:
    """What the table header reports about the machine and the programs."""
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
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


def markdown_table(env: dict, summaries: dict) -> str:
    """The Markdown report: a header line about the setup, then one row per model."""
    lines = [
        f"Training throughput, {env['date_utc']}, {env['cpu']}, {env['cores']} cores; "
        f"{env['kiln_version']} (threads: {env['kiln_threads']}) vs PyTorch {env['torch_version']} "
        f"({env['torch_threads']} threads); float32, batch {env['batch_size']}, Adam; "
        f"median of {env['rounds']} alternating rounds (min-max), each the median over windows "
        f"of {WINDOW_STEPS} steps of {env['steps']} timed steps after {WARMUP_STEPS} warm-up steps.",
        "",
        "| model (config) | Kiln samples/s (median, range) | PyTorch samples/s (median, range) "
        "| Kiln / PyTorch | Kiln peak MiB | PyTorch peak MiB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, pair in summaries.items():
        kiln, torch_ = pair["kiln"], pair["pytorch"]
        ratio = kiln["median"] / torch_["median"] if torch_["median"] > 0 else float("nan")
        lines.append(
            f"| {name} ({KILN_CONFIGS[name]}) | {format_rate(kiln)} | {format_rate(torch_)} "
            f"| {ratio:.2f} | {kiln['peak_rss_mib']:.0f} | {torch_['peak_rss_mib']:.0f} |"
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
        description="Compare Kiln's training throughput with PyTorch's on the reference models.",
    )
    parser.add_argument("--kiln", type=Path, default=DEFAULT_KILN,
                        help=f"the kiln binary (default: {DEFAULT_KILN.relative_to(REPO_ROOT)})")
    parser.add_argument("--rounds", type=positive_int, default=3,
                        help="alternating Kiln/PyTorch rounds per model (default 3)")
    parser.add_argument("--steps", type=positive_int, default=50,
                        help="timed training steps per measurement, after 5 warm-up steps "
                             "(default 50, at least 10)")
    parser.add_argument("--models", type=parse_models, default=list(KILN_CONFIGS),
                        help="comma-separated subset of mlp,cnn,lstm,rnn,gru (default: all)")
    parser.add_argument("--threads", type=positive_int, default=2,
                        help="PyTorch intra-op threads (default 2)")
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
