//! Unit tests of the Telemetry API types: one file per half of the module.

mod records;
mod subscribe;
