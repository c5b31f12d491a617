-- The PostgreSQL template store (crates/templates/src/pg.rs), version 1.
-- One row per template: the file exactly as the filesystem store would hold
-- it (front matter + body), and its version (the same content hash).
CREATE TABLE mcp_templates (
    name       text        PRIMARY KEY,
    version    text        NOT NULL,
    source     text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
