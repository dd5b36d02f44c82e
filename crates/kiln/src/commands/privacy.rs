//! `kiln privacy epsilon | noise`: plan a differential-privacy budget before training.

use kiln_privacy::{PrivacyError, epsilon, noise_multiplier};
use kiln_train::{KilnError, Result};

use kiln_experiment::run_dir::read_summary;

use crate::cli::{CurveArgs, EpsilonArgs, NoiseArgs, PrivacyCommand};

fn input(error: PrivacyError) -> KilnError {
    KilnError::Input(error.to_string())
}

/// Runs `kiln privacy ...`.
pub fn run(command: &PrivacyCommand) -> Result<()> {
    match command {
        PrivacyCommand::Epsilon(args) => spent(args),
        PrivacyCommand::Noise(args) => noise(args),
        PrivacyCommand::Curve(args) => curve(args),
    }
}

fn curve(args: &CurveArgs) -> Result<()> {
    let mut points = Vec::new();
    let mut reference = None;
    println!("epsilon  test accuracy  run");
    for dir in &args.runs {
        let summary = read_summary(dir)?;
        match &summary.privacy {
            Some(p) => {
                println!(
                    "{:>7.3}  {:>13.4}  {}",
                    p.epsilon,
                    summary.test.accuracy,
                    dir.display()
                );
                points.push((p.epsilon, summary.test.accuracy));
            }
            None => {
                println!(
                    "{:>7}  {:>13.4}  {}",
                    "none",
                    summary.test.accuracy,
                    dir.display()
                );
                reference = Some(summary.test.accuracy);
            }
        }
    }
    if points.is_empty() {
        return Err(KilnError::Input(
            "none of these runs trained with [privacy]: nothing to draw".into(),
        ));
    }
    let hi = points.iter().map(|p| p.0).fold(0.0f64, f64::max) * 1.05;
    kiln_experiment::plot::write_points(&args.out, &points, (0.0, hi), reference)?;
    println!(
        "accuracy against epsilon (0 to {hi:.2}): {}",
        args.out.display()
    );
    Ok(())
}

fn spent(args: &EpsilonArgs) -> Result<()> {
    let spent = epsilon(
        args.sample_rate,
        args.noise_multiplier,
        args.steps,
        args.delta,
    )
    .map_err(input)?;
    if args.json {
        let json = serde_json::json!({ "epsilon": spent.epsilon, "order": spent.order });
        println!(
            "{}",
            serde_json::to_string_pretty(&json).expect("serialises")
        );
    } else {
        println!(
            "epsilon {} at delta {} (RDP accountant, best order {}) after {} steps at sample rate {} and noise multiplier {}",
            spent.epsilon,
            args.delta,
            spent.order,
            args.steps,
            args.sample_rate,
            args.noise_multiplier
        );
    }
    Ok(())
}

fn noise(args: &NoiseArgs) -> Result<()> {
    let sigma = noise_multiplier(
        args.target_epsilon,
        args.delta,
        args.sample_rate,
        args.epochs,
    )
    .map_err(input)?;
    let steps = (args.epochs / args.sample_rate) as usize;
    let spent = epsilon(args.sample_rate, sigma, steps, args.delta).map_err(input)?;
    if args.json {
        let json = serde_json::json!({
            "noise_multiplier": sigma,
            "epsilon": spent.epsilon,
            "steps": steps,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&json).expect("serialises")
        );
    } else {
        println!(
            "noise multiplier {sigma} keeps {} epochs ({steps} steps) at sample rate {} within epsilon {} at delta {} (spends {:.4})",
            args.epochs, args.sample_rate, args.target_epsilon, args.delta, spent.epsilon
        );
    }
    Ok(())
}
