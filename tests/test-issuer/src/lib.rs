//! Test issuer (placeholder).
