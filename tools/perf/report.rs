//! A scenario's report: Markdown text with tables, plots drawn beside it
//! (PNG with `--features plots`, otherwise their data as CSV), and the
//! header saying what ran where.

use std::fmt::Write;
use std::path::Path;

use crate::cli::Config;

/// One line chart: several labelled series of (x, y).
pub struct Plot {
    pub file: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<(String, Vec<(f64, f64)>)>,
}

impl Plot {
    pub fn new(
        file: &str,
        title: &str,
        x_label: &str,
        y_label: &str,
        series: Vec<(String, Vec<(f64, f64)>)>,
    ) -> Plot {
        Plot {
            file: file.into(),
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series,
        }
    }
}

/// A scenario's part of the report.
pub struct Section {
    pub name: String,
    pub body: String,
    pub plots: Vec<Plot>,
}

impl Section {
    pub fn new(name: &str) -> Section {
        Section {
            name: name.into(),
            body: String::new(),
            plots: Vec::new(),
        }
    }

    /// Start a Markdown table.
    pub fn table_header(&mut self, columns: &[&str]) {
        let _ = writeln!(self.body, "| {} |", columns.join(" | "));
        let _ = writeln!(self.body, "|{}", "---|".repeat(columns.len()));
    }

    /// One table row.
    pub fn row(&mut self, cells: &[String]) {
        let _ = writeln!(self.body, "| {} |", cells.join(" | "));
    }

    /// Under a side-by-side table: how to read it.
    pub fn ratio_note(&mut self, cfg: &Config) {
        if cfg.ckpool.is_some() {
            let _ = writeln!(
                self.body,
                "\nBoth pools ran alone on the machine, one after the other, against the same swarm load and their own simulated node."
            );
        }
    }
}

/// Write `section` as `dir/report.md` with its plots; returns the text.
pub fn write(dir: &Path, cfg: &Config, header: &str, section: &Section) -> Result<String, String> {
    let mut text = format!("# perf: {}\n\n{header}\n", section.name);
    text.push_str(&section.body);
    text.push('\n');
    for plot in &section.plots {
        match crate::plot::draw(&dir.join(&plot.file), plot) {
            Ok(()) => {
                let _ = writeln!(text, "\n![{}]({})", plot.title, plot.file);
            }
            Err(why) => {
                let csv = plot.file.replace(".png", ".csv");
                write_csv(&dir.join(&csv), plot)?;
                let _ = writeln!(text, "\n{}: data in [{csv}]({csv}) ({why}).", plot.title);
            }
        }
    }
    let _ = writeln!(
        text,
        "\nReproduce: `perf/run{}{}{}{} {}`",
        if cfg.ckpool.is_some() {
            " --ckpool PATH"
        } else {
            ""
        },
        if cfg.unchecked && cfg.ckpool.is_none() {
            " --unchecked"
        } else {
            ""
        },
        if cfg.zmq { " --zmq" } else { "" },
        match cfg.event_pack_bytes {
            0 => String::new(),
            n => format!(" --event-pack-bytes {n}"),
        },
        section.name
    );
    std::fs::write(dir.join("report.md"), &text).map_err(|e| format!("report.md: {e}"))?;
    Ok(text)
}

fn write_csv(path: &Path, plot: &Plot) -> Result<(), String> {
    let mut out = format!("series,{},{}\n", plot.x_label, plot.y_label);
    for (label, points) in &plot.series {
        for (x, y) in points {
            let _ = writeln!(out, "{label},{x},{y}");
        }
    }
    std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))
}
