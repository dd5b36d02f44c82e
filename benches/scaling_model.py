"""The scaling model of docs/distributed.md: data-parallel training of each reference model on
N = 2..64 hosts over 10, 25 and 100 Gb/s, from the measured single-process throughput.

    python3 benches/scaling_model.py   # prints the markdown tables

Per step, every rank computes its share of the batch, then one ring all-reduce of the gradients:

    compute(b)   = b / throughput                      (throughput at batch 64, 2 cores, `kiln bench`)
    allreduce(N) = 2 (N - 1) / N * 4 P / bandwidth + 2 (N - 1) * latency

Strong scaling keeps the global batch at 64 (each rank computes 64 / N samples); weak scaling keeps
64 samples per rank. Efficiency is the single-rank time per sample over N ranks' time per sample.
"""

LATENCY = 50e-6  # seconds per ring step (TCP between hosts)
BATCH = 64
HOSTS = [2, 4, 8, 16, 32, 64]
BANDWIDTHS = [10, 25, 100]  # Gb/s

# (config, parameters, training samples/s of one process at batch 64: docs/performance.md)
MODELS = [
    ("mlp-mnist", 235_146, 63_783),
    ("cnn-mnist", 225_034, 7_362),
    ("lstm-seqmnist", 82_186, 10_991),
    ("gru-seqmnist", 61_962, 14_767),
    ("rnn-seqmnist", 21_386, 40_869),
]


def allreduce(params, hosts, gbps):
    return 2 * (hosts - 1) / hosts * 4 * params * 8 / (gbps * 1e9) + 2 * (hosts - 1) * LATENCY


def compute(samples, rate):
    return samples / rate


def main():
    for gbps in BANDWIDTHS:
        print(f"\n**{gbps} Gb/s** (latency {LATENCY * 1e6:.0f} us per ring step)\n")
        print("| model | all-reduce at N=64 (ms) | strong-scaling efficiency N=2 / 8 / 64 | "
              "communication dominates from N = | weak-scaling efficiency N=2 / 8 / 64 | "
              "per-rank batch for >= 80% at N=64 |")
        print("|---|---|---|---|---|---|")
        for name, params, rate in MODELS:
            strong, weak = [], []
            dominate = None
            for n in HOSTS:
                step = compute(BATCH / n, rate) + allreduce(params, n, gbps)
                strong.append(compute(BATCH, rate) / (n * step))
                weak.append(compute(BATCH, rate) / (compute(BATCH, rate) + allreduce(params, n, gbps)))
                if dominate is None and allreduce(params, n, gbps) > compute(BATCH / n, rate):
                    dominate = n
            pick = lambda xs: " / ".join(f"{xs[HOSTS.index(n)]:.0%}" for n in (2, 8, 64))
            need = 4 * allreduce(params, 64, gbps) * rate
            print(f"| {name} | {allreduce(params, 64, gbps) * 1e3:.2f} | {pick(strong)} | "
                  f"{dominate if dominate else '> 64'} | {pick(weak)} | {need:,.0f} |")


if __name__ == "__main__":
    main()
