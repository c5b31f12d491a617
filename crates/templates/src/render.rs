//! Rendering a [`Template`] with caller-supplied variables, with bounded work.
//!
//! Templates render in a minijinja environment configured for text files:
//! strict undefined values (a typo is an error, not an empty string), no
//! HTML auto-escaping, `trim_blocks` + `lstrip_blocks` so block tags on their
//! own line leave no blank lines, and the trailing newline kept. minijinja is
//! built without `multi_template` and no loader is set, so
//! `include`/`import`/`extends` are syntax errors and no template can reach
//! another or any file. The work is bounded by minijinja's fuel, the output
//! by a capped writer and the input by a per-variable size cap.
//!
//! One fuel budget covers the whole render: the defaults, the body and the
//! file name draw from it in that order, and each part starts with what the
//! parts before it left. minijinja charges fuel per evaluation and reads the
//! budget from the environment, so a render whose first part leaves less than
//! the full budget evaluates the next parts in its own copy of the compiled
//! environment with the fuel lowered (one shallow clone per such render:
//! the compiled parts are shared, not recompiled).
//!
//! [`Renderer`] compiles each template version once and keeps it; the free
//! functions [`render()`] and [`render_at()`] compile on every call.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Local};
use minijinja::Environment;
use minijinja::value::{Serde, Value};
use quick_cache::Weighter;
use quick_cache::sync::Cache;

use crate::jinja::{environment, jinja_message};
use crate::name::WINDOWS_RESERVED;
use crate::{Template, TemplateName, Version};

/// Longest rendered file name, in bytes (the common file-system limit).
const MAX_FILENAME_BYTES: usize = 255;

/// Bounds on one render.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderLimits {
    /// minijinja fuel for one render, shared by every part evaluated (the
    /// defaults used, the body and the file name): roughly one per
    /// instruction plus one per 64 bytes of data created, so it bounds both
    /// the time and the memory of a whole render.
    pub fuel: u64,
    /// Largest rendered body, in bytes.
    pub max_output_bytes: usize,
    /// Largest single variable value, in bytes (strings by length, other
    /// JSON values by their serialized length).
    pub max_variable_bytes: usize,
}

impl Default for RenderLimits {
    /// 200 000 fuel for a whole render: the heaviest shipped template
    /// (`release-notes`) needs about 141 000 with every list variable at the
    /// 64 KiB cap and under 600 with realistic input, while a runaway render
    /// (however its work is spread over body, file name and defaults) stops
    /// after about 14 ms (release build, this project's 2-core machine) and
    /// can allocate at most about 12 MiB. 1 MiB of output is far more than any
    /// document skeleton; 64 KiB per variable fits a long pasted list.
    fn default() -> Self {
        Self {
            fuel: 200_000,
            max_output_bytes: 1024 * 1024,
            max_variable_bytes: 64 * 1024,
        }
    }
}

/// A rendered template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// The rendered body.
    pub text: String,
    /// The rendered and sanitised file name, when the template has one: a
    /// single path component without separators, control characters,
    /// characters Windows forbids, or leading dots.
    pub filename: Option<String>,
}

/// Why a render failed. Variable lists are sorted and complete.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// Required variables that were not given (or given as `null`).
    #[error("missing required variables: {}", .0.join(", "))]
    MissingVariables(Vec<String>),
    /// Variables given that the template does not declare.
    #[error("unknown variables: {}", .0.join(", "))]
    UnknownVariables(Vec<String>),
    /// A variable value exceeds `RenderLimits::max_variable_bytes`.
    #[error("variable {0} exceeds the size limit (max_variable_bytes)")]
    VariableTooLarge(String),
    /// The output exceeds `RenderLimits::max_output_bytes`.
    #[error("rendered output exceeds the size limit (max_output_bytes)")]
    OutputTooLarge,
    /// The render used up its fuel (`RenderLimits::fuel`, shared by all the
    /// parts of one render): the template does too much work.
    #[error("render ran out of fuel: the template does too much work")]
    FuelExhausted,
    /// The template failed at run time; the message names the line.
    #[error("template error: {0}")]
    Template(String),
}

/// Renders a template at the current local time, compiling it first. A
/// server renders through a [`Renderer`], which compiles each version once.
pub fn render(
    t: &Template,
    vars: &serde_json::Map<String, serde_json::Value>,
    limits: &RenderLimits,
) -> Result<Rendered, RenderError> {
    render_at(t, vars, limits, Local::now().fixed_offset())
}

/// Renders a template with `today` and `now` taken from `now`, compiling it
/// first.
///
/// Order of checks: unknown variables, variable sizes, defaults, missing
/// required variables, then the body and the file name. A part that does not
/// compile fails when its turn comes, not before.
pub fn render_at(
    t: &Template,
    vars: &serde_json::Map<String, serde_json::Value>,
    limits: &RenderLimits,
    now: DateTime<FixedOffset>,
) -> Result<Rendered, RenderError> {
    CompiledTemplate::new(t, limits).render_at(t, vars, limits, now)
}

