//! The host maths of the fused losses: the mean loss and, in the same pass, its gradient with
//! respect to every logit (what the backward pass scales by the incoming gradient).

/// Mean binary cross-entropy of logits `x` against 0/1 `labels`, and `d loss / d x`.
///
/// Per logit `max(x, 0) - t x + ln(1 + e^-|x|)`, which equals Burn's
/// `(1 - t) x - log_sigmoid(x)` without overflowing; the gradient is `(sigmoid(x) - t) / n`.
pub fn binary_cross_entropy(x: &[f32], labels: &[i64]) -> (f32, Vec<f32>) {
    let n = x.len().max(1) as f32;
    let mut sum = 0f64;
    let grad = x
        .iter()
        .zip(labels)
        .map(|(&x, &label)| {
            let t = label as f32;
            // One exponential serves both: e = e^-|x|, sigmoid(x) = 1/(1+e) or e/(1+e).
            let e = (-x.abs()).exp();
            let sigmoid = if x >= 0.0 { 1.0 } else { e } / (1.0 + e);
            sum += f64::from(x.max(0.0) - t * x + e.ln_1p());
            (sigmoid - t) / n
        })
        .collect();
    ((sum / f64::from(n)) as f32, grad)
}

/// Rows per parallel task of [`cross_entropy`]: fixed, so that the loss is summed in the same
/// order on any number of threads (a language model's step has thousands of rows).
const ROWS_PER_TASK: usize = 256;

/// Mean softmax cross-entropy of `[rows, classes]` logits `x` against class `labels`, and
/// `d loss / d x = (softmax(x) - onehot(label)) / rows`. Inputs of more than [`ROWS_PER_TASK`]
/// rows are split across threads (handing a small one to the thread pool costs more than it).
///
/// # Panics
/// When a label is not below `classes` (the data loaders check labels before training).
pub fn cross_entropy(x: &[f32], labels: &[i64], classes: usize) -> (f32, Vec<f32>) {
    let rows = labels.len();
    let scale = 1.0 / rows.max(1) as f32;
    let mut grad = vec![0f32; x.len()];
    if rows <= ROWS_PER_TASK {
        let sum = rows_cross_entropy(x, &mut grad, labels, classes, scale);
        return ((sum * f64::from(scale)) as f32, grad);
    }
    let task = ROWS_PER_TASK * classes.max(1);
    let tasks: Vec<_> = x
        .chunks(task)
        .zip(grad.chunks_mut(task))
        .zip(labels.chunks(ROWS_PER_TASK))
        .collect();
    let sums = kiln_kernels::run_parts(tasks, |((x, grad), labels)| {
        rows_cross_entropy(x, grad, labels, classes, scale)
    });
    let sum: f64 = sums.iter().sum();
    ((sum * f64::from(scale)) as f32, grad)
}

/// [`cross_entropy`] of some rows: writes their gradient, returns the sum of their losses.
fn rows_cross_entropy(
    x: &[f32],
    grad: &mut [f32],
    labels: &[i64],
    classes: usize,
    scale: f32,
) -> f64 {
    let mut sum = 0f64;
    for ((row, g), &label) in x
        .chunks_exact(classes)
        .zip(grad.chunks_exact_mut(classes))
        .zip(labels)
    {
        let label = usize::try_from(label)
            .ok()
            .filter(|&l| l < classes)
            .unwrap_or_else(|| panic!("label {label} is not one of the {classes} classes"));
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut total = 0f32;
        for (g, &v) in g.iter_mut().zip(row) {
            *g = (v - max).exp();
            total += *g;
        }
        sum += f64::from(max + total.ln() - row[label]);
        let norm = scale / total;
        for g in g.iter_mut() {
            *g *= norm;
        }
        g[label] -= scale;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_loss_and_gradient_follow_their_formulas() {
        let (loss, grad) = binary_cross_entropy(&[0.0, 0.0], &[1, 0]);
        assert!((loss - std::f32::consts::LN_2).abs() < 1e-6);
        assert!((grad[0] + 0.25).abs() < 1e-6 && (grad[1] - 0.25).abs() < 1e-6);
        // Large logits neither overflow nor lose the loss of a confident mistake.
        let (loss, _) = binary_cross_entropy(&[200.0, -200.0], &[0, 1]);
        assert!((loss - 200.0).abs() < 1e-3, "{loss}");
    }

    #[test]
    fn cross_entropy_gradient_rows_sum_to_zero() {
        let (loss, grad) = cross_entropy(&[0.0, 0.0, 0.0, 5.0, 0.0, 0.0], &[1, 0], 3);
        let expected = ((3f32).ln() + (5f32.exp() + 2.0).ln() - 5.0) / 2.0;
        assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
        for row in grad.chunks(3) {
            assert!(row.iter().sum::<f32>().abs() < 1e-6);
        }
        assert!(grad[1] < 0.0 && grad[3] < 0.0);
    }

    #[test]
    #[should_panic(expected = "label 3 is not one of the 3 classes")]
    fn a_label_out_of_range_is_refused() {
        cross_entropy(&[0.0; 3], &[3], 3);
    }
}
