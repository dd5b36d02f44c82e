//! `kiln bench` for character language models: training and inference throughput in
//! characters per second (streams x seq_len per step), generation speed (one character
//! at a time, as `kiln generate` samples) and the latency of one generation step at batch 1.

use std::time::Instant;

use burn::prelude::*;
use kiln_data::StreamChunks;
use kiln_train::{BackendKind, KilnError, Result, Trainer};
use kiln_zoo::{AnyModel, LanguageModelling, sample_tokens};

use crate::ExperimentConfig;
use crate::bench::{
    BATCH1_CALLS, BATCH1_WARMUP, BenchReport, StepClock, median_latency_ms, median_rate,
    peak_rss_mib,
};
use crate::data::prepare_text;

/// Characters generated in the generation measurement.
const GENERATED: usize = 200;

/// Measures a language model over `steps` training steps of the config's streams and chunks.
pub(crate) fn bench_language_model(
    config: &ExperimentConfig,
    backend: BackendKind,
    steps: usize,
) -> Result<BenchReport> {
    let device = backend.device()?;
    let text = prepare_text(&config.data)?;
    let streams = config.train.batch_size.max(1);
    let seq_len = config.train.seq_len.max(1);
    let warmup = 5;
    let chunks = warmup + steps.max(10);
    // Just enough text for `chunks` steps (each stream one character longer for the targets).
    let needed = streams * (chunks * seq_len + 1);
    let mut train = text.train.clone();
    if train.len() < needed {
        return Err(KilnError::Input(format!(
            "the training text ({} characters) is too short for {chunks} steps of \
             train.batch_size {streams} x train.seq_len {seq_len}",
            train.len()
        )));
    }
    train.truncate(needed);
    let train_chunks = StreamChunks::new(train, streams, seq_len);
    let mut valid_tokens = text.valid.clone();
    valid_tokens.truncate(streams * (seq_len + 1));
    let valid_chunks = StreamChunks::new(valid_tokens, streams, seq_len);

    let mut fit = config.fit_config()?;
    fit.epochs = 1;
    fit.early_stopping.patience = 0;
    let autodiff = device.clone().autodiff();
    let _rng = kiln_train::rng_guard();
    autodiff.seed(config.seed);
    let AnyModel::Charlm(model) = config.model.build(&text.preprocess.shape(), &autodiff)? else {
        return Err(KilnError::Internal(
            "a text model that is not a charlm".into(),
        ));
    };
    let mut clock = StepClock { times: Vec::new() };
    let mut task = LanguageModelling::new(&train_chunks, &valid_chunks, model.vocab_size());
    let report = Trainer::new(fit)
        .with_progress(&mut clock)
        .fit(model, &mut task, &autodiff)?;
    let window = 5;
    let per_step = (streams * seq_len) as f64;
    let train_rate = median_rate(&clock.times[warmup.min(clock.times.len())..], window) * per_step;

    // Inference: the forward pass of one chunk, no autodiff.
    let inference = report.model.valid();
    let (inputs, _) = train_chunks.chunk(0, &device);
    let mut times = vec![Instant::now()];
    for _ in 0..(warmup + 20) {
        let (logits, _) = inference.forward(inputs.clone(), None);
        let _ = logits.into_data();
        times.push(Instant::now());
    }
    let infer_rate = median_rate(&times[warmup..], window) * per_step;

    // Generation: `kiln generate`'s sampling, one character at a time after a short prompt.
    let start = Instant::now();
    let generated = sample_tokens(&inference, &[0], GENERATED, 1.0, config.seed, &device)?;
    let generate_rate = generated.len().max(1) as f64 / start.elapsed().as_secs_f64().max(1e-12);

    // Batch 1: one generation step, timed alone. One character of the training text in, with
    // the state of the previous step; its logits read back; the new state fed to the next.
    let mut state = None;
    let mut position = 0;
    let infer_batch1_ms = median_latency_ms(BATCH1_WARMUP, BATCH1_CALLS, || {
        let token = i64::from(text.train[position % text.train.len()]);
        position += 1;
        let input = Tensor::<2, Int>::from_data(TensorData::new(vec![token], [1, 1]), &device);
        let (logits, next) = inference.forward(input, state.take());
        let _ = logits.into_data();
        state = Some(next);
    });

    Ok(BenchReport {
        name: config.name.clone(),
        backend: backend.name().into(),
        precision: config.train.precision.clone(),
        batch_size: streams,
        steps: clock.times.len().saturating_sub(warmup),
        train_samples_per_sec: train_rate,
        infer_samples_per_sec: infer_rate,
        peak_rss_mib: peak_rss_mib(),
        unit: "characters".into(),
        generate_chars_per_sec: Some(generate_rate),
        infer_batch1_ms: Some(infer_batch1_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> ExperimentConfig {
        let text = format!(
            "[model]\nkind = \"charlm\"\ncell = \"lstm\"\nhidden = 16\nembedding = 8\n[data]\n\
             dataset = \"shakespeare\"\nvalid_fraction = 0.1\n[train]\nbatch_size = 4\nseq_len = 10\n{extra}"
        );
        ExperimentConfig::parse(&text, &[], "lm.toml").unwrap()
    }

    #[test]
    fn a_language_model_is_benched_in_characters() {
        let report = crate::bench::bench(&config(""), Some(BackendKind::Flex), 12).unwrap();
        assert_eq!(report.unit, "characters");
        assert_eq!(report.steps, 12);
        assert_eq!(report.batch_size, 4);
        let generate = report.generate_chars_per_sec.unwrap();
        assert!(report.train_samples_per_sec > 0.0 && report.infer_samples_per_sec > 0.0);
        assert!(report.infer_batch1_ms.unwrap() > 0.0, "{report:?}");
        // A forward pass over 4 x 10 characters at once beats sampling them one by one.
        assert!(report.infer_samples_per_sec > generate, "{report:?}");
    }

    #[test]
    fn a_text_too_short_for_the_steps_is_refused() {
        let err = crate::bench::bench(&config(""), Some(BackendKind::Flex), 1_000_000).unwrap_err();
        assert!(err.to_string().contains("too short"), "{err}");
    }
}
