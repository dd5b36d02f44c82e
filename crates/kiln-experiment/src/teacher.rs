//! The teacher of a distilled run: a trained classifier read from its run folder, checked to
//! see the same inputs and predict the same classes as the student.

use kiln_compress::Distillation;
use kiln_train::{BackendKind, KilnError, Result};

use crate::config::DistillConfig;
use crate::data::Preprocess;
use crate::experiment::{TrainedRun, load_run};

/// Reads the teacher of `distill` onto `backend` and checks it against the student's data.
pub fn load_teacher(
    distill: &DistillConfig,
    backend: BackendKind,
    student: &Preprocess,
) -> Result<TrainedRun> {
    let dir = &distill.teacher;
    let teacher = load_run(dir, Some(backend))
        .map_err(|e| KilnError::Input(format!("distill.teacher: {e}")))?;
    teacher.require_classifier()?;
    let (t, s) = (&teacher.preprocess, student);
    if t.classes != s.classes {
        return Err(KilnError::Input(format!(
            "distill.teacher {}: the teacher predicts {} classes, the student's data has {}",
            dir.display(),
            t.classes,
            s.classes
        )));
    }
    if t.sample_shape != s.sample_shape {
        return Err(KilnError::Input(format!(
            "distill.teacher {}: the teacher reads samples of shape {:?}, the student's are {:?}",
            dir.display(),
            t.sample_shape,
            s.sample_shape
        )));
    }
    if t.mean != s.mean || t.std != s.std {
        return Err(KilnError::Input(format!(
            "distill.teacher {}: the teacher was trained on differently standardised inputs (its preprocess.json differs): use the same [data] section as the teacher",
            dir.display()
        )));
    }
    Ok(teacher)
}

/// The loop's distillation term for `teacher`.
pub fn distillation<'a>(teacher: &'a TrainedRun, distill: &DistillConfig) -> Distillation<'a> {
    Distillation::new(
        Box::new(move |inputs| teacher.model.logits(inputs)),
        distill.temperature,
        distill.alpha,
    )
}
