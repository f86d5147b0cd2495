//! The sweep's SVG plot: wall time and peak memory against chunk size, one panel each.
//! plotters' SVG backend writes text as SVG text, so no system fonts are needed.

use std::path::Path;

use plotters::prelude::*;

use crate::sweep_row::Row;

/// Writes the plot of `rows` (chunk sizes that did not run are left out of the lines
/// but keep their place on the axis).
pub fn write(path: &Path, rows: &[Row]) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (800, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(300);
    let labels: Vec<String> = rows.iter().map(|r| r.chunks.clone()).collect();
    panel(&top, rows, &labels, "wall time (s)", &BLUE, |r| r.number("wall_s"))?;
    panel(&bottom, rows, &labels, "peak memory (MiB)", &RED, |r| {
        r.number("peak_memory_bytes").map(|b| b / f64::from(1u32 << 20))
    })?;
    root.present()?;
    Ok(())
}

fn panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    rows: &[Row],
    labels: &[String],
    what: &str,
    color: &RGBColor,
    value: impl Fn(&Row) -> Option<f64>,
) -> Result<(), Box<dyn std::error::Error>> {
    let points: Vec<(i32, f64)> =
        rows.iter().enumerate().filter_map(|(i, r)| value(r).map(|v| (i as i32, v))).collect();
    let top = points.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1e-3) * 1.15;
    let n = rows.len().max(1) as i32;
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{what} by chunk size"), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(-1..n, 0.0..top)?;
    chart
        .configure_mesh()
        .x_labels(rows.len() + 2)
        .x_label_formatter(&|i| usize::try_from(*i).ok().and_then(|i| labels.get(i)).cloned().unwrap_or_default())
        .x_desc("chunks")
        .y_desc(what)
        .draw()?;
    chart.draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?;
    chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    Ok(())
}
