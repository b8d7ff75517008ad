//! A table of strings, printed as markdown (first two columns left-aligned, the rest
//! right-aligned) or as aligned plain text.

/// A table of strings, printable as markdown or aligned text.
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub(crate) headers: Vec<String>,
    pub(crate) rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn markdown(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let mut out = line(&self.headers);
        out += &line(
            &self
                .headers
                .iter()
                .enumerate()
                .map(|(i, _)| if i < 2 { "---" } else { "---:" }.into())
                .collect::<Vec<_>>(),
        );
        for r in &self.rows {
            out += &line(r);
        }
        out
    }

    pub(crate) fn text(&self) -> String {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|i| {
                self.rows
                    .iter()
                    .chain([&self.headers])
                    .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| {
                    if i < 2 {
                        format!("{c:<w$}")
                    } else {
                        format!("{c:>w$}")
                    }
                })
                .collect();
            format!("{}\n", padded.join("  ").trim_end())
        };
        let mut out = line(&self.headers);
        for r in &self.rows {
            out += &line(r);
        }
        out
    }
}
