//! The one minijinja environment every compile and render uses, the helper
//! values templates may read without declaring them, and how a minijinja error
//! is worded. Both the file format (which compiles a draft to check it) and the
//! renderer depend on this module; it depends on neither, so the two stay out
//! of each other's way.

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

/// Values every template can use without declaring them: `today` is the
/// local date as `YYYY-MM-DD`, `now` the local time as RFC 3339 with
/// seconds and offset (`2026-11-27T09:30:00+09:00`).
pub const HELPERS: &[&str] = &["today", "now"];

/// The environment every compile and render uses (see the module doc), with
/// the extra `slug` filter for file names.
pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_debug(false);
    env.add_filter("slug", slug);
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build();
    // The builder only fails for conflicting custom delimiters, which are not set here.
    if let Ok(syntax) = syntax {
        env.set_syntax(syntax);
    }
    env
}

/// The `slug` filter: lowercases, keeps letters and digits of any script
/// (so `議事録` stays readable), and turns every other run of characters into
/// one `-`, with none at either end. `"Q3 Planning: Kick-off!"` becomes
/// `q3-planning-kick-off`.
fn slug(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut gap = false;
    for c in value.chars() {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('-');
            }
            gap = false;
            out.extend(c.to_lowercase());
        } else {
            gap = true;
        }
    }
    out
}

/// A minijinja error as "kind: detail", without the "(in name:line)" suffix
/// that callers replace with their own location.
pub(crate) fn jinja_message(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    }
}
