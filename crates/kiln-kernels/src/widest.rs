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
        /// A dot product in 8 lanes and a tail, as the kernels write their sums.
        fn dot(a: &[f32], b: &[f32]) -> f32 {
            let mut lanes = [0.0f32; 8];
            let whole = a.len() / 8 * 8;
            for start in (0..whole).step_by(8) {
                for k in 0..8 {
                    lanes[k] += a[start + k] * b[start + k];
                }
            }
            let mut tail = 0.0f32;
            for i in whole..a.len() {
                tail += a[i] * b[i];
            }
            let mut total = 0.0f32;
            for lane in lanes {
                total += lane;
            }
            total + tail
        }
    }

    #[test]
    fn every_width_gives_the_baseline_result() {
        let a: Vec<f32> = (0..1001).map(|i| (i as f32 * 0.37).sin() * 1e3).collect();
        let b: Vec<f32> = (0..1001).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut lanes = [0.0f32; 8];
        for i in 0..1000 {
            lanes[i % 8] += a[i] * b[i];
        }
        let expected = lanes.iter().fold(0.0f32, |t, &l| t + l) + a[1000] * b[1000];
        assert_eq!(dot(&a, &b).to_bits(), expected.to_bits());
    }
}
