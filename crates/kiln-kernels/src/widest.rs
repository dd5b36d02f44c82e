//! [`widest!`](crate::widest): one function body compiled for every vector width, the widest the
//! CPU runs chosen at each call.

/// Defines `$name` as `$body` compiled three times (AVX-512 where the calling crate's `avx512`
/// feature is on, AVX2 + FMA, baseline), the widest one the CPU runs chosen at each call. The
/// body is plain Rust written so that the compiler vectorises it (fixed-size lane arrays); Rust
/// neither fuses multiplies and adds nor reorders float sums on its own, so every width gives
/// the same results bit for bit.
#[macro_export]
macro_rules! widest {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(all(target_arch = "x86_64", feature = "avx512"))]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has the feature `avx512` was compiled for.
                    return unsafe { avx512($($arg),*) };
                }
            }
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has the features `avx2` was compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

#[cfg(test)]
mod tests {
    crate::widest! {
        /// A sum in 16 lanes, as the kernels write them.
        fn lane_sum(values: &[f32]) -> f32 {
            let mut lanes = [0.0f32; 16];
            let mut chunks = values.chunks_exact(16);
            for chunk in &mut chunks {
                for (lane, v) in lanes.iter_mut().zip(chunk) {
                    *lane += v;
                }
            }
            lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
        }
    }

    #[test]
    fn every_width_gives_the_baseline_sum() {
        let values: Vec<f32> = (0..1001).map(|i| (i as f32 * 0.37).sin() * 1e3).collect();
        let mut lanes = [0.0f32; 16];
        for (i, v) in values[..992].iter().enumerate() {
            lanes[i % 16] += v;
        }
        let expected = lanes.iter().sum::<f32>() + values[992..].iter().sum::<f32>();
        assert_eq!(lane_sum(&values).to_bits(), expected.to_bits());
    }
}
