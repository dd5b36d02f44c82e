//! The all-reduce each data-parallel step pays, timed for the reference models' parameter
//! counts: `mpirun -np 2 --oversubscribe --allow-run-as-root --mca btl tcp,self
//! target/release/examples/all_reduce` (build with `--features mpi`). Rank 0 prints a
//! markdown table: median milliseconds of one f32 sum over all ranks, and the bytes each rank
//! sends per step in a ring all-reduce, 2 (N - 1) / N x 4 bytes per parameter.

use std::time::Instant;

use kiln_distributed::MpiWorld;
use kiln_train::Collective;

const MODELS: &[(&str, usize)] = &[
    ("rnn-seqmnist", 21_386),
    ("gru-seqmnist", 61_962),
    ("lstm-seqmnist", 82_186),
    ("cnn-mnist", 225_034),
    ("mlp-mnist", 235_146),
    ("resnet-mnist", 289_514),
];

fn main() {
    let world = MpiWorld::init().expect("MPI initialises");
    let ranks = world.size();
    if world.rank() == 0 {
        println!(
            "| model | parameters | all-reduce ms (median of 50) | bytes sent per rank per step |"
        );
        println!("|---|---|---|---|");
    }
    for (name, params) in MODELS {
        let mut buffer = vec![1.0f32; *params];
        let mut times = Vec::with_capacity(50);
        for round in 0..55 {
            let start = Instant::now();
            world.sum_f32(&mut buffer);
            if round >= 5 {
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
            buffer.iter_mut().for_each(|v| *v = 1.0);
        }
        times.sort_by(f64::total_cmp);
        let bytes = 2.0 * (ranks as f64 - 1.0) / ranks as f64 * 4.0 * *params as f64;
        if world.rank() == 0 {
            println!(
                "| {name} | {params} | {:.3} | {:.0} |",
                times[times.len() / 2],
                bytes
            );
        }
    }
}
