//! auth (placeholder, see docs/ARCHITECTURE.md).
