//! Measurements and their summaries: every round of every cell is kept ([`Results`]); a cell
//! is summarised by the median over rounds of each figure ([`Summary`]), and grace is compared
//! with a peer by the median over rounds of the per-round throughput ratio ([`Results::ratio`]),
//! which cancels most of the drift of a shared machine (both sides of a ratio ran minutes apart
//! at most).

use crate::cpu::PerInvoke;
use crate::matrix::Variant;
use crate::wrk::Sample;

/// One cell of the matrix: a runtime binary (index into the run's list), a concurrency, a
/// system variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct CellKey {
    pub(crate) runtime: usize,
    pub(crate) concurrency: u32,
    pub(crate) variant: Variant,
}

/// One round of one cell.
#[derive(Debug, Clone)]
pub(crate) struct Round {
    /// 1-based round number.
    pub(crate) round: u32,
    /// The measurement, or why there is none.
    pub(crate) outcome: Result<Sample, String>,
    /// CPU per invoke of the emulator and of the runtime processes, when measured.
    pub(crate) cpu: Option<PerInvoke>,
    /// Anything worth reporting that did not prevent the measurement.
    pub(crate) notes: Vec<String>,
    /// 1-minute load average of the machine when the cell started (others' work shows here).
    pub(crate) load: String,
}

/// A cell over all its rounds.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    pub(crate) key: CellKey,
    /// Set when the cell is not measured at all (the reason is shown instead of figures).
    pub(crate) not_applicable: Option<&'static str>,
    pub(crate) rounds: Vec<Round>,
}

/// Medians of a cell's measured rounds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Summary {
    /// Successful invokes per second.
    pub(crate) rps: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) rps_min: f64,
    pub(crate) rps_max: f64,
    /// Rounds with a measurement / rounds run.
    pub(crate) measured: usize,
    pub(crate) run: usize,
    /// Non-2xx responses plus socket errors, over all rounds.
    pub(crate) errors: u64,
    /// Median CPU per invoke (µs) of the emulator and of the runtime, over rounds measuring it.
    pub(crate) cpu: Option<PerInvoke>,
}

/// Every cell, in report order.
#[derive(Debug, Default)]
pub(crate) struct Results {
    pub(crate) cells: Vec<Cell>,
}

impl Results {
    /// Adds an empty cell (keeps first-insertion order).
    pub(crate) fn declare(&mut self, key: CellKey, not_applicable: Option<&'static str>) {
        if self.get(key).is_none() {
            self.cells.push(Cell {
                key,
                not_applicable,
                rounds: Vec::new(),
            });
        }
    }

    /// Records one round of `key` (declaring the cell if needed).
    pub(crate) fn record(&mut self, key: CellKey, round: Round) {
        self.declare(key, None);
        if let Some(cell) = self.cells.iter_mut().find(|c| c.key == key) {
            cell.rounds.push(round);
        }
    }

    /// The cell for `key`.
    pub(crate) fn get(&self, key: CellKey) -> Option<&Cell> {
        self.cells.iter().find(|c| c.key == key)
    }

    /// Median over rounds of `rps(grace) / rps(peer)`, using only rounds where both measured.
    pub(crate) fn ratio(&self, grace: CellKey, peer: CellKey) -> Option<f64> {
        let (g, p) = (self.get(grace)?, self.get(peer)?);
        let ratios: Vec<f64> = g
            .rounds
            .iter()
            .filter_map(|gr| {
                let gs = gr.outcome.as_ref().ok()?;
                let pr = p.rounds.iter().find(|r| r.round == gr.round)?;
                let ps = pr.outcome.as_ref().ok()?;
                (ps.ok_rps() > 0.0).then(|| gs.ok_rps() / ps.ok_rps())
            })
            .collect();
        median(ratios)
    }

    /// The grace variants measured for `runtime` at `c` (the ratio columns of the table).
    pub(crate) fn grace_keys(&self, runtime: usize, c: u32) -> Vec<CellKey> {
        self.cells
            .iter()
            .map(|cell| cell.key)
            .filter(|k| k.runtime == runtime && k.concurrency == c && k.variant.system.is_grace())
            .collect()
    }

