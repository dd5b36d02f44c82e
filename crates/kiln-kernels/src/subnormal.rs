//! Subnormal floats flushed to zero for a stretch of code on the current thread.
//!
//! An x86 core computes with a subnormal operand or result (a magnitude below `f32::MIN_POSITIVE`)
//! through a microcode assist that costs about a hundred cycles. Adam's moments decay towards
//! zero by a constant factor at every step where a parameter's gradient is zero, and so pass
//! through the subnormal range: between steps 500 and 1,100 of a `cnn-mnist` run the fused Adam
//! update took 9.5% of the time (docs/performance.md). [`flushed`] turns on the flush-to-zero and
//! denormals-are-zero modes (MXCSR's FTZ and DAZ bits) around such a loop and restores the
//! previous mode after it. Results differ only where a subnormal value arises, and then by less
//! than `f32::MIN_POSITIVE`; other CPUs run `f` unchanged.

/// Runs `f` with subnormal inputs and results of f32/f64 vector and scalar arithmetic taken as
/// zero on this thread (x86-64), then restores the thread's previous mode, even if `f` panics.
pub fn flushed<R>(f: impl FnOnce() -> R) -> R {
    let _mode = FlushGuard::enter();
    f()
}

/// The thread's floating-point mode while a [`flushed`] call runs.
struct FlushGuard {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
}

#[cfg(target_arch = "x86_64")]
mod mxcsr {
    /// MXCSR's flush-to-zero bit (results) and denormals-are-zero bit (inputs).
    pub const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

    /// The thread's MXCSR register.
    pub fn read() -> u32 {
        let mut value = 0u32;
        // SAFETY: `stmxcsr` stores the 32-bit register at the address given, a local.
        unsafe {
            std::arch::asm!(
                "stmxcsr [{}]",
                in(reg) &mut value,
                options(nostack, preserves_flags)
            )
        };
        value
    }

    /// Sets the thread's MXCSR register to `value` (a value `read` returned, with mode bits).
    pub fn write(value: u32) {
        // SAFETY: `ldmxcsr` loads the register from a local; only rounding and exception-mask
        // bits that `read` gave back, plus FTZ and DAZ, are ever set.
        unsafe {
            std::arch::asm!(
                "ldmxcsr [{}]",
                in(reg) &value,
                options(nostack, readonly, preserves_flags)
            )
        };
    }
}

impl FlushGuard {
    fn enter() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let saved = mxcsr::read();
            mxcsr::write(saved | mxcsr::FTZ_DAZ);
            Self { saved }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Self {}
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        mxcsr::write(self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Halves `x` in a way the compiler cannot fold at compile time.
    fn halved(x: f32) -> f32 {
        std::hint::black_box(x) * std::hint::black_box(0.5)
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn subnormals_are_zero_inside_and_kept_outside() {
        let smallest_normal = f32::MIN_POSITIVE;
        assert!(
            halved(smallest_normal).is_subnormal(),
            "the default mode keeps subnormals"
        );
        assert_eq!(flushed(|| halved(smallest_normal)), 0.0);
        // Inputs too: a subnormal operand counts as zero.
        let subnormal = halved(smallest_normal);
        assert_eq!(flushed(|| std::hint::black_box(subnormal) * 4.0), 0.0);
        assert!(
            halved(smallest_normal).is_subnormal(),
            "the mode is restored after the call"
        );
        // Normal values are untouched.
        assert_eq!(flushed(|| halved(3.0)), 1.5);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_mode_is_restored_after_a_panic() {
        let caught = std::panic::catch_unwind(|| flushed(|| panic!("inside")));
        assert!(caught.is_err());
        assert!(halved(f32::MIN_POSITIVE).is_subnormal());
    }
}
