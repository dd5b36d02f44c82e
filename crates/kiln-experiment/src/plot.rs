//! Pictures of training: `curves.png` with the loss (left) and accuracy (right) per epoch,
//! training in blue and validation in orange. Plain PNG drawing, no system fonts needed.

use std::path::Path;

use kiln_train::{EpochRecord, KilnError, Result};

const WIDTH: usize = 800;
const HEIGHT: usize = 320;
const MARGIN: usize = 20;
const BLUE: [u8; 3] = [31, 119, 180];
const ORANGE: [u8; 3] = [255, 127, 14];
const GRID: [u8; 3] = [225, 225, 225];
const AXIS: [u8; 3] = [90, 90, 90];

/// An RGB canvas.
struct Canvas {
    pixels: Vec<u8>,
}

impl Canvas {
    fn new() -> Self {
        Self {
            pixels: vec![255; WIDTH * HEIGHT * 3],
        }
    }

    fn dot(&mut self, x: i64, y: i64, color: [u8; 3]) {
        if (0..WIDTH as i64).contains(&x) && (0..HEIGHT as i64).contains(&y) {
            let at = (y as usize * WIDTH + x as usize) * 3;
            self.pixels[at..at + 3].copy_from_slice(&color);
        }
    }

    fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), color: [u8; 3]) {
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil().max(1.0) as usize;
        for i in 0..=steps {
            let t = i as f64 / steps as f64;
            let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1)] {
                self.dot(x.round() as i64 + dx, y.round() as i64 + dy, color);
            }
        }
    }
}

/// One panel's area on the canvas.
struct Panel {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
}

impl Panel {
    fn frame(&self, canvas: &mut Canvas) {
        for k in 1..5 {
            let y = self.top + self.height * k as f64 / 5.0;
            canvas.line((self.left, y), (self.left + self.width, y), GRID);
        }
        let (l, t, r, b) = (
            self.left,
            self.top,
            self.left + self.width,
            self.top + self.height,
        );
        canvas.line((l, t), (l, b), AXIS);
        canvas.line((l, b), (r, b), AXIS);
    }

    fn series(
        &self,
        canvas: &mut Canvas,
        values: &[Option<f64>],
        (lo, hi): (f64, f64),
        color: [u8; 3],
    ) {
        let n = values.len().max(2) - 1;
        let point = |i: usize, v: f64| {
            let x = self.left + self.width * i as f64 / n as f64;
            let y = self.top + self.height * (1.0 - (v - lo) / (hi - lo).max(1e-12));
            (x, y)
        };
        let mut previous = None;
        for (i, value) in values.iter().enumerate() {
            let current = value.filter(|v| v.is_finite()).map(|v| point(i, v));
            if let (Some(a), Some(b)) = (previous, current) {
                canvas.line(a, b, color);
            } else if let Some(p) = current.filter(|_| values.len() == 1) {
                canvas.line(p, (p.0 + 3.0, p.1), color);
            }
            previous = current;
        }
    }
}

/// Draws loss and accuracy curves of `history` into a PNG file.
pub fn write_curves(path: &Path, history: &[EpochRecord]) -> Result<()> {
    let mut canvas = Canvas::new();
    let half = (WIDTH - 3 * MARGIN) as f64 / 2.0;
    let height = (HEIGHT - 2 * MARGIN) as f64;
    let loss_panel = Panel {
        left: MARGIN as f64,
        top: MARGIN as f64,
        width: half,
        height,
    };
    let acc_panel = Panel {
        left: 2.0 * MARGIN as f64 + half,
        top: MARGIN as f64,
        width: half,
        height,
    };
    let train_loss: Vec<Option<f64>> = history.iter().map(|r| Some(r.train_loss)).collect();
    let valid_loss: Vec<Option<f64>> = history.iter().map(|r| r.valid_loss).collect();
    let train_acc: Vec<Option<f64>> = history.iter().map(|r| Some(r.train_accuracy)).collect();
    let valid_acc: Vec<Option<f64>> = history.iter().map(|r| r.valid_accuracy).collect();
    let loss_max = train_loss
        .iter()
        .chain(&valid_loss)
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    loss_panel.frame(&mut canvas);
    acc_panel.frame(&mut canvas);
    loss_panel.series(&mut canvas, &train_loss, (0.0, loss_max), BLUE);
    loss_panel.series(&mut canvas, &valid_loss, (0.0, loss_max), ORANGE);
    acc_panel.series(&mut canvas, &train_acc, (0.0, 1.0), BLUE);
    acc_panel.series(&mut canvas, &valid_acc, (0.0, 1.0), ORANGE);
    write_png(path, WIDTH, HEIGHT, &canvas.pixels)
}

