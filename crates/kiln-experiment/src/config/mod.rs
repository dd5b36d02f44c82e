//! The experiment config: one TOML file per experiment, with `--set key=value` overrides by
//! dotted path, checked before any work starts. Each section is defined, and checks itself,
//! where it belongs: `[model]` in kiln-zoo, the loop's sections (`[optim]`, `[regularization]`,
//! `[schedule]`, `[early_stopping]`, `[loss_scale]`) in kiln-train, `[data]`, `[train]` and
//! `[checkpoint]` here.

mod card;
mod checkpoint;
mod data;
mod distill;
mod overrides;
mod privacy;
mod train;

use std::path::Path;

use kiln_train::settings::{
    EarlyStoppingConfig, OptimConfig, RegularizationConfig, ScheduleConfig,
};
use kiln_train::{FitConfig, KilnError, Precision, Result};
use kiln_zoo::ModelConfig;
use serde::{Deserialize, Serialize};

pub use card::CardConfig;
pub use checkpoint::CheckpointConfig;
pub use data::DataConfig;
pub use distill::DistillConfig;
pub use overrides::apply_override;
use overrides::one_line;
pub use privacy::PrivacyConfig;
pub use train::TrainConfig;

/// A whole experiment: model, data, training, optimizer, schedule and stopping rule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Experiment name (default: the config file's stem); names the run folder.
    #[serde(default)]
    pub name: String,
    /// Seed of everything random: initialisation, splits, shuffling, dropout.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The network.
    pub model: ModelConfig,
    /// Where the data comes from and how it is split.
    pub data: DataConfig,
    /// Epochs, batch size, backend, precision, logging.
    #[serde(default)]
    pub train: TrainConfig,
    /// The optimizer and its learning rate.
    #[serde(default)]
    pub optim: OptimConfig,
    /// L1 and L2 penalties.
    #[serde(default)]
    pub regularization: RegularizationConfig,
    /// Learning-rate schedule.
    #[serde(default)]
    pub schedule: ScheduleConfig,
    /// Early stopping on a validation metric.
    #[serde(default)]
    pub early_stopping: EarlyStoppingConfig,
    /// When to write checkpoints and how many to keep.
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
    /// The dynamic loss scaler of f16 training.
    #[serde(default)]
    pub loss_scale: kiln_train::precision::LossScaleConfig,
    /// Train as the student of a trained run (knowledge distillation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distill: Option<DistillConfig>,
    /// Differentially private training (DP-SGD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<PrivacyConfig>,
    /// What the model card says about use and limits (`model-card.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<CardConfig>,
}

fn default_seed() -> u64 {
    42
}

