//! Character-level text corpora for language models: a vocabulary, token ids, a split by position
//! (first part for training, the rest for validation) and parallel streams cut into chunks for
//! truncated back-propagation through time.

use burn::prelude::*;

use crate::DataError;

/// A text as character ids over its own vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct Corpus {
    /// The distinct characters, sorted; a token is an index into it.
    pub vocab: Vec<char>,
    /// The text as token ids.
    pub tokens: Vec<u32>,
}

impl Corpus {
    /// Builds the vocabulary of `text` and encodes it; `origin` names it in errors.
    pub fn from_text(text: &str, origin: &str) -> Result<Self, DataError> {
        let mut vocab: Vec<char> = text.chars().collect();
        vocab.sort_unstable();
        vocab.dedup();
        if text.chars().nth(1).is_none() {
            return Err(DataError::Empty {
                path: origin.into(),
            });
        }
        let tokens = text
            .chars()
            .map(|c| vocab.binary_search(&c).expect("in vocab") as u32)
            .collect();
        Ok(Self { vocab, tokens })
    }

    /// Encodes `text` with this vocabulary; characters it does not know are an error.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, char> {
        text.chars()
            .map(|c| {
                self.vocab
                    .binary_search(&c)
                    .map(|i| i as u32)
                    .map_err(|_| c)
            })
            .collect()
    }

    /// Decodes token ids back to text.
    pub fn decode(&self, tokens: &[u32]) -> String {
        tokens.iter().map(|&t| self.vocab[t as usize]).collect()
    }

    /// Splits the token sequence at `fraction` of its length: (first part, rest).
    pub fn split_at_fraction(&self, fraction: f64) -> (Vec<u32>, Vec<u32>) {
        let cut = ((self.tokens.len() as f64) * fraction).round() as usize;
        (self.tokens[..cut].to_vec(), self.tokens[cut..].to_vec())
    }
}

/// `tokens` laid out as `streams` parallel contiguous streams and cut into chunks of `seq_len`
/// steps, so that chunk `k + 1` of each stream continues chunk `k` (the hidden state carries over).
#[derive(Debug, Clone)]
pub struct StreamChunks {
    tokens: Vec<u32>,
    streams: usize,
    stream_len: usize,
    seq_len: usize,
}

impl StreamChunks {
    /// Lays out `tokens`; the tail that does not fill all streams is dropped.
    pub fn new(tokens: Vec<u32>, streams: usize, seq_len: usize) -> Self {
        let streams = streams.max(1);
        let stream_len = tokens.len() / streams;
        Self {
            tokens,
            streams,
            stream_len,
            seq_len: seq_len.max(1),
        }
    }

    /// Number of chunks per pass (each predicts `seq_len` next characters per stream).
    pub fn len(&self) -> usize {
        self.stream_len.saturating_sub(1) / self.seq_len
    }

    /// True when there is not a single chunk.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of parallel streams (the batch size).
    pub fn streams(&self) -> usize {
        self.streams
    }

    /// Inputs and next-character targets `[streams, seq_len]` of chunk `index`.
    pub fn chunk(&self, index: usize, device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
        let mut inputs = Vec::with_capacity(self.streams * self.seq_len);
        let mut targets = Vec::with_capacity(self.streams * self.seq_len);
        for s in 0..self.streams {
            let start = s * self.stream_len + index * self.seq_len;
            inputs.extend(
                self.tokens[start..start + self.seq_len]
                    .iter()
                    .map(|&t| t as i64),
            );
            targets.extend(
                self.tokens[start + 1..start + 1 + self.seq_len]
                    .iter()
                    .map(|&t| t as i64),
            );
        }
        let shape = [self.streams, self.seq_len];
        (
            Tensor::from_data(TensorData::new(inputs, shape), device),
            Tensor::from_data(TensorData::new(targets, shape), device),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_decodes_and_splits_by_position() {
        let corpus = Corpus::from_text("abcabd", "t").unwrap();
        assert_eq!(corpus.vocab, vec!['a', 'b', 'c', 'd']);
        assert_eq!(corpus.tokens, vec![0, 1, 2, 0, 1, 3]);
        assert_eq!(corpus.decode(&corpus.tokens), "abcabd");
        assert_eq!(corpus.encode("dab"), Ok(vec![3, 0, 1]));
        assert_eq!(corpus.encode("xa"), Err('x'));
        let (train, valid) = corpus.split_at_fraction(0.5);
        assert_eq!((train, valid), (vec![0, 1, 2], vec![0, 1, 3]));
        assert!(Corpus::from_text("", "t").is_err());
    }

    #[test]
    fn chunks_continue_each_stream_and_targets_are_shifted() {
        let chunks = StreamChunks::new((0..20).collect(), 2, 3);
        assert_eq!(
            chunks.len(),
            3,
            "streams of 10: chunks 0..3, 3..6, 6..9 with targets up to 9"
        );
        let device = Device::flex();
        let ints = |t: Tensor<2, Int>| t.into_data().convert::<i64>().try_to_vec::<i64>().unwrap();
        let (x0, y0) = chunks.chunk(0, &device);
        assert_eq!(ints(x0), vec![0, 1, 2, 10, 11, 12]);
        assert_eq!(ints(y0), vec![1, 2, 3, 11, 12, 13]);
        let (x1, _) = chunks.chunk(1, &device);
        assert_eq!(ints(x1), vec![3, 4, 5, 13, 14, 15]);
    }
}
