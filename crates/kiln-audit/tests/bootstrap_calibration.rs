//! Bootstrap intervals and calibration error.

use kiln_audit::bootstrap::percentile;
use kiln_audit::rng::{Rng, splitmix64};
use kiln_audit::{Bootstrap, DEFAULT_BINS, ece, reliability};

/// 300 samples, 3 classes, about 80% right, deterministic.
fn predictions() -> (Vec<u32>, Vec<u32>) {
    let mut rng = Rng::new(7);
    let y_true: Vec<u32> = (0..300).map(|_| rng.below(3) as u32).collect();
    let y_pred = y_true
        .iter()
        .map(|&c| if rng.next_f64() < 0.8 { c } else { (c + 1) % 3 })
        .collect();
    (y_true, y_pred)
}

#[test]
fn same_seed_same_intervals_and_they_contain_the_estimate() {
    let (y_true, y_pred) = predictions();
    let b = Bootstrap {
        seed: 42,
        ..Bootstrap::default()
    };
    let first = b.classification(&y_true, &y_pred).unwrap();
    let again = b.classification(&y_true, &y_pred).unwrap();
    assert_eq!(first, again);
    let other = Bootstrap { seed: 43, ..b }
        .classification(&y_true, &y_pred)
        .unwrap();
    assert_ne!(first, other);
    assert_eq!(first.accuracy.estimate, other.accuracy.estimate);

    let correct = y_true.iter().zip(&y_pred).filter(|(t, p)| t == p).count();
    assert_eq!(first.accuracy.estimate, correct as f64 / 300.0);
    assert!(first.accuracy.contains(first.accuracy.estimate));
    assert!(first.accuracy.upper - first.accuracy.lower < 0.2);
    assert_eq!(first.classes.len(), 3);
    for c in &first.classes {
        for i in [c.precision, c.recall, c.f1] {
            assert!(
                i.lower < i.upper && i.contains(i.estimate),
                "class {}: {i:?}",
                c.class
            );
        }
        // Point estimates from the definitions.
        let k = c.class;
        let tp = (0..300)
            .filter(|&i| y_true[i] == k && y_pred[i] == k)
            .count() as f64;
        let predicted = y_pred.iter().filter(|&&p| p == k).count() as f64;
        let actual = y_true.iter().filter(|&&t| t == k).count() as f64;
        assert_eq!(c.support as f64, actual);
        assert!((c.precision.estimate - tp / predicted).abs() < 1e-15);
        assert!((c.recall.estimate - tp / actual).abs() < 1e-15);
        let f1 = 2.0 * (tp / predicted) * (tp / actual) / (tp / predicted + tp / actual);
        assert!((c.f1.estimate - f1).abs() < 1e-12);
    }
    let text = first.to_string();
    assert!(
        text.starts_with("95% bootstrap intervals (1000 resamples of 300 samples, seed 42"),
        "{text}"
    );
    let json = serde_json::to_string(&first).unwrap();
    assert_eq!(
        serde_json::from_str::<kiln_audit::ClassificationIntervals>(&json).unwrap(),
        first
    );
}

#[test]
fn generic_interval_of_a_mean() {
    let x: Vec<f64> = (0..200).map(|i| (i % 10) as f64).collect();
    let b = Bootstrap {
        resamples: 500,
        confidence: 0.9,
        seed: 1,
    };
    let mean = |idx: &[usize]| idx.iter().map(|&i| x[i]).sum::<f64>() / idx.len() as f64;
    let a = b.interval(x.len(), mean).unwrap();
    assert_eq!(a, b.interval(x.len(), mean).unwrap());
    assert_eq!(a.estimate, 4.5);
    assert!(a.contains(4.5) && a.upper - a.lower < 1.5, "{a:?}");
}

#[test]
fn percentile_interpolates_like_numpy() {
    let v = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(percentile(&v, 0.25), 1.75);
    assert_eq!(percentile(&v, 0.0), 1.0);
    assert_eq!(percentile(&v, 1.0), 4.0);
    assert_eq!(percentile(&[5.0], 0.975), 5.0);
}

