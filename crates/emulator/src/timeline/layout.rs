//! Where things go: a time axis that stays legible at any scale, and labels that never overlap.
//!
//! The axis is piecewise linear between the times at which something starts or ends. Long
//! stretches where no work runs (frozen, idle, waiting for a deadline) are compressed to a
//! fixed width and drawn as breaks; every span gets at least `MIN_SPAN` pixels, taken from a
//! common scale that is then shrunk so the whole still fits. Labels go in rows under their
//! lane, each in the first row where it collides with nothing.

use super::model::Model;

/// The narrowest a span is drawn, in pixels.
pub(crate) const MIN_SPAN: f64 = 10.0;
/// The width of a compressed stretch.
pub(crate) const BREAK_WIDTH: f64 = 100.0;
/// Runs of stretches without work longer than this are compressed (µs).
const BREAK_AFTER_US: u64 = 25_000;
/// Rows of labels under a lane, at most (with hundreds of invokes, the rest are tooltips).
const MAX_ROWS: usize = 5;
/// Space kept between two labels of one row.
const GAP: f64 = 6.0;

/// One stretch of the axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Segment {
    pub(crate) t0: u64,
    pub(crate) t1: u64,
    pub(crate) x0: f64,
    pub(crate) x1: f64,
    /// Compressed: its width does not follow its duration.
    pub(crate) broken: bool,
}

/// Maps times to x.
#[derive(Debug, Clone)]
pub(crate) struct Axis {
    pub(crate) segments: Vec<Segment>,
}

