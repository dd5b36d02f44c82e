//! From RDP to (ε, δ): `ε(α) = rdp(α) − (ln δ + ln α)/(α − 1) + ln((α − 1)/α)`, the smallest
//! over the orders (Balle et al. 2020, Theorem 21; Opacus's `get_privacy_spent`).

use serde::Serialize;

use crate::rdp::{compute_rdp, default_orders};
use crate::{PrivacyError, check_inputs};

/// The privacy spent and the order that gives it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spent {
    /// ε at the given δ.
    pub epsilon: f64,
    /// The RDP order α that attains it.
    pub order: f64,
}

/// ε (and its order) for the RDP values `rdp` at `orders`; infinite when no order gives a
/// number.
pub fn privacy_spent(orders: &[f64], rdp: &[f64], delta: f64) -> Spent {
    let mut best = Spent {
        epsilon: f64::INFINITY,
        order: f64::NAN,
    };
    let mut any = false;
    for (&alpha, &r) in orders.iter().zip(rdp) {
        let eps = r - (delta.ln() + alpha.ln()) / (alpha - 1.0) + ((alpha - 1.0) / alpha).ln();
        if eps.is_nan() {
            continue;
        }
        if !any || eps < best.epsilon {
            best = Spent {
                epsilon: eps,
                order: alpha,
            };
            any = true;
        }
    }
    best
}

/// ε after `steps` steps at sampling rate `q` and noise multiplier `sigma`, at `delta`, over
/// Opacus's default orders.
pub fn epsilon(q: f64, sigma: f64, steps: usize, delta: f64) -> Result<Spent, PrivacyError> {
    check_inputs(q, sigma, delta)?;
    let orders = default_orders();
    Ok(privacy_spent(
        &orders,
        &compute_rdp(q, sigma, steps, &orders),
        delta,
    ))
}
