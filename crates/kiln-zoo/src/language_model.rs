//! Character language models as a task of the one loop: truncated back-propagation through
//! time over parallel text streams with the hidden state carried between chunks, evaluation in
//! bits per character, and seeded sampling.

use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::activation::softmax;
use kiln_data::{SeededRng, StreamChunks};
use kiln_rnn::{CharLanguageModel, RecurrentState};

use kiln_train::metrics::RunningMetrics;
use kiln_train::{
    KilnError, Objective, Result, StepContext, StepOutput, TrainTask, Validation,
    VerifiedCheckpoint,
};

/// Loss (nats per character), next-character accuracy and bits per character of a text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextEvaluation {
    /// Mean cross-entropy in nats per character.
    pub loss: f64,
    /// Fraction of next characters predicted exactly.
    pub accuracy: f64,
    /// Mean cross-entropy in bits per character (`loss / ln 2`).
    pub bits_per_char: f64,
}

/// Mean loss of one chunk and its flattened logits and targets, and the state after it.
///
/// With `half`, the model (a cast copy) runs in that type from the state cast to it; logits and
/// the returned state come back in f32, so the loss and the carried state stay f32.
fn chunk_loss(
    model: &CharLanguageModel,
    inputs: Tensor<2, Int>,
    targets: Tensor<2, Int>,
    state: Option<RecurrentState>,
    half: Option<FloatDType>,
) -> (Tensor<1>, Tensor<2>, Tensor<1, Int>, RecurrentState) {
    let [batch, steps] = targets.dims();
    let cast_state = |s: RecurrentState, dtype: FloatDType| {
        RecurrentState::new(s.hidden.cast(dtype), s.cell.map(|c| c.cast(dtype)))
    };
    let (logits, state) = match half {
        Some(dtype) => {
            let (logits, state) = model.forward(inputs, state.map(|s| cast_state(s, dtype)));
            (
                logits.cast(FloatDType::F32),
                cast_state(state, FloatDType::F32),
            )
        }
        None => model.forward(inputs, state),
    };
    let vocab = logits.dims()[2];
    let logits = logits.reshape([batch * steps, vocab]);
    let targets = targets.reshape([batch * steps]);
    let loss = Objective::Multiclass { classes: vocab }.loss(logits.clone(), targets.clone());
    (loss, logits, targets, state)
}

/// Evaluates `model` (an inference copy) on `chunks`, carrying the state through each stream.
pub fn evaluate_text(
    model: &CharLanguageModel,
    chunks: &StreamChunks,
    device: &Device,
) -> TextEvaluation {
    let mut running = RunningMetrics::default();
    let mut state = None;
    let objective = Objective::Multiclass {
        classes: model.vocab_size(),
    };
    for index in 0..chunks.len() {
        let (inputs, targets) = chunks.chunk(index, device);
        let (loss, logits, targets, next) = chunk_loss(model, inputs, targets, state, None);
        running.add(objective, loss, logits, targets);
        state = Some(next);
    }
    let (loss, accuracy) = running.finish();
    TextEvaluation {
        loss,
        accuracy,
        bits_per_char: loss / std::f64::consts::LN_2,
    }
}

/// A character language model's task: truncated back-propagation through time over parallel
/// text streams, each batch one chunk of every stream, the (detached) hidden state carried
/// from chunk to chunk and saved in checkpoints; validated in loss and accuracy per character.
pub struct LanguageModelling<'a> {
    train: &'a StreamChunks,
    valid: &'a StreamChunks,
    vocab: usize,
    state: Option<RecurrentState>,
}

impl<'a> LanguageModelling<'a> {
    /// Trains on `train`'s chunks and validates on `valid`'s, over `vocab` characters.
    pub fn new(train: &'a StreamChunks, valid: &'a StreamChunks, vocab: usize) -> Self {
        Self {
            train,
            valid,
            vocab,
            state: None,
        }
    }
}

