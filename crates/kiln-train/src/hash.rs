//! `weights_sha256`: sha256 over every parameter's values as f32 little-endian, in module
//! order. Same weights <=> same hash, on any backend.

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use sha2::{Digest, Sha256};

/// Hex sha256 of all of `model`'s float parameters (batch-norm statistics included).
pub fn weights_sha256<M: Module>(model: &M) -> String {
    let mut visitor = HashVisitor {
        hasher: Sha256::new(),
    };
    model.visit(&mut visitor);
    visitor
        .hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct HashVisitor {
    hasher: Sha256,
}

impl ModuleVisitor for HashVisitor {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        for v in param.val().into_data().iter::<f32>() {
            self.hasher.update(v.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::tiny;

    #[test]
    fn same_seed_same_hash_other_seed_other_hash() {
        let device = Device::flex();
        let _rng = crate::rng_guard(); // Burn's RNG is global: keep other tests from reseeding it
        let build = |seed| {
            device.seed(seed);
            tiny(3, 2, &[4], &device)
        };
        let a = weights_sha256(&build(1));
        assert_eq!(a.len(), 64);
        assert_eq!(a, weights_sha256(&build(1)));
        assert_ne!(a, weights_sha256(&build(2)));
    }
}
