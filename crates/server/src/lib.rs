//! The mcp-file-templates server as a library, so that integration tests and
//! the benchmark harness can build the exact router the binary serves.
//!
//! See `docs/ARCHITECTURE.md` for the codemap.

pub mod app;
pub mod authz;
pub mod config;
pub mod deps;
pub mod identity;
pub mod mcp;
pub mod metrics;
pub mod sessions;
pub mod tool;
