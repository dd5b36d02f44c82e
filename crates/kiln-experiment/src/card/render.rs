//! `model-card.md`: the card as Markdown, with the run folder's pictures.

use std::fmt::Write;

use super::ModelCard;
use super::metrics::Interval;

/// The card rendered as Markdown (pictures linked relative to the run folder).
pub fn markdown(card: &ModelCard) -> String {
    let mut md = String::new();
    let d = &card.model_details;
    let _ = writeln!(md, "# Model card: {}\n", d.name);
    let _ = writeln!(
        md,
        "Written by Kiln {} on {} (Mitchell et al. 2019's sections). `kiln card RUN_DIR` writes it again; `model-card.json` holds the same data.\n",
        d.kiln_version, d.date
    );
    details(&mut md, card);
    intended_use(&mut md, card);
    data(&mut md, card);
    metrics(&mut md, card);
    groups(&mut md, card);
    generalization(&mut md, card);
    importance(&mut md, card);
    training(&mut md, card);
    let h = &card.hardware;
    let _ = writeln!(
        md,
        "## Hardware\n\n- CPU: {} ({} cores; widest vector extension: {})\n- Backend: {}, precision {}\n",
        h.cpu, h.cores, h.vector_extensions, h.backend, h.precision
    );
    let _ = writeln!(md, "## Caveats and recommendations\n");
    for caveat in &card.caveats {
        let _ = writeln!(md, "- {caveat}");
    }
    let _ = writeln!(md, "\n## Figures\n");
    for figure in &card.figures {
        let _ = writeln!(
            md,
            "**{}**\n\n![{}]({})\n",
            figure.title, figure.title, figure.file
        );
    }
    md
}

fn details(md: &mut String, card: &ModelCard) {
    let d = &card.model_details;
    let _ = writeln!(md, "## Model details\n\n| | |\n| --- | --- |");
    let _ = writeln!(
        md,
        "| kind | `{}`: {} (crate `{}`) |",
        d.kind, d.description, d.crate_name
    );
    let _ = writeln!(md, "| parameters | {} |", d.params);
    let _ = writeln!(
        md,
        "| weights file | `model.bpk`, {:.1} KiB |",
        d.weights_file_bytes as f64 / 1024.0
    );
    let _ = writeln!(md, "| weights sha256 | `{}` |", d.weights_sha256);
    if let Some(c) = &d.compressed {
        let _ = writeln!(md, "| compressed | {c} |");
    }
    let _ = writeln!(
        md,
        "\n<details><summary>Layers</summary>\n\n```text\n{}\n```\n</details>\n",
        d.layers.trim_end()
    );
}

fn intended_use(md: &mut String, card: &ModelCard) {
    let u = &card.intended_use;
    let _ = writeln!(md, "## Intended use\n\n{}\n", u.primary);
    if !u.out_of_scope.is_empty() {
        let _ = writeln!(md, "Out of scope:\n");
        for item in &u.out_of_scope {
            let _ = writeln!(md, "- {item}");
        }
        md.push('\n');
    }
}

fn data(md: &mut String, card: &ModelCard) {
    let d = &card.data;
    let _ = writeln!(
        md,
        "## Training and evaluation data\n\n**{}** (`{}`)\n",
        d.provenance.title, d.dataset
    );
    for line in &d.provenance.source_and_license {
        let _ = writeln!(md, "- {line}");
    }
    let s = d.samples;
    let _ = writeln!(
        md,
        "\n| split | samples |\n| --- | --- |\n| train | {} |\n| validation | {} |\n| test | {} |\n\nSplit: {}.",
        s.train, s.valid, s.test, d.split
    );
    if !d.sensitive.is_empty() {
        let _ = writeln!(
            md,
            "Sensitive attributes kept per sample (for the metrics by group): {}.",
            d.sensitive.join(", ")
        );
    }
    md.push('\n');
}

fn interval(i: &Interval) -> String {
    format!("{:.4} [{:.4}, {:.4}]", i.estimate, i.lower, i.upper)
}

fn metrics(md: &mut String, card: &ModelCard) {
    let _ = writeln!(md, "## Metrics\n");
    if let Some(bits) = card.bits_per_char {
        let _ = writeln!(md, "Validation text: {bits:.4} bits per character.\n");
    }
    let Some(m) = &card.metrics else {
        return;
    };
    let _ = writeln!(
        md,
        "Test split, {} samples; 95% intervals from {} seeded bootstrap resamples (seed {}).\n",
        m.samples, m.bootstrap_resamples, m.seed
    );
    let _ = writeln!(md, "- accuracy: {}", interval(&m.accuracy));
    let _ = writeln!(
        md,
        "- expected calibration error ({} bins): {:.4}\n",
        m.calibration.bins.len(),
        m.calibration.ece
    );
    let _ = writeln!(
        md,
        "| class | support | precision | recall | F1 |\n| --- | --- | --- | --- | --- |"
    );
    for c in &m.classes {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            c.class,
            c.support,
            interval(&c.precision),
            interval(&c.recall),
            interval(&c.f1)
        );
    }
    md.push('\n');
}

