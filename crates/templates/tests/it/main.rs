//! Integration tests of the template crate, as one binary (see
//! `docs/ARCHITECTURE.md`, "Testing").
//!
//! - `store_crash`: a writer process killed mid-save never tears a template.
//! - `pg`: the PostgreSQL store against a real server of its own.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

mod pg;
mod store_crash;
