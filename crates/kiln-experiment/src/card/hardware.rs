//! The machine a card was written on: CPU model, vector extensions, cores.

use serde::{Deserialize, Serialize};

/// What the card says about the hardware.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Hardware {
    /// The CPU's model name (`/proc/cpuinfo`), or `unknown`.
    pub cpu: String,
    /// The widest x86 vector extension the CPU has (`avx512f`, `avx2`, ...), or `none`.
    pub vector_extensions: String,
    /// Logical cores available to this process.
    pub cores: usize,
    /// The backend the run trained on.
    pub backend: String,
    /// The compute precision it trained in.
    pub precision: String,
}

impl Hardware {
    /// Reads this machine's CPU; `backend` and `precision` come from the run.
    pub fn of_this_machine(backend: &str, precision: &str) -> Hardware {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Hardware {
            cpu: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".into()),
            vector_extensions: vector_extensions(&cpuinfo),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            backend: backend.into(),
            precision: precision.into(),
        }
    }
}

/// The first `model name` line of `/proc/cpuinfo`.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, name)| name.trim().to_string())
}

/// `avx512f` when the CPU has AVX-512, else `avx2`, `avx`, `sse4_2` or `none` (from the flags).
fn vector_extensions(cpuinfo: &str) -> String {
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .and_then(|l| l.split_once(':'))
        .map_or_else(Vec::new, |(_, f)| f.split_whitespace().collect());
    ["avx512f", "avx2", "avx", "sse4_2"]
        .into_iter()
        .find(|wanted| flags.contains(wanted))
        .unwrap_or(if cfg!(target_arch = "aarch64") {
            "neon"
        } else {
            "none"
        })
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_model_and_widest_extension() {
        let info = "processor\t: 0\nmodel name\t: Example CPU @ 2GHz\nflags\t\t: fpu sse4_2 avx avx2 fma\n";
        assert_eq!(cpu_model(info).as_deref(), Some("Example CPU @ 2GHz"));
        assert_eq!(vector_extensions(info), "avx2");
        let with_512 = "flags : avx2 avx512f avx512bw\n";
        assert_eq!(vector_extensions(with_512), "avx512f");
    }
}