/// Most template source, in bytes, whose compiled form a [`Renderer`] keeps.
/// The shipped templates are 1–3 KiB each; 16 MiB holds thousands of them,
/// and a template's compiled form is a small multiple of its source.
const COMPILED_CACHE_SOURCE_BYTES: u64 = 16 * 1024 * 1024;

/// Renders templates with fixed [`RenderLimits`], compiling each template
/// version once.
///
/// Lexing and parsing a template costs more than rendering a typical document
/// from it, so compiled templates are kept, keyed by [`Version`] (a hash of
/// the file) and bounded by the size of their source. A hit is used only if
/// its sources equal the template's, so a template whose version does not
/// match its content (one built by hand) is compiled afresh, never rendered
/// from another template's code.
pub struct Renderer {
    limits: RenderLimits,
    compiled: Cache<Version, Arc<CompiledTemplate>, SourceBytes>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("limits", &self.limits)
            .field("compiled", &self.compiled.len())
            .finish()
    }
}

impl Renderer {
    /// A renderer with an empty cache.
    pub fn new(limits: RenderLimits) -> Self {
        Self {
            limits,
            compiled: Cache::with_weighter(1024, COMPILED_CACHE_SOURCE_BYTES, SourceBytes),
        }
    }

    /// The limits every render uses.
    pub fn limits(&self) -> &RenderLimits {
        &self.limits
    }

    /// Renders a template at the current local time.
    pub fn render(
        &self,
        t: &Template,
        vars: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Rendered, RenderError> {
        self.render_at(t, vars, Local::now().fixed_offset())
    }

    /// Renders a template with `today` and `now` taken from `now`; the same
    /// checks in the same order as [`render_at()`].
    pub fn render_at(
        &self,
        t: &Template,
        vars: &serde_json::Map<String, serde_json::Value>,
        now: DateTime<FixedOffset>,
    ) -> Result<Rendered, RenderError> {
        self.compiled(t).render_at(t, vars, &self.limits, now)
    }

    /// The compiled form of `t`, from the cache when its sources match.
    fn compiled(&self, t: &Template) -> Arc<CompiledTemplate> {
        if let Some(hit) = self.compiled.get(&t.meta.version)
            && hit.compiled_from(t)
        {
            return hit;
        }
        let compiled = Arc::new(CompiledTemplate::new(t, &self.limits));
        self.compiled
            .insert(t.meta.version.clone(), Arc::clone(&compiled));
        compiled
    }

    /// How many compiled templates the cache holds.
    pub fn compiled_len(&self) -> usize {
        self.compiled.len()
    }
}

/// Weighs a compiled template by its source size, so the cache bounds memory
/// rather than a count of templates that may be 20 bytes or 256 KiB.
#[derive(Clone, Copy, Debug)]
struct SourceBytes;

impl Weighter<Version, Arc<CompiledTemplate>> for SourceBytes {
    fn weight(&self, _: &Version, compiled: &Arc<CompiledTemplate>) -> u64 {
        compiled.source_bytes.max(1)
    }
}

/// Key of the body in a compiled template's environment.
const BODY: &str = "body";
/// Key of the file-name template.
const FILENAME: &str = "filename";

/// The environment key of a variable's default.
fn default_key(variable: &str) -> String {
    format!("default:{variable}")
}

/// A template compiled for rendering: each part (body, file name, every
/// default) is a template of its own in one environment whose fuel is the
/// render limits' budget (a render lowers it in its own copy, see [`Fuel`]).
/// minijinja is built without its `multi_template` feature, so `include`,
/// `import` and `extends` are syntax errors: no part can reach another, let
/// alone a file.
struct CompiledTemplate {
    env: Environment<'static>,
    /// Parts that did not compile, by key, with the error their render gives.
    broken: BTreeMap<String, RenderError>,
    body: String,
    filename: Option<String>,
    /// `(name, default)` of every declared variable, in declaration order.
    defaults: Vec<(String, Option<String>)>,
    source_bytes: u64,
}

impl CompiledTemplate {
    fn new(t: &Template, limits: &RenderLimits) -> Self {
        let mut env = environment();
        env.set_fuel(Some(limits.fuel));
        let mut broken = BTreeMap::new();
        let mut add = |key: String, label: &str, source: &str| {
            if let Err(e) = env.add_template_owned(key.clone(), source.to_owned()) {
                broken.insert(key, RenderError::Template(located(label, &e)));
            }
        };
        add(BODY.to_owned(), BODY, &t.body);
        if let Some(source) = &t.meta.filename {
            add(FILENAME.to_owned(), FILENAME, source);
        }
        for spec in &t.meta.variables {
            if let Some(source) = &spec.default {
                add(default_key(&spec.name), "default", source);
            }
        }
        let defaults: Vec<(String, Option<String>)> = t
            .meta
            .variables
            .iter()
            .map(|v| (v.name.clone(), v.default.clone()))
            .collect();
        let source_bytes = t.body.len()
            + t.meta.filename.as_ref().map_or(0, String::len)
            + defaults
                .iter()
                .map(|(_, d)| d.as_ref().map_or(0, String::len))
                .sum::<usize>();
        Self {
            env,
            broken,
            body: t.body.clone(),
            filename: t.meta.filename.clone(),
            defaults,
            source_bytes: u64::try_from(source_bytes).unwrap_or(u64::MAX),
        }
    }