impl Axis {
    /// An axis for `model` starting at `left`, aiming for `width` pixels (it grows if the
    /// minimum widths need more).
    pub(crate) fn new(model: &Model, left: f64, width: f64) -> Self {
        let mut cuts: Vec<u64> = model
            .lanes
            .iter()
            .flat_map(|l| l.items.iter().flat_map(|i| [i.start, i.end]))
            .chain([model.t0, model.t1])
            .filter(|t| (model.t0..=model.t1).contains(t))
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let spans: Vec<(usize, usize)> = model
            .lanes
            .iter()
            .flat_map(|l| &l.items)
            .filter(|i| !i.kind.is_mark() && i.end > i.start)
            .map(|i| (index(&cuts, i.start), index(&cuts, i.end)))
            .collect();
        let work: Vec<(usize, usize)> = model
            .lanes
            .iter()
            .flat_map(|l| &l.items)
            .filter(|i| i.kind.is_work())
            .map(|i| (index(&cuts, i.start), index(&cuts, i.end)))
            .collect();
        let n = cuts.len().saturating_sub(1);
        let dur: Vec<f64> = (0..n).map(|k| (cuts[k + 1] - cuts[k]) as f64).collect();
        // Runs of stretches in which no work runs (frozen, idle, waiting for SIGTERM or a
        // deadline) that last long are compressed together: one break, a little wider for each
        // long stretch in it, shared by the logarithm of their durations.
        let idle: Vec<bool> = (0..n)
            .map(|k| !work.iter().any(|&(a, b)| a <= k && k < b))
            .collect();
        let mut broken = vec![false; n];
        let mut fixed_w = vec![0.0; n];
        let mut k = 0;
        while k < n {
            if !idle[k] {
                k += 1;
                continue;
            }
            let run = k..(k..n).find(|&j| !idle[j]).unwrap_or(n);
            k = run.end;
            if dur[run.clone()].iter().sum::<f64>() <= BREAK_AFTER_US as f64 {
                continue;
            }
            let long = run
                .clone()
                .filter(|&j| dur[j] > BREAK_AFTER_US as f64)
                .count()
                .max(1);
            let total = BREAK_WIDTH + 24.0 * (long - 1) as f64;
            let weight = |j: usize| (1.0 + dur[j] / 1000.0).ln();
            let sum: f64 = run.clone().map(weight).sum::<f64>().max(f64::MIN_POSITIVE);
            for j in run {
                broken[j] = true;
                fixed_w[j] = total * weight(j) / sum;
            }
        }
        let linear: f64 = (0..n).filter(|&k| !broken[k]).map(|k| dur[k]).sum();
        let fixed: f64 = fixed_w.iter().sum();
        let widths = |scale: f64| -> Vec<f64> {
            let mut w: Vec<f64> = (0..n)
                .map(|k| {
                    if broken[k] {
                        fixed_w[k]
                    } else {
                        dur[k] * scale
                    }
                })
                .collect();
            for &(a, b) in &spans {
                let have: f64 = w[a..b].iter().sum();
                if have < MIN_SPAN {
                    let total: f64 = dur[a..b].iter().sum::<f64>().max(1.0);
                    for k in a..b {
                        w[k] += (MIN_SPAN - have) * dur[k].max(0.0) / total;
                    }
                }
            }
            w
        };
        // The largest scale at which everything fits (bisection: the total grows with it).
        let room = (width - fixed).max(0.0);
        let (mut lo, mut hi) = (0.0, if linear > 0.0 { room / linear } else { 0.0 });
        for _ in 0..40 {
            let mid = (lo + hi) / 2.0;
            if widths(mid).iter().sum::<f64>() <= width {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let w = widths(lo);
        let mut x = left;
        let segments = (0..n)
            .map(|k| {
                let s = Segment {
                    t0: cuts[k],
                    t1: cuts[k + 1],
                    x0: x,
                    x1: x + w[k],
                    broken: broken[k],
                };
                x += w[k];
                s
            })
            .collect();
        Axis { segments }
    }

    pub(crate) fn x(&self, t: u64) -> f64 {
        let Some(first) = self.segments.first() else {
            return 0.0;
        };
        if t <= first.t0 {
            return first.x0;
        }
        let k = self.segments.partition_point(|s| s.t1 < t);
        match self.segments.get(k) {
            Some(s) if s.t1 > s.t0 => {
                s.x0 + (s.x1 - s.x0) * (t - s.t0) as f64 / (s.t1 - s.t0) as f64
            }
            Some(s) => s.x0,
            None => self.segments.last().map_or(0.0, |s| s.x1),
        }
    }

    pub(crate) fn right(&self) -> f64 {
        self.segments.last().map_or(0.0, |s| s.x1)
    }
}

/// The index of `t` in the sorted `cuts`.
fn index(cuts: &[u64], t: u64) -> usize {
    cuts.partition_point(|&c| c < t)
}

/// The estimated width of an 11 px label: DejaVu Sans' advance widths (the widest common
/// sans-serif font), 3% up, so that labels measured here never overlap when drawn.
pub(crate) fn text_width(text: &str) -> f64 {
    // Advance widths in 1/2048 em.
    let units: u32 = text
        .chars()
        .map(|c| match c {
            'i' | 'j' | 'l' | 'I' => 600,
            ' ' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' => 700,
            '-' | '(' | ')' | '[' | ']' | '/' | 'f' | 't' => 820,
            'r' => 842,
            's' | 'z' | 'c' => 1130,
            'k' | 'v' | 'x' | 'y' => 1212,
            'a' | 'e' | 'o' => 1260,
            'b' | 'd' | 'g' | 'h' | 'n' | 'p' | 'q' | 'u' | '0'..='9' => 1303,
            'w' => 1675,
            'm' | 'M' | 'W' | '%' | '@' | '—' => 2000,
            _ => 1600,
        })
        .sum();
    f64::from(units) * 11.0 / 2048.0 * 1.03
}

/// Rows of placed labels: each row a list of occupied `[x0, x1]`.
#[derive(Debug, Default)]
pub(crate) struct Rows {
    rows: Vec<Vec<(f64, f64)>>,
}

impl Rows {
    /// Places a label `width` wide that should start at `x` (or end there, if it would cross
    /// `limit`); returns its left edge and row, or `None` when every one of `MAX_ROWS` rows is
    /// taken there (the item keeps its tooltip).
    pub(crate) fn place(&mut self, x: f64, width: f64, limit: f64) -> Option<(f64, usize)> {
        let x0 = if x + width > limit {
            (x - width).max(0.0)
        } else {
            x
        };
        let x1 = x0 + width;
        let free = |row: &Vec<(f64, f64)>| row.iter().all(|&(a, b)| x1 + GAP <= a || b + GAP <= x0);
        let row = match self.rows.iter().position(free) {
            Some(r) => r,
            None if self.rows.len() < MAX_ROWS => {
                self.rows.push(Vec::new());
                self.rows.len() - 1
            }
            None => return None,
        };
        self.rows[row].push((x0, x1));
        Some((x0, row))
    }

    pub(crate) fn count(&self) -> usize {
        self.rows.len()
    }
}