fn groups(md: &mut String, card: &ModelCard) {
    if card.groups.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Metrics by group\n\nFairlearn's `MetricFrame` semantics (0/0 rates are 0).\n"
    );
    let rate = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.4}"));
    for a in &card.groups {
        let _ = writeln!(
            md,
            "### By {}\n\n| group | n | accuracy | selection rate | TPR | FPR |\n| --- | --- | --- | --- | --- | --- |",
            a.attribute
        );
        for g in &a.groups {
            let _ = writeln!(
                md,
                "| {} | {} | {:.4} | {} | {} | {} |",
                g.group,
                g.count,
                g.accuracy,
                rate(g.selection_rate),
                rate(g.tpr),
                rate(g.fpr)
            );
        }
        if let (Some(dpd), Some(dpr), Some(eod), Some(eor)) = (
            a.demographic_parity_difference,
            a.demographic_parity_ratio,
            a.equalized_odds_difference,
            a.equalized_odds_ratio,
        ) {
            let _ = writeln!(
                md,
                "\nDemographic parity: difference {dpd:.4}, ratio {dpr:.4}. Equalized odds: difference {eod:.4}, ratio {eor:.4} (between groups).",
            );
        } else {
            let _ = writeln!(md, "\nMore than two classes: accuracy per group only.");
        }
        md.push('\n');
    }
}

fn generalization(md: &mut String, card: &ModelCard) {
    let g = &card.generalization;
    let _ = writeln!(
        md,
        "## Generalization\n\n| train (last epoch) | validation | test | train − test |\n| --- | --- | --- | --- |\n| {:.4} | {} | {:.4} | {:+.4} |\n",
        g.train_accuracy,
        g.valid_accuracy.map_or("–".into(), |v| format!("{v:.4}")),
        g.test_accuracy,
        g.train_test_gap
    );
    if !g.shifted.is_empty() {
        let _ = writeln!(
            md,
            "Test accuracy under shifted inputs (see `robustness.png`):\n\n| distortion | strength | accuracy |\n| --- | --- | --- |"
        );
        let _ = writeln!(md, "| none | – | {:.4} |", g.test_accuracy);
        for s in &g.shifted {
            let unit = match s.distortion.as_str() {
                "rotation" => "°",
                "translation" => " px",
                _ => " σ (pixels 0..1)",
            };
            let _ = writeln!(
                md,
                "| {} | {}{unit} | {:.4} |",
                s.distortion, s.strength, s.accuracy
            );
        }
        md.push('\n');
    }
}

fn importance(md: &mut String, card: &ModelCard) {
    if card.feature_importance.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Feature importance\n\nPermutation importance on the test split: the accuracy lost when a column is shuffled (one-hot columns of a category together), mean ± std over the repeats.\n\n| feature | accuracy drop |\n| --- | --- |"
    );
    for f in &card.feature_importance {
        let _ = writeln!(md, "| {} | {:.4} ± {:.4} |", f.feature, f.mean_drop, f.std);
    }
    md.push('\n');
}

fn training(md: &mut String, card: &ModelCard) {
    let t = &card.training;
    let _ = writeln!(
        md,
        "## Training\n\n{} epochs ({} steps) of {} at learning rate {}, batch {}, seed {}: {:.2} s.",
        t.epochs, t.steps, t.optimizer, t.learning_rate, t.batch_size, t.seed, t.train_seconds
    );
    if let Some(p) = &t.privacy {
        let _ = writeln!(
            md,
            "Differentially private (DP-SGD): ε = {:.3} at δ = {:e}, noise multiplier {}, clip norm {}, sampling rate {:.5}, {} steps ({} accountant).",
            p.epsilon,
            p.delta,
            p.noise_multiplier,
            p.max_grad_norm,
            p.sample_rate,
            p.steps,
            p.accountant
        );
    }
    if let Some(teacher) = &t.teacher {
        let _ = writeln!(md, "Distilled from the run `{teacher}`.");
    }
    let _ = writeln!(
        md,
        "\n<details><summary>Config</summary>\n\n```toml\n{}\n```\n</details>\n",
        t.config_toml.trim_end()
    );
}
