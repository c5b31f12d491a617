//! The mcp-file-templates server binary (placeholder).

fn main() {}
