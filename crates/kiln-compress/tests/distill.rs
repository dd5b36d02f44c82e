//! The distillation loss and its gradient equal a computation by hand.

use burn::prelude::*;
use kiln_compress::distillation_loss;

fn softmax(z: &[f64], t: f64) -> Vec<f64> {
    let m = z.iter().cloned().fold(f64::MIN, f64::max);
    let e: Vec<f64> = z.iter().map(|v| ((v - m) / t).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

#[test]
fn loss_and_gradient_match_a_hand_computation() {
    let device = Device::flex().autodiff();
    let student = [[1.0, -0.5, 0.25], [0.0, 2.0, -1.0]];
    let teacher = [[2.0, 0.0, -1.0], [-0.5, 1.5, 0.5]];
    let labels = [0usize, 1];
    let (t, alpha) = (2.0, 0.3);

    let s = Tensor::<2>::from_data(student, &device).require_grad();
    let teacher_t = Tensor::<2>::from_data(teacher, &device);
    let targets = Tensor::<1, Int>::from_data(TensorData::from([0i64, 1]), &device);
    let ce = burn::nn::loss::CrossEntropyLossConfig::new()
        .init(&device)
        .forward(s.clone(), targets);
    let loss = distillation_loss(s.clone(), teacher_t, ce, t, alpha);
    let value: f64 = loss.clone().into_scalar::<f32>().into();
    let grads = loss.backward();
    let grad: Vec<f32> = s
        .grad(&grads)
        .unwrap()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();

    // By hand: CE and KL averaged over the batch; d/ds of
    // α·CE + (1-α)·T²·KL = α(p - y)/B + (1-α)·T·(p_s^T - p_t^T)/B.
    let batch = 2.0;
    let (mut ce_sum, mut kl_sum) = (0.0, 0.0);
    let mut expected = Vec::new();
    for i in 0..2 {
        let p = softmax(&student[i], 1.0);
        let ps = softmax(&student[i], t);
        let pt = softmax(&teacher[i], t);
        ce_sum -= p[labels[i]].ln();
        kl_sum += (0..3).map(|k| pt[k] * (pt[k] / ps[k]).ln()).sum::<f64>();
        for k in 0..3 {
            let y = if k == labels[i] { 1.0 } else { 0.0 };
            expected.push(alpha * (p[k] - y) / batch + (1.0 - alpha) * t * (ps[k] - pt[k]) / batch);
        }
    }
    let by_hand = alpha * ce_sum / batch + (1.0 - alpha) * t * t * kl_sum / batch;
    assert!((value - by_hand).abs() < 1e-5, "{value} vs {by_hand}");
    for (g, e) in grad.iter().zip(&expected) {
        assert!((f64::from(*g) - e).abs() < 1e-5, "{grad:?} vs {expected:?}");
    }
}