#[test]
fn the_generator_is_reproducible() {
    // splitmix64's published first output for state 0.
    let mut s = 0;
    assert_eq!(splitmix64(&mut s), 0xE220_A839_7B1D_CDAF);
    let a: Vec<u64> = {
        let mut r = Rng::new(5);
        (0..4).map(|_| r.next_u64()).collect()
    };
    let mut r = Rng::new(5);
    assert_eq!(a, (0..4).map(|_| r.next_u64()).collect::<Vec<_>>());
    let mut r = Rng::new(9);
    assert!((0..1000).all(|_| r.below(7) < 7 && (0.0..1.0).contains(&r.next_f64())));
}

#[test]
fn bootstrap_errors() {
    let b = Bootstrap::default();
    let err = b.classification(&[0, 1], &[0]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "y_pred has 1 values but y_true has 2: every input needs one value per sample"
    );
    let err = b.classification(&[], &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no samples: y_true is empty, there is nothing to audit"
    );
    let err = Bootstrap { resamples: 0, ..b }
        .classification(&[0], &[0])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid bootstrap resamples: need at least one resample"
    );
    let err = Bootstrap {
        confidence: 95.0,
        ..b
    }
    .classification(&[0], &[0])
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid confidence level: must be in (0, 1), got 95"
    );
}

#[test]
fn ece_of_a_hand_computed_example() {
    // Five bins of width 0.2, each (lower, upper]:
    //   (0, .2]: 0.1 wrong              -> acc 0,   conf 0.1,   gap 0.1,   weight 1/6
    //   (.2, .4]: 0.3 right, 0.35 wrong -> acc 0.5, conf 0.325, gap 0.175, weight 2/6
    //   (.6, .8]: 0.8 right (edge)      -> acc 1,   conf 0.8,   gap 0.2,   weight 1/6
    //   (.8, 1]: 0.9 right, 0.95 wrong  -> acc 0.5, conf 0.925, gap 0.425, weight 2/6
    // ECE = (0.1 + 0.35 + 0.2 + 0.85) / 6 = 0.25; MCE = 0.425.
    let conf = [0.1, 0.3, 0.35, 0.8, 0.9, 0.95];
    let correct = [false, true, false, true, true, false];
    let r = reliability(&conf, &correct, 5).unwrap();
    assert!((r.ece - 0.25).abs() < 1e-15, "{}", r.ece);
    assert!((r.mce - 0.425).abs() < 1e-15, "{}", r.mce);
    let counts: Vec<usize> = r.bins.iter().map(|b| b.count).collect();
    assert_eq!(counts, [1, 2, 0, 1, 2]);
    assert!((r.bins[1].confidence - 0.325).abs() < 1e-15);
    assert_eq!(r.bins[1].accuracy, 0.5);
    assert_eq!((r.bins[2].confidence, r.bins[2].accuracy), (0.0, 0.0));
    assert_eq!((r.bins[4].lower, r.bins[4].upper), (0.8, 1.0));
    assert!(
        r.to_string()
            .starts_with("Calibration: ECE 0.2500, MCE 0.4250 (6 samples, 5 bins)")
    );

    // Guo et al.'s 15 bins: always 100% sure, half right -> ECE 0.5; 90% sure, 9 of 10 right -> 0.
    let half = ece(&[1.0; 4], &[true, false, true, false], DEFAULT_BINS).unwrap();
    assert_eq!(half, 0.5);
    let mut correct = [true; 10];
    correct[3] = false;
    let calibrated = ece(&[0.9; 10], &correct, DEFAULT_BINS).unwrap();
    assert!(calibrated.abs() < 1e-15, "{calibrated}");
    let r = reliability(&[0.0, 1.0], &[false, true], DEFAULT_BINS).unwrap();
    assert_eq!((r.bins[0].count, r.bins[14].count), (1, 1));
}

#[test]
fn calibration_errors() {
    let err = ece(&[0.5], &[true, false], 15).unwrap_err();
    assert_eq!(
        err.to_string(),
        "correct has 2 values but confidences has 1: every input needs one value per sample"
    );
    let err = ece(&[], &[], 15).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no samples: confidences is empty, there is nothing to audit"
    );
    let err = ece(&[0.5], &[true], 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid number of bins: need at least one bin"
    );
    let err = ece(&[0.5, 1.2], &[true, true], 15).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid confidence: confidence 1.2 at sample 1 is not a probability in [0, 1]"
    );
}