impl TrainTask<CharLanguageModel> for LanguageModelling<'_> {
    fn objective(&self) -> Objective {
        Objective::Multiclass {
            classes: self.vocab,
        }
    }

    fn batches_per_epoch(&self) -> usize {
        self.train.len()
    }

    fn start_epoch(&mut self, _epoch: usize, _seed: u64, resumed: bool) {
        if !resumed {
            self.state = None; // every epoch reads the streams from their start
        }
    }

    fn step(&mut self, model: &CharLanguageModel, context: &StepContext<'_>) -> Result<StepOutput> {
        let (inputs, targets) = self.train.chunk(context.batch, context.device);
        let (loss, logits, targets, next) =
            chunk_loss(model, inputs, targets, self.state.take(), context.half);
        self.state = Some(next.detach());
        Ok(StepOutput {
            loss,
            logits,
            targets,
            samples: self.train.streams(),
            inputs: None, // token ids, not flat float samples
        })
    }

    fn validate(
        &mut self,
        model: &CharLanguageModel,
        device: &Device,
    ) -> Result<Option<Validation>> {
        let e = evaluate_text(model, self.valid, device);
        Ok(Some(Validation {
            loss: e.loss,
            accuracy: e.accuracy,
        }))
    }

    fn carried(&self) -> Vec<(&'static str, Tensor<3>)> {
        let Some(state) = &self.state else {
            return Vec::new();
        };
        let mut carried = vec![("hidden", state.hidden.clone())];
        carried.extend(state.cell.clone().map(|cell| ("cell", cell)));
        carried
    }

    fn restore(&mut self, checkpoint: &VerifiedCheckpoint, device: &Device) -> Result<()> {
        self.state = match checkpoint.load_carried("hidden", device)? {
            Some(hidden) => Some(RecurrentState::new(
                hidden,
                checkpoint.load_carried("cell", device)?,
            )),
            None => None,
        };
        Ok(())
    }
}

/// Samples `length` tokens after `prompt` (token ids): softmax of the logits divided by
/// `temperature`, drawn with a generator seeded by `seed`, so the same seed gives the same text.
pub fn sample_tokens(
    model: &CharLanguageModel,
    prompt: &[u32],
    length: usize,
    temperature: f64,
    seed: u64,
    device: &Device,
) -> Result<Vec<u32>> {
    let mut rng = SeededRng::new(seed);
    let to_tensor = |tokens: &[u32]| {
        let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
        Tensor::<2, Int>::from_data(TensorData::new(ids, [1, tokens.len()]), device)
    };
    let (mut logits, mut state) = model.forward(to_tensor(prompt), None);
    let mut generated = Vec::with_capacity(length);
    for _ in 0..length {
        let steps = logits.dims()[1];
        let last = logits
            .clone()
            .slice([0..1, steps - 1..steps])
            .flatten::<1>(0, 2);
        let probabilities: Vec<f32> = softmax(last.div_scalar(temperature.max(1e-6)), 0)
            .into_data()
            .convert::<f32>()
            .try_to_vec()
            .map_err(|e| KilnError::Internal(format!("cannot read the model's output: {e:?}")))?;
        let token = draw(&probabilities, rng.unit_f32());
        generated.push(token);
        let (next_logits, next_state) = model.forward(to_tensor(&[token]), Some(state));
        logits = next_logits;
        state = next_state;
    }
    Ok(generated)
}

/// The index where the running sum of `probabilities` passes `u` (inverse-CDF sampling).
fn draw(probabilities: &[f32], u: f32) -> u32 {
    let total: f32 = probabilities.iter().sum();
    let mut acc = 0.0;
    for (i, p) in probabilities.iter().enumerate() {
        acc += p / total;
        if u < acc {
            return i as u32;
        }
    }
    probabilities.len().saturating_sub(1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draw_follows_the_cumulative_distribution() {
        let p = [0.1, 0.0, 0.6, 0.3];
        assert_eq!(draw(&p, 0.05), 0);
        assert_eq!(draw(&p, 0.2), 2);
        assert_eq!(draw(&p, 0.69), 2);
        assert_eq!(draw(&p, 0.71), 3);
        assert_eq!(draw(&p, 0.9999), 3);
    }
}
