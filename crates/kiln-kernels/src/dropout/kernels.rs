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

/// The forward values in place: `x = (x * draw) * scale`, in Burn's order of operations.
pub fn forward(x: &mut [f32], draw: &[f32], scale: f32) {
    for (x, &d) in x.iter_mut().zip(draw) {
        *x = (*x * d) * scale;
    }
}

/// The gradient of the input: `(grad * scale) * kept`, the order in which Burn's two
/// operations pass it back (64 elements per word of bits).
pub fn backward(grad: &mut [f32], bits: &[u64], scale: f32) {
    for (chunk, &word) in grad.chunks_mut(64).zip(bits) {
        for (i, g) in chunk.iter_mut().enumerate() {
            *g = (*g * scale) * ((word >> i) & 1) as f32;
        }
    }
}
