//! `kiln bench`: steady-state training throughput (warm-up dropped, median over windows of steps),
//! inference throughput (batches of 256 without autodiff), batch-1 inference latency (median of
//! single calls) and the process's peak memory; language models in characters per second,
//! generation included (`bench_text`).

use std::time::Instant;

use burn::prelude::*;
use serde::Serialize;

use kiln_train::{BackendKind, Progress, Result, Trainer};
use kiln_zoo::{AnyModel, TaskKind};

use crate::data::prepare;
use crate::private::PrivacyPlan;
use crate::{ExperimentConfig, choose_backend};

/// What `kiln bench` measures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BenchReport {
    /// Experiment name.
    pub name: String,
    /// Backend measured.
    pub backend: String,
    /// Compute precision of the training steps (`f32`, `f16`, `bf16`).
    pub precision: String,
    /// Samples per training step.
    pub batch_size: usize,
    /// Timed training steps (after the warm-up).
    pub steps: usize,
    /// Median training throughput over windows of steps, samples per second.
    pub train_samples_per_sec: f64,
    /// Median inference throughput (batch 256, no autodiff), samples per second.
    pub infer_samples_per_sec: f64,
    /// Peak resident memory of the process, MiB.
    pub peak_rss_mib: f64,
    /// What the rates count: `samples`, or `characters` for a language model (streams x
    /// seq_len per step).
    pub unit: String,
    /// Language models: characters per second sampled one at a time, as `kiln generate` does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generate_chars_per_sec: Option<f64>,
    /// Batch-1 inference latency, milliseconds: the median of [`BATCH1_CALLS`] single calls
    /// after [`BATCH1_WARMUP`] warm-up calls, no autodiff. Classifiers: the logits of one test
    /// sample, read back to the host. Language models: one step of generation, one character
    /// in with the state carried from the previous step and its logits read back (the sampling
    /// that `generate_chars_per_sec` also counts is left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infer_batch1_ms: Option<f64>,
}

/// Untimed batch-1 inference calls before the timed ones.
pub const BATCH1_WARMUP: usize = 5;

/// Timed batch-1 inference calls; their median is [`BenchReport::infer_batch1_ms`].
pub const BATCH1_CALLS: usize = 50;

/// Records the time of every optimizer step.
pub(crate) struct StepClock {
    pub(crate) times: Vec<Instant>,
}

impl Progress for StepClock {
    fn step(&mut self) {
        self.times.push(Instant::now());
    }
}

