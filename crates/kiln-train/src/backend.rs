//! Backend selection: Cargo features decide which backends are compiled in; a name picks one of
//! them at run time through an explicit device constructor (never `Device::default()`).

use std::fmt;
use std::str::FromStr;

use burn::prelude::Device;

use crate::{KilnError, Result};

/// A Burn backend Kiln knows how to construct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// burn-flex: Burn's fast pure-Rust CPU backend (default).
    Flex,
    /// burn-ndarray: deprecated upstream, no f16, slow convolution.
    Ndarray,
    /// burn-wgpu: GPUs through Vulkan/Metal/DX12, or Mesa's lavapipe on the CPU.
    Wgpu,
}

impl BackendKind {
    /// Every backend Kiln knows, compiled in or not.
    pub const ALL: [BackendKind; 3] = [BackendKind::Flex, BackendKind::Ndarray, BackendKind::Wgpu];

    /// The name used on the command line and in configs.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Wgpu => "wgpu",
        }
    }

    /// Whether this build has the backend (its Cargo feature was enabled).
    pub fn is_compiled(self) -> bool {
        match self {
            BackendKind::Flex => cfg!(feature = "flex"),
            BackendKind::Ndarray => cfg!(feature = "ndarray"),
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
        }
    }

    /// The backends compiled into this build, default first.
    pub fn compiled() -> Vec<BackendKind> {
        Self::ALL.into_iter().filter(|b| b.is_compiled()).collect()
    }

    /// The default backend of this build: flex when compiled in, else the first there is.
    pub fn default_compiled() -> Result<BackendKind> {
        Self::compiled().first().copied().ok_or_else(|| {
            KilnError::Input(
                "no backend compiled in: build with --features flex, ndarray or wgpu".into(),
            )
        })
    }

    /// The device of this backend (without autodiff); exit-2 error when not compiled in.
    pub fn device(self) -> Result<Device> {
        if !self.is_compiled() {
            let list: Vec<&str> = Self::compiled().iter().map(|b| b.name()).collect();
            return Err(KilnError::Input(format!(
                "backend '{}' is not compiled into this build (compiled in: {}); rebuild with --features {}",
                self.name(),
                list.join(", "),
                self.name()
            )));
        }
        Ok(construct(self))
    }
}

#[allow(deprecated, unreachable_code, unused_variables)]
fn construct(kind: BackendKind) -> Device {
    match kind {
        #[cfg(feature = "flex")]
        BackendKind::Flex => Device::flex(),
        #[cfg(feature = "ndarray")]
        BackendKind::Ndarray => Device::ndarray(),
        #[cfg(feature = "wgpu")]
        BackendKind::Wgpu => Device::wgpu(burn::tensor::DeviceKind::default()),
        #[allow(unreachable_patterns)]
        _ => unreachable!("checked by is_compiled"),
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = KilnError;

    fn from_str(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == name)
            .ok_or_else(|| {
                KilnError::Input(format!(
                    "unknown backend '{name}' (known: flex, ndarray, wgpu)"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_refused() {
        for kind in BackendKind::ALL {
            assert_eq!(kind.name().parse::<BackendKind>().unwrap(), kind);
        }
        assert_eq!("cuda".parse::<BackendKind>().unwrap_err().exit_code(), 2);
    }

    #[test]
    fn a_backend_not_compiled_in_is_an_input_error_listing_the_others() {
        for kind in BackendKind::ALL.into_iter().filter(|k| !k.is_compiled()) {
            let err = kind.device().unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains("compiled in:"), "{err}");
        }
        assert!(BackendKind::compiled().iter().all(|k| k.device().is_ok()));
    }
}
