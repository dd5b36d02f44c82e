//! Builds Burn's optimizer and learning-rate scheduler from the config.

use burn::lr_scheduler::LrSchedulerConfig;
use burn::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::lr_scheduler::linear::LinearLrSchedulerConfig;
use burn::lr_scheduler::module_lr_scheduler::{ModuleLrScheduler, ModuleLrSchedulerConfig};
use burn::lr_scheduler::sequential::SequentialLrSchedulerConfig;
use burn::lr_scheduler::step::StepLrSchedulerConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, ModuleOptimizer, SgdConfig};

use crate::fused_adam::{FusedAdam, FusedAdamW};
use crate::settings::{OptimConfig, OptimName, RegularizationConfig, ScheduleConfig, ScheduleName};
use crate::{KilnError, Result};

/// Burn's optimizer for the config; L2 becomes its weight decay. Adam without weight decay is
/// [`FusedAdam`] and AdamW is [`FusedAdamW`] (Burn's, fused on the CPU backends).
pub fn build_optimizer(
    optim: &OptimConfig,
    regularization: &RegularizationConfig,
) -> ModuleOptimizer {
    let decay = (regularization.l2 > 0.0).then(|| WeightDecayConfig::new(regularization.l2 as f32));
    match optim.name {
        OptimName::Gd | OptimName::Sgd => {
            let momentum = (optim.momentum > 0.0).then(|| {
                MomentumConfig::new()
                    .with_momentum(optim.momentum)
                    .with_dampening(0.0)
                    .with_nesterov(optim.nesterov)
            });
            SgdConfig::new()
                .with_momentum(momentum)
                .with_weight_decay(decay)
                .init()
        }
        // Without weight decay: Burn's Adam with its update fused on the CPU backends.
        OptimName::Adam if decay.is_none() => {
            FusedAdam::new(optim.beta1, optim.beta2, optim.epsilon).into()
        }
        OptimName::Adam => AdamConfig::new()
            .with_beta_1(optim.beta1)
            .with_beta_2(optim.beta2)
            .with_epsilon(optim.epsilon)
            .with_weight_decay(decay)
            .init(),
        OptimName::Adamw => FusedAdamW::new(
            optim.beta1,
            optim.beta2,
            optim.epsilon,
            regularization.l2 as f32,
        )
        .into(),
    }
}

/// Burn's scheduler for the config, stepped once per optimizer step.
pub fn build_scheduler(
    schedule: &ScheduleConfig,
    lr: f64,
    steps_per_epoch: usize,
    total_steps: usize,
) -> Result<ModuleLrScheduler> {
    let warmup = schedule.warmup_steps.min(total_steps.saturating_sub(1));
    let main = match schedule.name {
        ScheduleName::Constant => LrSchedulerConfig::Constant(lr),
        ScheduleName::Step => LrSchedulerConfig::Step(
            StepLrSchedulerConfig::new(lr, schedule.step_epochs * steps_per_epoch.max(1))
                .with_gamma(schedule.gamma),
        ),
        ScheduleName::Cosine => LrSchedulerConfig::Cosine(
            CosineAnnealingLrSchedulerConfig::new(lr, (total_steps - warmup).max(1))
                .with_min_lr(schedule.min_lr),
        ),
    };
    let base = if warmup > 0 {
        LrSchedulerConfig::Sequential(SequentialLrSchedulerConfig::new(
            vec![
                LrSchedulerConfig::Linear(LinearLrSchedulerConfig::new(lr / 100.0, lr, warmup)),
                main,
            ],
            vec![warmup],
        ))
    } else {
        main
    };
    ModuleLrSchedulerConfig::new(base)
        .init()
        .map_err(|e| KilnError::Config(format!("schedule: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(schedule: &ScheduleConfig, steps: usize, per_epoch: usize) -> Vec<f64> {
        let mut s = build_scheduler(schedule, 0.1, per_epoch, steps).unwrap();
        (0..steps).map(|_| s.step().base()).collect()
    }

    #[test]
    fn step_schedule_decays_every_step_epochs() {
        let config = ScheduleConfig {
            name: ScheduleName::Step,
            step_epochs: 2,
            gamma: 0.5,
            ..Default::default()
        };
        let r = rates(&config, 6, 1);
        assert!((r[0] - 0.1).abs() < 1e-12 && (r[1] - 0.1).abs() < 1e-12);
        assert!((r[2] - 0.05).abs() < 1e-12 && (r[4] - 0.025).abs() < 1e-12);
    }

    #[test]
    fn warmup_then_cosine_rises_then_falls() {
        let config = ScheduleConfig {
            name: ScheduleName::Cosine,
            warmup_steps: 5,
            ..Default::default()
        };
        let r = rates(&config, 20, 4);
        assert!(r[0] < 0.01, "warm-up starts low: {r:?}");
        assert!(r[..5].windows(2).all(|w| w[1] > w[0]), "{r:?}");
        assert!((r[5] - 0.1).abs() < 1e-9, "{r:?}");
        assert!(r[5..].windows(2).all(|w| w[1] <= w[0]), "{r:?}");
    }
}
