//! The host loops of the bit-mask dropout: the mask drawn from a seed, the forward values and
//! the gradient.

use crate::run_parts;

/// Elements above which the mask is drawn on the helper threads too.
const PARALLEL_ELEMENTS: usize = 1 << 16;

/// The 32-bit draw below which an element is kept, for a keep probability `prob_keep`: an
/// element is kept with probability `threshold / 2^32`, `prob_keep` to within 2^-33.
pub fn threshold(prob_keep: f64) -> u64 {
    (prob_keep.clamp(0.0, 1.0) * 4_294_967_296.0).round() as u64
}

/// SplitMix64's output function: a bijection of 64-bit words whose outputs for consecutive
/// inputs pass the BigCrush statistical tests (Steele, Lea and Flood, 2014).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Words `first..` of the mask into `words`: element `i` is kept when its 32-bit draw (one half
/// of the hash of `seed` and `i / 2`) is below `threshold`; bits past `len` stay clear.
fn mask_words(seed: u64, threshold: u64, len: usize, first: usize, words: &mut [u64]) {
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
    for (w, word) in words.iter_mut().enumerate() {
        let start = (first + w) * 64;
        let count = len.saturating_sub(start).min(64);
        let mut bits = 0u64;
        for pair in 0..count.div_ceil(2) {
            let index = (start / 2 + pair) as u64;
            let hash = mix(seed.wrapping_add(index.wrapping_mul(GOLDEN)));
            let low = u64::from(hash as u32) < threshold;
            let high = (hash >> 32) < threshold;
            bits |= (u64::from(low) | (u64::from(high) << 1)) << (2 * pair);
        }
        if count < 64 {
            bits &= (1u64 << count) - 1;
        }
        *word = bits;
    }
}

/// The kept elements of `len` elements as bits, 64 to a word (bit `i % 64` of word `i / 64`):
/// each kept with probability `threshold / 2^32` (see [`threshold`]), a function of `seed` and
/// the element's index alone (the same mask whichever threads draw it).
pub fn mask(seed: u64, threshold: u64, len: usize) -> Vec<u64> {
    let parts = if len < PARALLEL_ELEMENTS {
        1
    } else {
        rayon::current_num_threads()
    };
    mask_in_parts(seed, threshold, len, parts)
}

/// [`mask`] drawn in `parts` parts of near-equal length, in parallel.
pub fn mask_in_parts(seed: u64, threshold: u64, len: usize, parts: usize) -> Vec<u64> {
    let mut words = vec![0u64; len.div_ceil(64)];
    let per_part = words.len().div_ceil(parts.max(1)).max(1);
    let parts: Vec<_> = words.chunks_mut(per_part).enumerate().collect();
    run_parts(parts, |(p, chunk)| {
        mask_words(seed, threshold, len, p * per_part, chunk)
    });
    words
}

/// The forward values in place: `x = (x * kept) * scale`, with `kept` 1 or 0 (the order of
/// operations of Burn's `Dropout`, a multiplication by a 0/1 draw and then by the scale).
pub fn forward(x: &mut [f32], bits: &[u64], scale: f32) {
    for (chunk, &word) in x.chunks_mut(64).zip(bits) {
        for (i, x) in chunk.iter_mut().enumerate() {
            *x = (*x * ((word >> i) & 1) as f32) * scale;
        }
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
