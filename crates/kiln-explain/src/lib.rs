//! Explanations: integrated gradients, permutation feature importance, heat maps.