/// Median of windows of `window` consecutive intervals, in steps per second.
pub(crate) fn median_rate(times: &[Instant], window: usize) -> f64 {
    let mut rates: Vec<f64> = times
        .windows(window + 1)
        .step_by(window)
        .map(|w| window as f64 / (w[window] - w[0]).as_secs_f64().max(1e-12))
        .collect();
    rates.sort_by(f64::total_cmp);
    rates.get(rates.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Median wall time of `timed` calls of `call` after `warmup` untimed ones, in milliseconds
/// (the upper middle value for an even count, as [`median_rate`] takes it).
pub(crate) fn median_latency_ms(warmup: usize, timed: usize, mut call: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        call();
    }
    let mut millis: Vec<f64> = (0..timed)
        .map(|_| {
            let start = Instant::now();
            call();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    millis.sort_by(f64::total_cmp);
    millis.get(millis.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Measures training and inference throughput of the experiment's model over `steps` steps,
/// and its batch-1 inference latency.
pub fn bench(
    config: &ExperimentConfig,
    backend: Option<BackendKind>,
    steps: usize,
) -> Result<BenchReport> {
    let backend = choose_backend(backend, config)?;
    if config.model.info().task == TaskKind::LanguageModelling {
        return crate::bench_text::bench_language_model(config, backend, steps);
    }
    let device = backend.device()?;
    let mut splits = prepare(&config.data, config.seed)?;
    let batch_size = config.train.batch_size.max(1).min(splits.train.len());
    let warmup = 5;
    let total = (warmup + steps.max(10)) * batch_size;
    let indices: Vec<usize> = (0..total).map(|i| i % splits.train.len()).collect();
    splits.train = splits.train.select(&indices);
    splits.valid = None;
    let mut fit = config.fit_config()?;
    fit.epochs = 1;
    fit.early_stopping.patience = 0;

    let autodiff = device.clone().autodiff();
    let _rng = kiln_train::rng_guard();
    autodiff.seed(config.seed);
    let model = config.model.build(&splits.preprocess.shape(), &autodiff)?;
    let mut clock = StepClock { times: Vec::new() };
    let trainer = Trainer::new(fit).with_progress(&mut clock);
    let report = match &config.privacy {
        // DP-SGD measured as it trains: Poisson samples of the expected batch size.
        Some(privacy) => {
            let objective = kiln_train::Objective::for_classes(splits.preprocess.classes);
            let plan = PrivacyPlan::new(privacy, batch_size, splits.train.len(), 1)?;
            let (mut task, noise) = crate::experiment::private_task(&plan, &splits, objective);
            trainer
                .with_gradient_hook(noise)
                .fit(model, &mut task, &autodiff)?
        }
        None => {
            let mut task = crate::experiment::classification(config, &splits);
            trainer.fit(model, &mut task, &autodiff)?
        }
    };
    let window = 5;
    let train_rate =
        median_rate(&clock.times[warmup.min(clock.times.len())..], window) * batch_size as f64;

    // Prepared once, as a server would (a CNN's batch norms folded into its convolutions).
    let inference: AnyModel = report.model.valid().for_inference();
    let infer_batch: Vec<usize> = (0..256).map(|i| i % splits.test.len()).collect();
    let batch = splits.test.batch(&infer_batch, &device);
    let mut times = vec![Instant::now()];
    for _ in 0..(warmup + 20) {
        let logits = inference.logits(batch.inputs.clone());
        let _ = logits.into_data();
        times.push(Instant::now());
    }
    let infer_rate = median_rate(&times[warmup..], window) * infer_batch.len() as f64;

    // Batch 1: what `kiln predict` or a server pays for one sample.
    let single = splits.test.batch(&[0], &device);
    let infer_batch1_ms = median_latency_ms(BATCH1_WARMUP, BATCH1_CALLS, || {
        let _ = inference.logits(single.inputs.clone()).into_data();
    });
    Ok(BenchReport {
        name: config.name.clone(),
        backend: backend.name().into(),
        precision: config.train.precision.clone(),
        batch_size,
        steps: clock.times.len().saturating_sub(warmup),
        train_samples_per_sec: train_rate,
        infer_samples_per_sec: infer_rate,
        peak_rss_mib: peak_rss_mib(),
        unit: "samples".into(),
        generate_chars_per_sec: None,
        infer_batch1_ms: Some(infer_batch1_ms),
    })
}

/// Peak resident set size of this process (VmHWM), in MiB; NaN where unknown.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_rate_of_regular_steps() {
        let start = Instant::now();
        let times: Vec<Instant> = (0..11)
            .map(|i| start + std::time::Duration::from_millis(100 * i))
            .collect();
        assert!((median_rate(&times, 5) - 10.0).abs() < 1e-6);
    }

    #[test]
    fn bench_reports_positive_rates() {
        let text = "[model]\nkind = \"mlp\"\nhidden = [8]\n[data]\ndataset = \"iris\"\n[train]\nbatch_size = 16\n";
        let config = ExperimentConfig::parse(text, &[], "b.toml").unwrap();
        let report = bench(&config, Some(BackendKind::Flex), 10).unwrap();
        assert!(
            report.train_samples_per_sec > 0.0 && report.infer_samples_per_sec > 0.0,
            "{report:?}"
        );
        assert!(report.peak_rss_mib > 1.0);
        assert_eq!(report.steps, 10);
        let batch1 = report
            .infer_batch1_ms
            .expect("a classifier's batch-1 latency");
        assert!(batch1 > 0.0 && batch1.is_finite(), "{report:?}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["infer_batch1_ms"].as_f64(), Some(batch1));
    }

    #[test]
    fn median_latency_counts_every_timed_call_after_the_warmup() {
        let mut calls = 0;
        let ms = median_latency_ms(3, 7, || calls += 1);
        assert_eq!(calls, 10);
        assert!(ms >= 0.0 && ms.is_finite());
    }

    #[test]
    fn a_private_config_is_benched_with_dp_sgd() {
        let text = "[model]\nkind = \"mlp\"\nhidden = [8]\n[data]\ndataset = \"iris\"\n[train]\nbatch_size = 16\n[privacy]\nmax_grad_norm = 1.0\nnoise_multiplier = 1.0\n";
        let config = ExperimentConfig::parse(text, &[], "b.toml").unwrap();
        let report = bench(&config, Some(BackendKind::Flex), 10).unwrap();
        // One epoch of round(1/q) Poisson steps over the bench's repeated training set.
        assert_eq!(report.steps, 10);
        assert!(report.train_samples_per_sec > 0.0, "{report:?}");
    }
}
