//! Integration tests of `grace-harness`: real functions of the workspace under the harness.
//! One test binary (ripgrep's layout), one module per area. They need what `scripts/test.sh`
//! prepares: the workspace's binaries (`cargo build --workspace --bins`) and `.deps/venv`.

#![allow(unreachable_pub, clippy::unwrap_used)]

mod util;

mod command;
mod stream;
mod template;
