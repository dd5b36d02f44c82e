//! The host loops of the bit-mask dropout.

/// The kept elements of a 0/1 draw as bits, 64 to a word (bit `i % 64` of word `i / 64`).
pub fn pack(draw: &[f32]) -> Vec<u64> {
    draw.chunks(64)
        .map(|chunk| {
            chunk
                .iter()
                .enumerate()
                .fold(0u64, |word, (i, &v)| word | (u64::from(v != 0.0) << i))
        })
        .collect()
}

/// Whether element `i` was kept.
fn kept(bits: &[u64], i: usize) -> f32 {
    if bits[i / 64] >> (i % 64) & 1 == 1 {
        1.0
    } else {
        0.0
    }
}

/// The forward values in place: `x = (x * draw) * scale`, in Burn's order of operations.
pub fn forward(x: &mut [f32], draw: &[f32], scale: f32) {
    for (x, &d) in x.iter_mut().zip(draw) {
        *x = (*x * d) * scale;
    }
}

/// The gradient of the input: `(grad * scale) * kept`, the order in which Burn's two
/// operations pass it back.
pub fn backward(grad: &mut [f32], bits: &[u64], scale: f32) {
    for (i, g) in grad.iter_mut().enumerate() {
        *g = (*g * scale) * kept(bits, i);
    }
}