    /// Whether this was compiled from exactly `t`'s sources.
    fn compiled_from(&self, t: &Template) -> bool {
        self.body == t.body
            && self.filename == t.meta.filename
            && self.defaults.len() == t.meta.variables.len()
            && self
                .defaults
                .iter()
                .zip(&t.meta.variables)
                .all(|((name, default), spec)| *name == spec.name && *default == spec.default)
    }

    /// See [`render_at()`]; `t` is the template this was compiled from.
    fn render_at(
        &self,
        t: &Template,
        vars: &serde_json::Map<String, serde_json::Value>,
        limits: &RenderLimits,
        now: DateTime<FixedOffset>,
    ) -> Result<Rendered, RenderError> {
        let declared: BTreeSet<&str> = t.meta.variables.iter().map(|v| v.name.as_str()).collect();
        let unknown: Vec<String> = vars
            .keys()
            .filter(|k| !declared.contains(k.as_str()))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !unknown.is_empty() {
            return Err(RenderError::UnknownVariables(unknown));
        }
        // serde_json::Map iterates in key order, so the first offender by name is reported.
        for (name, value) in vars {
            if value_size(value) > limits.max_variable_bytes {
                return Err(RenderError::VariableTooLarge(name.clone()));
            }
        }

        let mut ctx: BTreeMap<&str, serde_json::Value> = BTreeMap::new();
        ctx.insert("today", now.format("%Y-%m-%d").to_string().into());
        ctx.insert("now", now.format("%Y-%m-%dT%H:%M:%S%:z").to_string().into());
        let helpers_only = Value::from(Serde(&ctx));

        let mut fuel = Fuel {
            env: Cow::Borrowed(&self.env),
            env_fuel: limits.fuel,
            remaining: limits.fuel,
        };
        let mut missing = Vec::new();
        for spec in &t.meta.variables {
            let value = match vars.get(&spec.name) {
                Some(v) if !v.is_null() => v.clone(),
                _ => match &spec.default {
                    Some(_) => {
                        let text = self
                            .eval(
                                &mut fuel,
                                &default_key(&spec.name),
                                "default",
                                helpers_only.clone(),
                                limits.max_variable_bytes,
                            )
                            .map_err(|e| e.in_variable(&spec.name))?;
                        serde_json::Value::String(text)
                    }
                    None if spec.required => {
                        missing.push(spec.name.clone());
                        continue;
                    }
                    None => serde_json::Value::String(String::new()),
                },
            };
            ctx.insert(&spec.name, value);
        }
        if !missing.is_empty() {
            missing.sort();
            return Err(RenderError::MissingVariables(missing));
        }

        let context = Value::from(Serde(&ctx));
        let text = self.eval(
            &mut fuel,
            BODY,
            BODY,
            context.clone(),
            limits.max_output_bytes,
        )?;
        let filename = match &t.meta.filename {
            Some(_) => {
                let raw = self.eval(
                    &mut fuel,
                    FILENAME,
                    FILENAME,
                    context,
                    4 * MAX_FILENAME_BYTES,
                )?;
                Some(sanitize_filename(&raw, &t.meta.name))
            }
            None => None,
        };
        Ok(Rendered { text, filename })
    }

