//! What a compressed model is fine-tuned and measured on: a classifier's splits, or a language
//! model's text (its validation text standing for the test split, in bits per character, as
//! `kiln eval` reports it).

use std::time::Instant;

use burn::prelude::*;
use kiln_data::StreamChunks;
use kiln_train::checkpoint::VerifiedCheckpoint;
use kiln_train::{KilnError, Objective, Result, StepContext, StepOutput, TrainTask, Validation};
use kiln_zoo::kinds::charlm::CharLmSpec;
use kiln_zoo::{AnyModel, LanguageModelling, ModelKind, evaluate_text};

/// The zoo's character language model.
type CharLanguageModel = <CharLmSpec as ModelKind>::Model;

use super::measure::{ModelMeasure, measure};
use crate::data::{Splits, prepare, prepare_text};
use crate::experiment::TrainedRun;

/// The data of a run, as its kind trains on it.
pub(crate) enum Workload {
    /// Flat samples: train, validation and test splits.
    Samples(Box<Splits>),
    /// A text cut into chunks of the run's streams and sequence length.
    Text {
        /// Training chunks.
        train: StreamChunks,
        /// Validation chunks (what a language model's run reports as its test figures).
        valid: StreamChunks,
        /// Characters in the validation chunks.
        characters: usize,
    },
}

impl Workload {
    /// The data `run` was trained on.
    pub fn of(run: &TrainedRun) -> Result<Self> {
        let config = &run.config;
        if !matches!(run.model, AnyModel::Charlm(_)) {
            return Ok(Self::Samples(Box::new(prepare(&config.data, config.seed)?)));
        }
        let text = prepare_text(&config.data)?;
        let (streams, seq_len) = (config.train.batch_size.max(1), config.train.seq_len);
        let valid = StreamChunks::new(text.valid, streams, seq_len);
        Ok(Self::Text {
            train: StreamChunks::new(text.train, streams, seq_len),
            characters: valid.len() * streams * seq_len,
            valid,
        })
    }

    /// Size, sparsity, accuracy and speed of `model` (an inference copy).
    pub fn measure(
        &self,
        model: &AnyModel,
        objective: Objective,
        file_bytes: u64,
        device: &Device,
    ) -> Result<ModelMeasure> {
        match (self, model) {
            (Self::Samples(splits), _) => {
                measure(model, objective, &splits.test, file_bytes, device)
            }
            (
                Self::Text {
                    valid, characters, ..
                },
                AnyModel::Charlm(lm),
            ) => {
                let start = Instant::now();
                let e = evaluate_text(lm, valid, device);
                let rate = *characters as f64 / start.elapsed().as_secs_f64();
                Ok(ModelMeasure {
                    bits_per_char: Some(e.bits_per_char),
                    ..ModelMeasure::counted(model, file_bytes, (e.accuracy, e.loss), rate)
                })
            }
            _ => Err(KilnError::Internal(
                "a text workload for a classifier".into(),
            )),
        }
    }

    /// The classifier's splits, if this is a classifier's workload.
    pub fn splits(&self) -> Option<&Splits> {
        match self {
            Self::Samples(splits) => Some(splits),
            Self::Text { .. } => None,
        }
    }
}

/// A language model's task, for the zoo's `AnyModel` (its `Charlm` variant).
pub(crate) struct TextTask<'a>(pub LanguageModelling<'a>);

impl<'a> TextTask<'a> {
    /// The task over `train`, validating on `valid`, for a vocabulary of `vocab`.
    pub fn new(train: &'a StreamChunks, valid: &'a StreamChunks, vocab: usize) -> Self {
        Self(LanguageModelling::new(train, valid, vocab))
    }
}

fn language_model(model: &AnyModel) -> Result<&CharLanguageModel> {
    match model {
        AnyModel::Charlm(lm) => Ok(lm),
        _ => Err(KilnError::Internal(
            "a language-model task for another kind".into(),
        )),
    }
}

impl TrainTask<AnyModel> for TextTask<'_> {
    fn objective(&self) -> Objective {
        TrainTask::<CharLanguageModel>::objective(&self.0)
    }

    fn batches_per_epoch(&self) -> usize {
        TrainTask::<CharLanguageModel>::batches_per_epoch(&self.0)
    }

    fn start_epoch(&mut self, epoch: usize, seed: u64, resumed: bool) {
        TrainTask::<CharLanguageModel>::start_epoch(&mut self.0, epoch, seed, resumed);
    }

    fn step(&mut self, model: &AnyModel, context: &StepContext<'_>) -> Result<StepOutput> {
        self.0.step(language_model(model)?, context)
    }

    fn validate(&mut self, model: &AnyModel, device: &Device) -> Result<Option<Validation>> {
        self.0.validate(language_model(model)?, device)
    }

    fn carried(&self) -> Vec<(&'static str, Tensor<3>)> {
        TrainTask::<CharLanguageModel>::carried(&self.0)
    }

    fn restore(&mut self, checkpoint: &VerifiedCheckpoint, device: &Device) -> Result<()> {
        TrainTask::<CharLanguageModel>::restore(&mut self.0, checkpoint, device)
    }
}
