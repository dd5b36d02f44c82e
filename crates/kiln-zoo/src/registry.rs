//! The registry: every model kind registers once, in [`crate::zoo!`]'s list in `lib.rs`, from
//! a file of its own under `kinds/` that implements [`ModelKind`]. The config enum, the model
//! enum and `kiln list` / `kiln inspect` are generated from that list.

use burn::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::DataShape;
use kiln_train::Result;

/// What a model kind trains on, which decides the training task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Flat samples (tables, or images as pixels): [`kiln_train::Classification`].
    Samples,
    /// Images or sequences read step by step: [`kiln_train::Classification`] too.
    Sequences,
    /// Next-character prediction over a text, the state carried between chunks:
    /// [`crate::LanguageModelling`].
    LanguageModelling,
}

/// A named variant of a kind (a preset, a cell), shown by `kiln list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Variant {
    /// The value that selects it in the config.
    pub name: &'static str,
    /// One line on what it is.
    pub description: &'static str,
}

/// What `kiln list` shows of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KindInfo {
    /// `[model] kind = "..."`.
    pub name: &'static str,
    /// One line on what it is.
    pub description: &'static str,
    /// The model crate it comes from.
    pub crate_name: &'static str,
    /// What it trains on.
    pub task: TaskKind,
    /// The config key that picks a variant (`preset`, `cell`), if any.
    pub variant_key: Option<&'static str>,
    /// Its variants.
    pub variants: &'static [Variant],
    /// A `[model]` section that builds it.
    pub example: &'static str,
}

/// One model kind: its `[model]` section (this type, with serde) and how it becomes a model.
pub trait ModelKind: Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug {
    /// The Burn module it builds.
    type Model: Module;

    /// Its registry entry.
    fn info() -> &'static KindInfo;

    /// Checks the section's values (a message naming the key).
    fn validate(&self) -> std::result::Result<(), String>;

    /// Builds the model for data of `shape` on `device`; a model that does not fit the data, or
    /// is too large to build, is an input error naming the keys.
    fn build(&self, shape: &DataShape, device: &Device) -> Result<Self::Model>;

    /// Logits `[batch, outputs]` for flattened inputs `[batch, sample_size]`.
    fn logits(model: &Self::Model, inputs: Tensor<2>) -> Tensor<2>;

    /// Features of a first stage without parameters (a fixed transform) for flattened inputs,
    /// or `None` when the whole model trains. Training computes them once for the whole data
    /// set and trains [`head_logits`](Self::head_logits) on them. It must not read the
    /// model's parameters: Burn initialises them lazily, in the order they are first used, so
    /// reading one before training would change the weights a seed gives.
    fn frozen_features(model: &Self::Model, inputs: Tensor<2>) -> Option<Tensor<2>> {
        let _ = (model, inputs);
        None
    }

    /// Logits of the [`frozen_features`](Self::frozen_features) of some inputs.
    fn head_logits(model: &Self::Model, features: Tensor<2>) -> Tensor<2> {
        Self::logits(model, features)
    }

    /// The model prepared for repeated inference off an autodiff device (a CNN's batch norms
    /// folded into its convolutions once), with the same outputs; the model itself for kinds
    /// with nothing to prepare. Not for training or for saving.
    fn for_inference(model: Self::Model) -> Self::Model {
        model
    }

    /// Structured pruning: this kind's section and a smaller dense model without `fraction` of
    /// the units (conv filters, hidden units) of `model`, those of the smallest L1 norm, with
    /// the weights of the units kept. Kinds that cannot say no with an input error.
    fn remove_units(
        &self,
        model: &Self::Model,
        fraction: f64,
        shape: &DataShape,
        device: &Device,
    ) -> Result<(Self, Self::Model)> {
        let _ = (model, fraction, shape, device);
        Err(kiln_train::KilnError::Input(format!(
            "structured pruning is not available for model kind {} (it is for mlp, cnn and rnn)",
            Self::info().name
        )))
    }
}