/// Draws a confusion matrix (`confusion[true][predicted]`) as a heat map: one square per cell,
/// darker blue for a larger share of the true class's samples (square-root scale, so that rare
/// confusions show); rows are true classes from the top,
/// columns predicted classes from the left.
pub fn write_confusion(path: &Path, confusion: &[Vec<usize>]) -> Result<()> {
    const CELL: usize = 32;
    let n = confusion.len().max(1);
    let size = n * CELL + 2;
    let mut pixels = vec![255u8; size * size * 3];
    for (row, counts) in confusion.iter().enumerate() {
        let total = counts.iter().sum::<usize>().max(1) as f32;
        for (col, &count) in counts.iter().enumerate() {
            let share = (count as f32 / total).sqrt();
            let shade = |full: u8| (255.0 - share * (255.0 - full as f32)) as u8;
            let color = [shade(8), shade(48), shade(107)];
            for y in row * CELL + 2..(row + 1) * CELL {
                for x in col * CELL + 2..(col + 1) * CELL {
                    let at = (y * size + x) * 3;
                    pixels[at..at + 3].copy_from_slice(&color);
                }
            }
        }
    }
    write_png(path, size, size, &pixels)
}

/// Encodes RGB pixels as a PNG file.
pub fn write_png(path: &Path, width: usize, height: usize, rgb: &[u8]) -> Result<()> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, width as u32, height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .map_err(|e| KilnError::Internal(format!("png: {e}")))?;
        writer
            .write_image_data(rgb)
            .map_err(|e| KilnError::Internal(format!("png: {e}")))?;
    }
    kiln_train::write_atomic(path, &bytes)
}

/// Draws test accuracy (y) against sparsity (x, from 0 to 1) of a pruning sweep in blue, with
/// a square at each point, and the unpruned model's accuracy as an orange line; the y axis
/// spans from just below the lowest accuracy to 1.
pub fn write_sweep(path: &Path, points: &[(f64, f64)], reference: f64) -> Result<()> {
    write_points(path, points, (0.0, 1.0), Some(reference))
}

/// Draws accuracy (y) against any `x` in `x_range` in blue, a square at each point, and an
/// optional reference accuracy as an orange line (accuracy against ε, say); the y axis spans
/// from just below the lowest accuracy to 1.
pub fn write_points(
    path: &Path,
    points: &[(f64, f64)],
    (x_lo, x_hi): (f64, f64),
    reference: Option<f64>,
) -> Result<()> {
    let lowest = points
        .iter()
        .map(|p| p.1)
        .chain(reference)
        .filter(|v| v.is_finite())
        .fold(1.0f64, f64::min);
    let panel = PointPanel {
        points: points.to_vec(),
        x_range: (x_lo, x_hi),
        y_range: ((lowest - 0.02).max(0.0), 1.0),
        reference: reference.map(|r| ((x_lo, r), (x_hi, r))),
    };
    write_panels(path, &[panel])
}

/// One panel of [`write_panels`]: points joined in x order, and an optional orange segment
/// (a reference such as the diagonal of a reliability diagram).
#[derive(Debug, Clone, Default)]
pub struct PointPanel {
    /// (x, y) points, y in `y_range`.
    pub points: Vec<(f64, f64)>,
    /// The x axis's span.
    pub x_range: (f64, f64),
    /// The y axis's span.
    pub y_range: (f64, f64),
    /// An orange segment from one (x, y) to another.
    pub reference: Option<((f64, f64), (f64, f64))>,
}

/// Draws panels side by side (accuracy under three distortions, say) in blue with a square at
/// each point.
pub fn write_panels(path: &Path, panels: &[PointPanel]) -> Result<()> {
    let mut canvas = Canvas::new();
    let count = panels.len().max(1);
    let width = (WIDTH - (count + 1) * MARGIN) as f64 / count as f64;
    for (k, data) in panels.iter().enumerate() {
        let panel = Panel {
            left: (MARGIN + k * MARGIN) as f64 + k as f64 * width,
            top: MARGIN as f64,
            width,
            height: (HEIGHT - 2 * MARGIN) as f64,
        };
        panel.frame(&mut canvas);
        let ((x_lo, x_hi), (y_lo, y_hi)) = (data.x_range, data.y_range);
        let at = |(x, y): (f64, f64)| {
            (
                panel.left + panel.width * (x - x_lo) / (x_hi - x_lo).max(1e-12),
                panel.top + panel.height * (1.0 - (y - y_lo) / (y_hi - y_lo).max(1e-12)),
            )
        };
        if let Some((a, b)) = data.reference {
            canvas.line(at(a), at(b), ORANGE);
        }
        let mut sorted: Vec<(f64, f64)> = data
            .points
            .iter()
            .copied()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        for pair in sorted.windows(2) {
            canvas.line(at(pair[0]), at(pair[1]), BLUE);
        }
        for &point in &sorted {
            let (x, y) = at(point);
            for d in -3..=3 {
                canvas.line((x - 3.0, y + d as f64), (x + 3.0, y + d as f64), BLUE);
            }
        }
    }
    write_png(path, WIDTH, HEIGHT, &canvas.pixels)
}
