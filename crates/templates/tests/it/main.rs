//! Integration tests of the template crate, as one binary (see
//! `docs/ARCHITECTURE.md`, "Testing").
//!
//! - `store_crash`: a writer process killed mid-save never tears a template.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

mod store_crash;
