//! PNG line charts with plotters, when built with `--features plots`
//! (it needs fontconfig and freetype to draw text); without it every
//! plot is left as CSV and the report says so.

use std::path::Path;

use crate::report::Plot;

/// Draw `plot` as a PNG at `path`.
#[cfg(feature = "plots")]
pub fn draw(path: &Path, plot: &Plot) -> Result<(), String> {
    use plotters::prelude::*;

    let points = plot.series.iter().flat_map(|(_, p)| p.iter());
    let (mut x_max, mut y_max) = (f64::MIN, f64::MIN);
    let (mut x_min, mut y_min) = (f64::MAX, f64::MAX);
    for &(x, y) in points {
        x_min = x_min.min(x);
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if x_min > x_max {
        return Err("no data".into());
    }
    let pad = |lo: f64, hi: f64| if hi > lo { (hi - lo) * 0.05 } else { 1.0 };
    let (x_lo, x_hi) = (x_min, x_max + pad(x_min, x_max));
    let (y_lo, y_hi) = (0f64.min(y_min), y_max + pad(y_min, y_max));
    let root = BitMapBackend::new(path, (1000, 600)).into_drawing_area();
    let e = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&plot.title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc(plot.x_label.as_str())
        .y_desc(plot.y_label.as_str())
        .draw()
        .map_err(|x| e(&x))?;
    let colors = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    for (i, (label, points)) in plot.series.iter().enumerate() {
        let color = colors[i % colors.len()];
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|x| e(&x))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|x| e(&x))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

/// Without plotters: nothing drawn (the caller writes CSV).
#[cfg(not(feature = "plots"))]
pub fn draw(_path: &Path, _plot: &Plot) -> Result<(), String> {
    Err("PNG plots need `--features plots`, as perf/run builds".into())
}
