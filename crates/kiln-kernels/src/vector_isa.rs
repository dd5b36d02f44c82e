//! The x86 vector instruction set that Kiln's hand-written tile kernels (the direct convolution
//! of `kiln-cnn`, the LSTM gate tiles of `kiln-rnn`) run on, chosen at run time.

/// A vector instruction set the tile kernels are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorIsa {
    /// AVX-512F: 16 `f32` lanes, 32 registers.
    Avx512,
    /// AVX2 with FMA: 8 lanes, 16 registers.
    Avx2,
}

impl VectorIsa {
    /// The widest one this CPU runs: AVX-512 only when `avx512` is true (the calling crate
    /// compiled its AVX-512 kernels: pass `cfg!(feature = "avx512")`), else AVX2 with FMA;
    /// `None` on other CPUs.
    pub fn detect(avx512: bool) -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        {
            if avx512 && std::arch::is_x86_feature_detected!("avx512f") {
                return Some(Self::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Some(Self::Avx2);
            }
        }
        let _ = avx512;
        None
    }

    /// `f32` values per vector.
    pub fn lanes(self) -> usize {
        match self {
            Self::Avx512 => 16,
            Self::Avx2 => 8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::VectorIsa;

    #[test]
    fn avx512_only_when_the_caller_compiled_it() {
        // Without the caller's AVX-512 kernels the answer is AVX2 or nothing, whatever the CPU.
        assert_ne!(VectorIsa::detect(false), Some(VectorIsa::Avx512));
        match VectorIsa::detect(true) {
            Some(isa) => assert!(isa.lanes() == 8 || isa.lanes() == 16),
            None => assert_eq!(VectorIsa::detect(false), None),
        }
    }
}