/// Generates the `[model]` config enum, the model enum and the registry from one list of
/// `Variant(module::Spec)` entries, `module` being a file under `kinds/`.
#[macro_export]
#[doc(hidden)]
macro_rules! zoo {
    ($($variant:ident($module:ident :: $spec:ident)),+ $(,)?) => {
        /// The `[model]` section of a config: `kind` picks the model kind.
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
        #[serde(tag = "kind", rename_all = "lowercase")]
        pub enum ModelConfig {
            $(
                #[allow(missing_docs)]
                $variant($crate::kinds::$module::$spec),
            )+
        }

        /// Any model the zoo builds.
        #[derive(burn::module::Module, Debug)]
        #[allow(clippy::large_enum_variant)] // one per run, never in bulk
        pub enum AnyModel {
            $(
                #[allow(missing_docs)]
                $variant(<$crate::kinds::$module::$spec as $crate::ModelKind>::Model),
            )+
        }

        /// Every kind, in registration order.
        pub const KINDS: &[fn() -> &'static $crate::KindInfo] = &[
            $(<$crate::kinds::$module::$spec as $crate::ModelKind>::info,)+
        ];

        impl ModelConfig {
            /// The kind's registry entry.
            pub fn info(&self) -> &'static $crate::KindInfo {
                match self {
                    $(Self::$variant(_) => <$crate::kinds::$module::$spec as $crate::ModelKind>::info(),)+
                }
            }

            /// Checks the section's values (a message naming the key).
            pub fn validate(&self) -> std::result::Result<(), String> {
                match self {
                    $(Self::$variant(spec) => $crate::ModelKind::validate(spec),)+
                }
            }

            /// Builds the model for data of `shape` on `device`.
            pub fn build(
                &self,
                shape: &$crate::DataShape,
                device: &burn::prelude::Device,
            ) -> kiln_train::Result<AnyModel> {
                match self {
                    $(Self::$variant(spec) => $crate::ModelKind::build(spec, shape, device).map(AnyModel::$variant),)+
                }
            }
        }

        impl ModelConfig {
            /// Structured pruning: see [`ModelKind::remove_units`].
            pub fn remove_units(
                &self,
                model: &AnyModel,
                fraction: f64,
                shape: &$crate::DataShape,
                device: &burn::prelude::Device,
            ) -> kiln_train::Result<(ModelConfig, AnyModel)> {
                match (self, model) {
                    $((Self::$variant(spec), AnyModel::$variant(model)) => {
                        let (spec, model) = $crate::ModelKind::remove_units(spec, model, fraction, shape, device)?;
                        Ok((Self::$variant(spec), AnyModel::$variant(model)))
                    })+
                    #[allow(unreachable_patterns)]
                    _ => Err(kiln_train::KilnError::Internal("the model is not of its config's kind".into())),
                }
            }
        }

        impl AnyModel {
            /// Logits `[batch, outputs]` for flattened inputs `[batch, sample_size]`.
            pub fn logits(&self, inputs: burn::prelude::Tensor<2>) -> burn::prelude::Tensor<2> {
                match self {
                    $(Self::$variant(model) => <$crate::kinds::$module::$spec as $crate::ModelKind>::logits(model, inputs),)+
                }
            }

            /// See [`ModelKind::for_inference`].
            pub fn for_inference(self) -> Self {
                match self {
                    $(Self::$variant(model) => Self::$variant(<$crate::kinds::$module::$spec as $crate::ModelKind>::for_inference(model)),)+
                }
            }

            /// See [`ModelKind::frozen_features`].
            pub fn frozen_features(&self, inputs: burn::prelude::Tensor<2>) -> Option<burn::prelude::Tensor<2>> {
                match self {
                    $(Self::$variant(model) => <$crate::kinds::$module::$spec as $crate::ModelKind>::frozen_features(model, inputs),)+
                }
            }

            /// See [`ModelKind::head_logits`].
            pub fn head_logits(&self, features: burn::prelude::Tensor<2>) -> burn::prelude::Tensor<2> {
                match self {
                    $(Self::$variant(model) => <$crate::kinds::$module::$spec as $crate::ModelKind>::head_logits(model, features),)+
                }
            }
        }
    };
}

/// The registry entry of the kind named `name`.
pub fn find(name: &str) -> Option<&'static KindInfo> {
    crate::KINDS
        .iter()
        .map(|info| info())
        .find(|info| info.name == name)
}
