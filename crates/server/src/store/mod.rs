//! The template store (placeholder).
