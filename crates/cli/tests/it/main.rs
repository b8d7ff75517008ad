//! Integration tests of `grace`: each drives the real binary as a user would, with real
//! processes, on loopback. One test binary (ripgrep's layout), one module per area.

#![allow(unreachable_pub, clippy::unwrap_used)]

mod pg;
mod util;

mod check;
mod cli;
mod compat;
mod emulator;
mod examples;
mod extension_client;
mod extensions;
mod faults;
mod http_compare;
mod http_front;
mod node;
mod oracle;
mod peers;
mod placement;
mod resources;
mod runtime;
mod screenshot;
mod template;
mod watch;