    /// Concurrencies present for `runtime`, in order of first appearance.
    pub(crate) fn concurrencies(&self, runtime: usize) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for c in self.cells.iter().filter(|c| c.key.runtime == runtime) {
            if !out.contains(&c.key.concurrency) {
                out.push(c.key.concurrency);
            }
        }
        out
    }
}

impl Cell {
    /// Medians over the measured rounds; `None` if no round measured.
    pub(crate) fn summary(&self) -> Option<Summary> {
        let ok: Vec<&Sample> = self
            .rounds
            .iter()
            .filter_map(|r| r.outcome.as_ref().ok())
            .collect();
        let rps: Vec<f64> = ok.iter().map(|s| s.ok_rps()).collect();
        Some(Summary {
            rps: median(rps.clone())?,
            p50_us: median(ok.iter().map(|s| s.p50_us).collect())?,
            p99_us: median(ok.iter().map(|s| s.p99_us).collect())?,
            rps_min: rps.iter().copied().fold(f64::INFINITY, f64::min),
            rps_max: rps.iter().copied().fold(0.0, f64::max),
            measured: ok.len(),
            run: self.rounds.len(),
            errors: ok.iter().map(|s| s.errors()).sum(),
            cpu: {
                let cpus: Vec<PerInvoke> = self.rounds.iter().filter_map(|r| r.cpu).collect();
                median(cpus.iter().map(|c| c.emulator_us).collect())
                    .zip(median(cpus.iter().map(|c| c.runtime_us).collect()))
                    .map(|(emulator_us, runtime_us)| PerInvoke {
                        emulator_us,
                        runtime_us,
                    })
            },
        })
    }

    /// Failure messages and notes of every round, prefixed by the round number.
    pub(crate) fn remarks(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.rounds {
            if let Err(e) = &r.outcome {
                out.push(format!("round {}: failed: {}", r.round, first_line(e)));
            }
            if let Ok(s) = &r.outcome
                && s.errors() > 0
            {
                out.push(format!(
                    "round {}: {} non-2xx responses, {} socket errors",
                    r.round, s.non_2xx, s.socket_errors
                ));
            }
            out.extend(r.notes.iter().map(|n| format!("round {}: {n}", r.round)));
        }
        out
    }
}

/// The median (mean of the two middle values for an even count); `None` when empty.
pub(crate) fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systems::System;

    fn sample(rps: f64) -> Sample {
        Sample {
            rps,
            requests: 1,
            p50_us: 1e6 / rps,
            p99_us: 2e6 / rps,
            non_2xx: 0,
            socket_errors: 0,
        }
    }

    fn key(system: System) -> CellKey {
        CellKey {
            runtime: 0,
            concurrency: 1,
            variant: Variant {
                system,
                runtime_procs: 1,
            },
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn ratios_pair_rounds() {
        let mut r = Results::default();
        let (g, p) = (key(System::Grace), key(System::Rie));
        for (round, gr, pr) in [(1, 200.0, 100.0), (2, 90.0, 30.0), (3, 100.0, 100.0)] {
            r.record(
                g,
                Round {
                    round,
                    outcome: Ok(sample(gr)),
                    cpu: None,
                    notes: vec![],
                    load: String::new(),
                },
            );
            r.record(
                p,
                Round {
                    round,
                    outcome: Ok(sample(pr)),
                    cpu: None,
                    notes: vec![],
                    load: String::new(),
                },
            );
        }
        r.record(
            g,
            Round {
                round: 4,
                outcome: Ok(sample(1.0)),
                cpu: None,
                notes: vec![],
                load: String::new(),
            },
        );
        r.record(
            p,
            Round {
                round: 4,
                outcome: Err("boom".into()),
                cpu: None,
                notes: vec![],
                load: String::new(),
            },
        );
        // Per-round ratios 2, 3, 1 (round 4 has no peer figure) → median 2.
        assert_eq!(r.ratio(g, p), Some(2.0));
        let s = r.get(p).unwrap().summary().unwrap();
        assert_eq!((s.rps, s.measured, s.run), (100.0, 3, 4));
        assert_eq!(r.get(p).unwrap().remarks(), ["round 4: failed: boom"]);
    }
}