impl ExperimentConfig {
    /// Reads a config file, applies `key=value` overrides and checks the result.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            KilnError::Config(format!("{}: cannot read config: {e}", path.display()))
        })?;
        let mut config = Self::parse(&text, overrides, &path.display().to_string())?;
        if config.name.is_empty() {
            config.name = path
                .file_stem()
                .map_or("run".into(), |s| s.to_string_lossy().into());
        }
        Ok(config)
    }

    /// Parses config text (`origin` names it in errors), applies overrides and checks it.
    pub fn parse(text: &str, overrides: &[String], origin: &str) -> Result<Self> {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            KilnError::Config(format!("{origin}: {}", one_line(&e.to_string())))
        })?;
        for item in overrides {
            apply_override(&mut table, item)?;
        }
        let config: Self = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                KilnError::Config(format!("{origin}: {}", one_line(&e.to_string())))
            })?;
        config
            .validate()
            .map_err(|e| KilnError::Config(format!("{origin}: {e}")))?;
        Ok(config)
    }

    /// A hash of everything that must not change on resume: the whole config except the number
    /// of epochs, logging and checkpoint timing.
    pub fn resume_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut fixed = self.clone();
        fixed.train.epochs = 0;
        fixed.train.log_every = 1;
        fixed.train.backend = None;
        fixed.checkpoint = CheckpointConfig::default();
        fixed.name = String::new();
        Sha256::digest(fixed.to_toml().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The resolved config as TOML, as written into the run folder.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("configs always serialise")
    }

    /// The loop's settings.
    pub fn fit_config(&self) -> Result<FitConfig> {
        Ok(FitConfig {
            epochs: self.train.epochs,
            seed: self.seed,
            optim: self.optim.clone(),
            regularization: self.regularization.clone(),
            schedule: self.schedule.clone(),
            early_stopping: self.early_stopping.clone(),
            precision: Precision::parse(&self.train.precision)?,
            // DP-SGD's per-example gradients are taken unscaled: its summed gradient is not
            // scaled either, unless [loss_scale] says otherwise.
            loss_scale: match self.privacy.is_some()
                && self.loss_scale == kiln_train::precision::LossScaleConfig::default()
            {
                true => kiln_train::precision::LossScaleConfig::fixed(1.0),
                false => self.loss_scale,
            },
            accumulate_steps: self.train.accumulate_steps,
        })
    }

    /// Checks every section where it is defined, then what spans sections.
    fn validate(&self) -> std::result::Result<(), String> {
        self.model.validate()?;
        self.data.validate()?;
        self.train.validate()?;
        self.checkpoint.validate()?;
        self.optim.validate()?;
        self.regularization.validate()?;
        self.schedule.validate(self.optim.lr)?;
        self.early_stopping.validate()?;
        self.loss_scale.validate()?;
        if let Some(card) = &self.card {
            card.validate()?;
        }
        if let Some(distill) = &self.distill {
            distill.validate()?;
        }
        if let Some(privacy) = &self.privacy {
            privacy.validate()?;
            if self.distill.is_some() {
                return Err("[privacy] and [distill] cannot be combined yet".into());
            }
            if self.train.batch_size == 0 || self.optim.name == kiln_train::settings::OptimName::Gd
            {
                return Err("[privacy] samples batches: set train.batch_size > 0 and an optimizer other than gd".into());
            }
            if self.train.accumulate_steps > 1 {
                return Err(
                    "[privacy] steps on each Poisson sample: train.accumulate_steps must be 1"
                        .into(),
                );
            }
            if self.data.augment_shift > 0.0 || self.data.augment_rotation > 0.0 {
                return Err("[privacy] does not augment: set data.augment_shift and data.augment_rotation to 0".into());
            }
        }
        let language_model = self.model.info().task == kiln_zoo::TaskKind::LanguageModelling;
        if self.early_stopping.patience > 0 && self.data.valid_fraction <= 0.0 {
            return Err(
                "early_stopping needs a validation split: set data.valid_fraction > 0".into(),
            );
        }
        if language_model && self.privacy.is_some() {
            return Err(
                "[privacy] trains classifiers for now; a language model cannot train privately yet"
                    .into(),
            );
        }
        if language_model && self.distill.is_some() {
            return Err(
                "[distill] teaches classifiers; a language model cannot be a student".into(),
            );
        }
        if language_model && self.data.valid_fraction <= 0.0 {
            return Err("a language model needs data.valid_fraction > 0".into());
        }
        if language_model && self.train.seq_len == 0 {
            return Err("train.seq_len must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_train::settings::OptimName;
    use std::path::Path;

    const MINIMAL: &str = "[model]\nkind = \"mlp\"\nhidden = [8]\n[data]\ndataset = \"iris\"\n";

    #[test]
    fn minimal_config_gets_defaults() {
        let c = ExperimentConfig::parse(MINIMAL, &[], "t.toml").unwrap();
        assert_eq!(c.seed, 42);
        assert_eq!(c.optim.name, OptimName::Adam);
        assert_eq!(c.train.batch_size, 64);
        assert_eq!(
            c.model,
            ModelConfig::Mlp(kiln_zoo::kinds::mlp::MlpSpec {
                input_size: None,
                hidden: vec![8],
                activation: burn::nn::activation::ActivationConfig::Relu,
                dropout: 0.0,
                batch_norm: false
            })
        );
    }

    #[test]
    fn overrides_reach_any_key_by_dotted_path() {
        let sets = [
            "optim.lr=0.01",
            "data.path=/x/y.csv",
            "model.hidden=[3, 4]",
            "optim.name=sgd",
            "seed=7",
        ]
        .map(String::from);
        let c = ExperimentConfig::parse(MINIMAL, &sets, "t.toml").unwrap();
        assert_eq!(c.optim.lr, 0.01);
        assert_eq!(c.data.path.as_deref(), Some(Path::new("/x/y.csv")));
        assert_eq!(c.optim.name, OptimName::Sgd);
        assert_eq!(c.seed, 7);
        assert!(matches!(&c.model, ModelConfig::Mlp(mlp) if mlp.hidden == vec![3, 4]));
    }

    #[test]
    fn round_trips_through_toml() {
        let c = ExperimentConfig::parse(MINIMAL, &[], "t.toml").unwrap();
        assert_eq!(
            ExperimentConfig::parse(&c.to_toml(), &[], "again").unwrap(),
            c
        );
    }

    #[test]
    fn bad_configs_name_the_file_and_the_problem() {
        let cases = [
            (
                "[model]\nkind = \"mlp\"\n[data]\ndataset = \"iris\"\nbogus = 1\n",
                "unknown field `bogus`",
            ),
            (
                "[model]\nkind = \"mlp\"\n[data]\ndataset = \"iris\"\n[optim]\nlr = -1.0\n",
                "optim.lr",
            ),
            (
                "[model]\nkind = \"transformer\"\n[data]\ndataset = \"iris\"\n",
                "transformer",
            ),
            ("[model\n", "t.toml"),
            (
                "[model]\nkind = \"mlp\"\n[data]\ndataset = \"iris\"\n[early_stopping]\npatience = 3\n",
                "valid_fraction",
            ),
            (
                "[model]\nkind = \"charlm\"\n[data]\ndataset = \"shakespeare\"\nvalid_fraction = 0.1\n[privacy]\nmax_grad_norm = 1.0\ntarget_epsilon = 3.0\n",
                "language model cannot train privately",
            ),
            (
                "[model]\nkind = \"mlp\"\n[data]\ndataset = \"iris\"\n[privacy]\nmax_grad_norm = 1.0\n",
                "target_epsilon or noise_multiplier",
            ),
            (
                "[model]\nkind = \"mlp\"\n[data]\ndataset = \"iris\"\n[distill]\nteacher = \"runs/x\"\ntemperature = 0.0\n",
                "distill.temperature",
            ),
        ];
        for (text, needle) in cases {
            let err = ExperimentConfig::parse(text, &[], "t.toml").unwrap_err();
            let message = err.to_string();
            assert!(message.starts_with("t.toml: "), "{message}");
            assert!(
                message.contains(needle),
                "{message} should mention {needle}"
            );
            assert_eq!(err.exit_code(), 2);
        }
        let err = ExperimentConfig::parse(MINIMAL, &["nokey".into()], "t.toml").unwrap_err();
        assert!(err.to_string().contains("expected key=value"));
    }
}
