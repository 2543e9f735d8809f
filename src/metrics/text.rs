//! The Prometheus text exposition format (version 0.0.4), written one
//! whole family at a time: `# HELP`, `# TYPE`, then every sample of the
//! family. A family is a value that borrows the page mutably, so a second
//! family cannot start before the first is finished — interleaving is a
//! compile error, not a convention.

use std::fmt::Write as _;

use super::histogram::HistogramSnapshot;

/// A page of metrics being written.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
    /// Families written so far: a name written twice is a bug.
    names: Vec<&'static str>,
}

/// A label: name (a Rust identifier in practice) and value (any text).
pub type Label<'a> = (&'a str, &'a str);

impl Exposition {
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// A counter family; its name ends in `_total`, as Prometheus's
    /// naming rules (and `promtool check metrics`) want.
    pub fn counter(&mut self, name: &'static str, help: &str) -> Family<'_> {
        debug_assert!(
            name.ends_with("_total"),
            "counter {name} must end in _total"
        );
        self.family(name, help, "counter")
    }

    /// A gauge family.
    pub fn gauge(&mut self, name: &'static str, help: &str) -> Family<'_> {
        self.family(name, help, "gauge")
    }

    /// A histogram family (`name` without `_bucket`/`_sum`/`_count`).
    pub fn histogram(&mut self, name: &'static str, help: &str) -> HistogramFamily<'_> {
        HistogramFamily(self.family(name, help, "histogram"))
    }

    /// The finished page.
    pub fn into_text(self) -> String {
        self.text
    }

    fn family(&mut self, name: &'static str, help: &str, kind: &str) -> Family<'_> {
        debug_assert!(is_metric_name(name), "bad metric name {name:?}");
        debug_assert!(!self.names.contains(&name), "family {name} written twice");
        self.names.push(name);
        let _ = write!(self.text, "# HELP {name} ");
        escape_help(&mut self.text, help);
        let _ = writeln!(self.text, "\n# TYPE {name} {kind}");
        Family {
            text: &mut self.text,
            name,
        }
    }
}

/// One family's samples, written while it is borrowed.
pub struct Family<'a> {
    text: &'a mut String,
    name: &'static str,
}

impl Family<'_> {
    /// `name{labels} value`.
    pub fn sample(&mut self, labels: &[Label<'_>], value: impl Value) -> &mut Self {
        self.line("", labels, None, value);
        self
    }

    /// `name<suffix>{labels,extra} value`: the histogram's lines.
    fn line(
        &mut self,
        suffix: &str,
        labels: &[Label<'_>],
        extra: Option<Label<'_>>,
        v: impl Value,
    ) {
        let _ = write!(self.text, "{}{suffix}", self.name);
        let mut all = labels.iter().chain(extra.as_ref()).peekable();
        if all.peek().is_some() {
            self.text.push('{');
            for (i, (name, value)) in all.enumerate() {
                debug_assert!(is_label_name(name), "bad label name {name:?}");
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{name}=\"");
                escape_label_value(self.text, value);
                self.text.push('"');
            }
            self.text.push('}');
        }
        self.text.push(' ');
        v.write_to(self.text);
        self.text.push('\n');
    }
}

/// A histogram family's series, one per label set.
pub struct HistogramFamily<'a>(Family<'a>);

impl HistogramFamily<'_> {
    /// The cumulative `_bucket{le=…}` lines (`+Inf` last), `_sum` and
    /// `_count` of one series.
    pub fn series(&mut self, labels: &[Label<'_>], h: &HistogramSnapshot) -> &mut Self {
        let mut bound = String::new();
        for (le, n) in h.bounds.iter().zip(&h.cumulative) {
            bound.clear();
            le.write_to(&mut bound);
            self.0.line("_bucket", labels, Some(("le", &bound)), *n);
        }
        self.0
            .line("_bucket", labels, Some(("le", "+Inf")), h.count);
        self.0.line("_sum", labels, None, h.sum_secs);
        self.0.line("_count", labels, None, h.count);
        self
    }
}

/// A sample value as the format writes it.
pub trait Value: Copy {
    fn write_to(self, out: &mut String);
}

impl Value for u64 {
    fn write_to(self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl Value for usize {
    fn write_to(self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl Value for f64 {
    /// Go's spellings of the special values; Rust's `Display` otherwise
    /// (shortest round-trip decimal, never an exponent: valid either way).
    fn write_to(self, out: &mut String) {
        match self {
            v if v.is_nan() => out.push_str("NaN"),
            f64::INFINITY => out.push_str("+Inf"),
            f64::NEG_INFINITY => out.push_str("-Inf"),
            v => {
                let _ = write!(out, "{v}");
            }
        }
    }
}

/// A label value: `\`, `"` and newline escaped.
fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// HELP text: `\` and newline escaped (quotes are fine there).
fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved).
fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    !name.starts_with("__")
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Histogram;
    use std::time::Duration;

    #[test]
    fn families_are_written_whole_with_help_and_type() {
        let mut x = Exposition::new();
        x.counter("t_requests_total", "Requests.")
            .sample(&[("code", "200")], 3u64)
            .sample(&[("code", "404")], 1u64);
        x.gauge("t_depth", "Queue depth.").sample(&[], 7usize);
        assert_eq!(
            x.into_text(),
            "# HELP t_requests_total Requests.\n# TYPE t_requests_total counter\n\
             t_requests_total{code=\"200\"} 3\nt_requests_total{code=\"404\"} 1\n\
             # HELP t_depth Queue depth.\n# TYPE t_depth gauge\nt_depth 7\n"
        );
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut x = Exposition::new();
        x.gauge("t_g", "a \\ b\nc \"q\"")
            .sample(&[("node", "a\"b\\c\nd"), ("m", "x")], 1u64);
        assert_eq!(
            x.into_text(),
            "# HELP t_g a \\\\ b\\nc \"q\"\n# TYPE t_g gauge\n\
             t_g{node=\"a\\\"b\\\\c\\nd\",m=\"x\"} 1\n"
        );
    }

    #[test]
    fn special_floats_use_the_formats_spelling() {
        let text = |v: f64| {
            let mut s = String::new();
            v.write_to(&mut s);
            s
        };
        assert_eq!(text(f64::NAN), "NaN");
        assert_eq!(text(f64::INFINITY), "+Inf");
        assert_eq!(text(f64::NEG_INFINITY), "-Inf");
        assert_eq!(text(0.25), "0.25");
        assert_eq!(text(1e-6), "0.000001");
        assert_eq!(text(3.0), "3");
    }

    #[test]
    fn histograms_are_cumulative_with_inf_sum_and_count() {
        static BOUNDS: [f64; 3] = [0.001, 0.01, 0.1];
        let h = Histogram::new(&BOUNDS);
        for ms in [0, 1, 5, 50, 50, 2000] {
            h.observe(Duration::from_millis(ms));
        }
        let mut x = Exposition::new();
        x.histogram("t_seconds", "Latency.")
            .series(&[("sink", "a")], &h.snapshot());
        assert_eq!(
            x.into_text(),
            "# HELP t_seconds Latency.\n# TYPE t_seconds histogram\n\
             t_seconds_bucket{sink=\"a\",le=\"0.001\"} 2\n\
             t_seconds_bucket{sink=\"a\",le=\"0.01\"} 3\n\
             t_seconds_bucket{sink=\"a\",le=\"0.1\"} 5\n\
             t_seconds_bucket{sink=\"a\",le=\"+Inf\"} 6\n\
             t_seconds_sum{sink=\"a\"} 2.106\n\
             t_seconds_count{sink=\"a\"} 6\n"
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(is_metric_name("tbg_pool_x:y"));
        assert!(!is_metric_name("9x") && !is_metric_name("a-b") && !is_metric_name(""));
        assert!(is_label_name("le") && !is_label_name("__name") && !is_label_name("a.b"));
    }

    #[test]
    #[should_panic(expected = "written twice")]
    #[cfg(debug_assertions)]
    fn a_family_cannot_be_written_twice() {
        let mut x = Exposition::new();
        x.gauge("t_g", "x");
        x.gauge("t_g", "x");
    }
}