    /// Renders the part `key` into at most `cap` bytes with the fuel the
    /// render has left, and takes what it used from `fuel`; `label` names
    /// the part in errors.
    fn eval(
        &self,
        fuel: &mut Fuel<'_>,
        key: &str,
        label: &str,
        ctx: Value,
        cap: usize,
    ) -> Result<String, RenderError> {
        if let Some(error) = self.broken.get(key) {
            return Err(error.clone());
        }
        if fuel.remaining == 0 {
            return Err(RenderError::FuelExhausted);
        }
        if fuel.env_fuel != fuel.remaining {
            fuel.env.to_mut().set_fuel(Some(fuel.remaining));
            fuel.env_fuel = fuel.remaining;
        }
        let tmpl = fuel
            .env
            .get_template(key)
            .map_err(|e| RenderError::Template(located(label, &e)))?;
        let mut out = CappedWriter {
            buf: Vec::new(),
            cap,
            overflowed: false,
        };
        let result = tmpl.render_captured_to(ctx, &mut out);
        if out.overflowed {
            return Err(if label == BODY {
                RenderError::OutputTooLarge
            } else {
                RenderError::Template(format!("{label} renders to more than {cap} bytes"))
            });
        }
        match result {
            Ok(captured) => {
                // Always `Some`: the environment's fuel is set.
                if let Some((_, remaining)) = captured.state().fuel_levels() {
                    fuel.remaining = remaining;
                }
            }
            Err(e) if e.kind() == minijinja::ErrorKind::OutOfFuel => {
                return Err(RenderError::FuelExhausted);
            }
            Err(e) => return Err(RenderError::Template(located(label, &e))),
        }
        String::from_utf8(out.buf)
            .map_err(|_| RenderError::Template(format!("{label} rendered invalid UTF-8")))
    }
}

/// The fuel budget of one render, shared by its parts.
///
/// `env` is the compiled template's environment, borrowed while its fuel (the
/// full budget) is what the render has left, and copied on the first part
/// that must start with less; `env_fuel` is the fuel that copy is set to.
struct Fuel<'a> {
    env: Cow<'a, Environment<'static>>,
    env_fuel: u64,
    remaining: u64,
}

/// A render failure before it is attributed to a variable's default.
impl RenderError {
    fn in_variable(self, name: &str) -> Self {
        match self {
            Self::Template(message) => {
                Self::Template(format!("default of variable {name}: {message}"))
            }
            other => other,
        }
    }
}

fn located(what: &str, e: &minijinja::Error) -> String {
    match e.line() {
        Some(line) => format!("{what} line {line}: {}", jinja_message(e)),
        None => format!("{what}: {}", jinja_message(e)),
    }
}

/// An `io::Write` that refuses to grow past `cap` bytes.
struct CappedWriter {
    buf: Vec<u8>,
    cap: usize,
    overflowed: bool,
}

impl io::Write for CappedWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len().saturating_add(data.len()) > self.cap {
            self.overflowed = true;
            return Err(io::Error::other("output size limit reached"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn value_size(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::String(s) => s.len(),
        other => serde_json::to_string(other).map_or(usize::MAX, |s| s.len()),
    }
}

/// Makes a rendered file name safe to use as one path component on any
/// common platform, falling back to `<template name>.md` when nothing is left.
pub(crate) fn sanitize_filename(raw: &str, fallback: &TemplateName) -> String {
    let replaced: String = raw
        .chars()
        .filter(|c| !is_invisible(*c))
        .map(|c| if is_forbidden_in_filename(c) { '-' } else { c })
        .collect();
    let start = replaced.trim_start_matches(|c: char| c.is_whitespace() || c == '-');
    let trimmed = start
        .trim_start_matches(|c: char| c.is_whitespace() || c == '.' || c == '-')
        .trim_end_matches(|c: char| c.is_whitespace() || c == '.');
    // `.md` alone is an extension without a stem: use the fallback, not `md`.
    let stemless = start.strip_prefix('.') == Some(trimmed) && !trimmed.contains('.');
    if trimmed.is_empty() || stemless {
        return fallback.file_name();
    }
    let mut name = trimmed.to_owned();
    let stem = name
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end()
        .to_ascii_lowercase();
    if WINDOWS_RESERVED.contains(&stem.as_str()) {
        name.insert(0, '_');
    }
    if name.len() > MAX_FILENAME_BYTES {
        // Keep a short extension, shorten the stem at a character boundary.
        let ext = match name.rfind('.') {
            Some(dot) if name.len() - dot <= 16 => name[dot..].to_owned(),
            _ => String::new(),
        };
        let mut end = MAX_FILENAME_BYTES - ext.len();
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name = format!("{}{ext}", name[..end].trim_end_matches('.'));
    }
    name
}

/// Path separators, their look-alikes, characters Windows forbids, and
/// control characters.
fn is_forbidden_in_filename(c: char) -> bool {
    matches!(
        c,
        '/' | '\\'
            | '<'
            | '>'
            | ':'
            | '"'
            | '|'
            | '?'
            | '*'
            | '\u{2044}'
            | '\u{2215}'
            | '\u{29F5}'
            | '\u{29F8}'
            | '\u{29F9}'
            | '\u{FF0F}'
            | '\u{FF3C}'
    ) || c.is_control()
}

/// Zero-width and bidirectional-control characters, which hide or reorder
/// what a person reads (`U+202E` can make `exe.md` look like `dm.exe`).
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
    )
}
