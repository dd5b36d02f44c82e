//! Knowledge distillation (Hinton et al. 2015) as a loss term of the loop:
//! `loss = α·CE(student, labels) + (1 − α)·T²·KL(softmax(t/T) ‖ softmax(s/T))`.
//!
//! The teacher runs without autodiff on the batch's inputs, once per batch.

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use kiln_train::StepOutput;
use kiln_train::hooks::LossTerm;

/// The distillation loss of a batch: student logits `[batch, classes]` (autodiff), teacher
/// logits of the same shape (constants), the task's cross-entropy `ce` (a scalar), temperature
/// `t` and weight `alpha` of the cross-entropy.
pub fn distillation_loss(
    student: Tensor<2>,
    teacher: Tensor<2>,
    ce: Tensor<1>,
    temperature: f64,
    alpha: f64,
) -> Tensor<1> {
    let [batch, _] = student.dims();
    let log_p_student = log_softmax(student.div_scalar(temperature), 1);
    let p_teacher = softmax(teacher.div_scalar(temperature), 1);
    let log_p_teacher = p_teacher.clone().clamp_min(1e-30).log();
    // KL(p_t ‖ p_s) summed over classes, averaged over the batch (PyTorch's "batchmean").
    let kl = (p_teacher * (log_p_teacher - log_p_student))
        .sum()
        .div_scalar(batch.max(1) as f64);
    ce.mul_scalar(alpha) + kl.mul_scalar((1.0 - alpha) * temperature * temperature)
}

/// A teacher's logits for a batch of flat inputs, on the inference device.
pub type Teacher<'a> = Box<dyn Fn(Tensor<2>) -> Tensor<2> + 'a>;

/// The loop's loss term for distillation: turns the task's cross-entropy into the distillation
/// loss (adds `(α − 1)·CE + (1 − α)·T²·KL`). Needs tasks that give their batch's inputs
/// ([`StepOutput::inputs`]), as [`kiln_train::Classification`] does.
pub struct Distillation<'a> {
    teacher: Teacher<'a>,
    temperature: f64,
    alpha: f64,
}

impl<'a> Distillation<'a> {
    /// Distils `teacher` at `temperature`, `alpha` being the weight of the labels' loss.
    pub fn new(teacher: Teacher<'a>, temperature: f64, alpha: f64) -> Self {
        Self {
            teacher,
            temperature,
            alpha,
        }
    }
}

impl<M> LossTerm<M> for Distillation<'_> {
    fn term(&mut self, _model: &M, output: &StepOutput) -> Option<Tensor<1>> {
        let inputs = output.inputs.as_ref()?;
        let device = output.logits.device();
        let teacher = (self.teacher)(inputs.clone().inner()).detach();
        let teacher = Tensor::from_inner(teacher).to_device(&device);
        let total = distillation_loss(
            output.logits.clone(),
            teacher,
            output.loss.clone(),
            self.temperature,
            self.alpha,
        );
        Some(total - output.loss.clone())
    }
}
