//! jwks (placeholder, see docs/ARCHITECTURE.md).
