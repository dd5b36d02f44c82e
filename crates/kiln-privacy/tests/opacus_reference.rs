//! The accountant against Opacus 1.6's `RDPAccountant` (values computed with Opacus, default
//! orders), to 1e-9 relative.

use kiln_privacy::{compute_rdp, default_orders, epsilon, noise_multiplier, privacy_spent};

fn close(actual: f64, expected: f64) {
    let relative = ((actual - expected) / expected).abs();
    assert!(
        relative < 1e-9,
        "{actual} vs {expected} (relative {relative:e})"
    );
}

#[test]
fn default_orders_are_opacus_s() {
    let orders = default_orders();
    assert_eq!(orders.len(), 151);
    assert_eq!(orders[0], 1.1);
    assert_eq!(orders[98], 10.9);
    assert_eq!(orders[99], 12.0);
    assert_eq!(*orders.last().unwrap(), 63.0);
}

#[test]
fn rdp_at_integer_and_fractional_orders() {
    close(compute_rdp(0.1, 2.0, 10, &[5.0])[0], 0.07736968489795912);
    let rdp = compute_rdp(0.01, 2.5, 50, &[1.5, 2.5, 5.0, 50.0, 100.0]);
    let expected = [
        0.0006500708974468719,
        0.0010854180568268625,
        0.0021807565623077614,
        0.023846037538705817,
        167.41630754841827,
    ];
    for (a, e) in rdp.iter().zip(expected) {
        close(*a, e);
    }
    let one = compute_rdp(0.01, 1.0, 1, &[1.5, 2.0, 8.0]);
    close(one[0], 1.2725374351154145e-4);
    close(one[1], 1.7181342207453428e-4);
    close(one[2], 8.936439076060279e-4);
}

#[test]
fn epsilon_and_best_order() {
    for (q, sigma, steps, eps, order) in [
        (0.04, 1.5, 2250, 7.3291111714386545, 3.9),
        (256.0 / 60000.0, 1.1, 14062, 2.5965558689607486, 8.1),
        (0.01, 1.0, 1000, 2.1013652716430564, 7.8),
    ] {
        let spent = epsilon(q, sigma, steps, 1e-5).unwrap();
        close(spent.epsilon, eps);
        assert_eq!(spent.order, order, "q {q} sigma {sigma}");
    }
    let orders: Vec<f64> = (2..=32).map(f64::from).collect();
    let spent = privacy_spent(&orders, &vec![1.1; orders.len()], 1e-5);
    close(spent.epsilon, 1.327838061755436);
    assert_eq!(spent.order, 32.0);
}

#[test]
fn noise_multiplier_search_equals_opacus() {
    assert_eq!(
        noise_multiplier(8.0, 1e-5, 0.04, 90.0).unwrap(),
        1.416015625
    );
    assert_eq!(
        noise_multiplier(3.0, 1e-5, 256.0 / 60000.0, 60.0).unwrap(),
        1.015625
    );
}

#[test]
fn bad_values_and_unreachable_budgets_are_refused() {
    let message = |r: Result<f64, kiln_privacy::PrivacyError>| r.unwrap_err().to_string();
    assert!(message(noise_multiplier(1.0, 0.0, 0.01, 1.0)).contains("delta"));
    assert!(message(noise_multiplier(1.0, 1.0, 0.01, 1.0)).contains("delta"));
    assert!(message(noise_multiplier(1.0, 1e-5, 0.0, 1.0)).contains("sample rate"));
    assert!(message(noise_multiplier(1.0, 1e-5, 1.5, 1.0)).contains("sample rate"));
    assert!(message(noise_multiplier(-1.0, 1e-5, 0.01, 1.0)).contains("target epsilon"));
    assert!(message(noise_multiplier(0.05, 1e-5, 0.01, 1.0)).contains("no noise reaches"));
    assert!(
        epsilon(0.01, -1.0, 10, 1e-5)
            .unwrap_err()
            .to_string()
            .contains("noise")
    );
    // No noise: no privacy.
    assert_eq!(epsilon(0.01, 0.0, 10, 1e-5).unwrap().epsilon, f64::INFINITY);
}
