//! The template file format: `+++`-fenced TOML front matter followed by a
//! minijinja body, its parser, its writer and the validation shared by both.
//!
//! ```text
//! +++
//! title = "Meeting minutes"
//! tags = ["meeting", "en"]
//! filename = "minutes-{{ date }}.md"
//! [[variables]]
//! name = "date"
//! required = true
//! +++
//! # Minutes — {{ date }}
//! ```
//!
//! Every rejection names the field (and the line, where the TOML parser or
//! minijinja knows it), because the reason is shown to whoever fixes the file.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::jinja::{HELPERS, environment, jinja_message};
use crate::{
    StoreError, Template, TemplateDraft, TemplateMeta, TemplateName, VariableSpec, Version,
};

/// Longest title, in characters.
pub(crate) const MAX_TITLE_CHARS: usize = 200;
/// Longest description, in characters.
pub(crate) const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Most tags per template.
pub(crate) const MAX_TAGS: usize = 16;
/// Longest tag, in bytes (tags are ASCII).
pub(crate) const MAX_TAG_LEN: usize = 32;
/// Longest file-name template, in bytes.
pub(crate) const MAX_FILENAME_TEMPLATE_BYTES: usize = 255;
/// Most variables per template.
pub(crate) const MAX_VARIABLES: usize = 64;
/// Longest variable name, in bytes.
pub(crate) const MAX_VARIABLE_NAME_LEN: usize = 64;
/// Longest variable description, in characters.
pub(crate) const MAX_VARIABLE_DESCRIPTION_CHARS: usize = 500;
/// Longest variable default, in bytes.
pub(crate) const MAX_DEFAULT_BYTES: usize = 4096;

/// The line that opens and closes the front matter.
const FENCE: &str = "+++";

/// Names a variable may not take: the helper values, minijinja's globals and
/// loop/macro names (a variable would be shadowed or shadow them), and
/// keywords (which cannot be referenced as variables at all).
const RESERVED_VARIABLE_NAMES: &[&str] = &[
    "today",
    "now",
    "range",
    "dict",
    "debug",
    "namespace",
    "loop",
    "self",
    "super",
    "caller",
    "varargs",
    "kwargs",
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
    "and",
    "or",
    "not",
    "in",
    "is",
    "if",
    "else",
    "elif",
    "for",
    "set",
    "block",
    "macro",
    "call",
    "filter",
    "with",
    "include",
    "import",
    "from",
    "extends",
    "recursive",
    "as",
    "raw",
    "do",
    "continue",
    "break",
];

/// The front matter as it appears in the file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    filename: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    variables: Vec<VariableSpec>,
}

/// A file that parsed and validated, with the variables its body or file
/// name uses without declaring them (a warning on load, an error on save).
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) template: Template,
    pub(crate) undeclared: Vec<String>,
}

/// Parses a template file. `Err` is the reason, ready to show.
pub(crate) fn parse_file(name: &TemplateName, bytes: &[u8]) -> Result<Parsed, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "file is not valid UTF-8 (first invalid byte at offset {})",
            e.valid_up_to()
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);

    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or("");
    if trim_eol(first) != FENCE {
        return Err(format!(
            "line 1: a template file starts with a `{FENCE}` line opening the TOML front matter"
        ));
    }
    let fm_start = first.len();
    let mut offset = fm_start;
    let mut line_no = 1;
    let mut close = None;
    for line in lines {
        line_no += 1;
        if trim_eol(line) == FENCE {
            close = Some((offset, offset + line.len(), line_no));
            break;
        }
        offset += line.len();
    }
    let Some((fm_end, body_start, close_line)) = close else {
        return Err(format!(
            "the front matter opened on line 1 is never closed by a `{FENCE}` line"
        ));
    };
    let front = &text[fm_start..fm_end];
    let body = &text[body_start..];

    let fm: FrontMatter = toml::from_str(front).map_err(|e| {
        let line = e
            .span()
            .map(|span| 2 + front[..span.start.min(front.len())].matches('\n').count());
        let message = e.message().trim_end();
        match line {
            Some(line) => format!("front matter line {line}: {message}"),
            None => format!("front matter: {message}"),
        }
    })?;

    let undeclared = validate(
        &fm.title,
        &fm.description,
        &fm.tags,
        fm.filename.as_deref(),
        &fm.variables,
        body,
        close_line,
    )?;

    let template = Template {
        meta: TemplateMeta {
            name: name.clone(),
            title: fm.title,
            description: fm.description,
            tags: fm.tags,
            filename: fm.filename,
            variables: fm.variables,
            version: Version::of_bytes(bytes),
        },
        body: body.to_owned(),
    };
    Ok(Parsed {
        template,
        undeclared,
    })
}

/// Validates a draft as [`crate::TemplateStore::save`] will: every field rule
/// plus "every variable the body and file name use is declared".
pub fn check_draft(draft: &TemplateDraft) -> Result<(), StoreError> {
    let undeclared = validate(
        &draft.title,
        &draft.description,
        &draft.tags,
        draft.filename.as_deref(),
        &draft.variables,
        &draft.body,
        0,
    )
    .map_err(|reason| StoreError::Invalid { reason })?;
    if !undeclared.is_empty() {
        return Err(StoreError::Invalid {
            reason: undeclared_reason(&undeclared),
        });
    }
    Ok(())
}

/// The reason given when a template uses variables it does not declare.
pub(crate) fn undeclared_reason(undeclared: &[String]) -> String {
    format!(
        "the template uses undeclared variables: {}; declare each under [[variables]]",
        undeclared.join(", ")
    )
}

/// The variables a template's body and file name use without declaring
/// them, sorted. Helper values and minijinja's globals count as declared.
/// Empty for every template the store accepts on save.
pub fn undeclared_variables(t: &Template) -> Vec<String> {
    let env = environment();
    let declared: BTreeSet<&str> = t.meta.variables.iter().map(|v| v.name.as_str()).collect();
    let mut used = BTreeSet::new();
    for (what, source) in [
        ("body", Some(t.body.as_str())),
        ("filename", t.meta.filename.as_deref()),
    ] {
        let Some(source) = source else { continue };
        if let Ok(tmpl) = env.template_from_named_str(what, source) {
            used.extend(tmpl.undeclared_variables(false));
        }
    }
    unknown_names(&env, used, &declared)
}

fn unknown_names(
    env: &minijinja::Environment<'_>,
    used: BTreeSet<String>,
    declared: &BTreeSet<&str>,
) -> Vec<String> {
    let globals: BTreeSet<&str> = env.globals().map(|(name, _)| name).collect();
    used.into_iter()
        .filter(|n| {
            !declared.contains(n.as_str())
                && !HELPERS.contains(&n.as_str())
                && !globals.contains(n.as_str())
        })
        .collect()
}

/// What every backend does before it writes a draft: validate it, write it
/// in the file format, enforce the size limit, and parse the text back,
/// which must give the same draft. Returns the text to store and the
/// template it is (with its version).
pub(crate) fn prepare_save(
    name: &TemplateName,
    draft: &TemplateDraft,
    max_template_bytes: usize,
) -> Result<(String, Template), StoreError> {
    check_draft(draft)?;
    let text = to_file(draft)?;
    if text.len() > max_template_bytes {
        return Err(StoreError::TooLarge);
    }
    let parsed =
        parse_file(name, text.as_bytes()).map_err(|reason| StoreError::Invalid { reason })?;
    if TemplateDraft::from(parsed.template.clone()) != *draft {
        return Err(StoreError::Invalid {
            reason: "the draft does not survive a round trip through the file format".to_owned(),
        });
    }
    Ok((text, parsed.template))
}

/// Writes a draft in the file format. The draft must have passed
/// [`check_draft`].
pub(crate) fn to_file(draft: &TemplateDraft) -> Result<String, StoreError> {
    let fm = FrontMatter {
        title: draft.title.clone(),
        description: draft.description.clone(),
        tags: draft.tags.clone(),
        filename: draft.filename.clone(),
        variables: draft.variables.clone(),
    };
    let toml = toml::to_string(&fm).map_err(|e| StoreError::Invalid {
        reason: format!("front matter cannot be written as TOML: {e}"),
    })?;
    let mut out = String::with_capacity(toml.len() + draft.body.len() + 2 * FENCE.len() + 3);
    out.push_str(FENCE);
    out.push('\n');
    out.push_str(&toml);
    if !toml.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(FENCE);
    out.push('\n');
    out.push_str(&draft.body);
    Ok(out)
}

fn trim_eol(line: &str) -> &str {
    line.strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(line)
}

/// Checks every field rule; returns the undeclared variables (sorted) on
/// success. `body_line` is the file line just before the body (0 for a
/// draft), so errors in the body can also name the file line.
fn validate(
    title: &str,
    description: &str,
    tags: &[String],
    filename: Option<&str>,
    variables: &[VariableSpec],
    body: &str,
    body_line: usize,
) -> Result<Vec<String>, String> {
    if title.trim().is_empty() {
        return Err("title is empty".to_owned());
    }
    let title_chars = title.chars().count();
    if title_chars > MAX_TITLE_CHARS {
        return Err(format!(
            "title is {title_chars} characters long; the limit is {MAX_TITLE_CHARS}"
        ));
    }
    if title.chars().any(char::is_control) {
        return Err("title contains a control character (titles are one line)".to_owned());
    }

    let description_chars = description.chars().count();
    if description_chars > MAX_DESCRIPTION_CHARS {
        return Err(format!(
            "description is {description_chars} characters long; the limit is {MAX_DESCRIPTION_CHARS}"
        ));
    }
    check_text("description", description)?;

    if tags.len() > MAX_TAGS {
        return Err(format!(
            "{} tags given; the limit is {MAX_TAGS}",
            tags.len()
        ));
    }
    let mut seen_tags = BTreeSet::new();
    for (i, tag) in tags.iter().enumerate() {
        check_tag(tag)
            .map_err(|why| format!("tags[{i}] {:?}: {why}", tag.escape_debug().to_string()))?;
        if !seen_tags.insert(tag.as_str()) {
            return Err(format!("tags[{i}] {tag:?} is listed twice"));
        }
    }

    if variables.len() > MAX_VARIABLES {
        return Err(format!(
            "{} variables declared; the limit is {MAX_VARIABLES}",
            variables.len()
        ));
    }
    let env = environment();
    let mut declared = BTreeSet::new();
    for (i, var) in variables.iter().enumerate() {
        let at = || format!("variables[{i}] ({:?})", var.name.escape_debug().to_string());
        check_identifier(&var.name).map_err(|why| format!("{}: name {why}", at()))?;
        if !declared.insert(var.name.as_str()) {
            return Err(format!("{}: declared twice", at()));
        }
        let chars = var.description.chars().count();
        if chars > MAX_VARIABLE_DESCRIPTION_CHARS {
            return Err(format!(
                "{}: description is {chars} characters long; the limit is {MAX_VARIABLE_DESCRIPTION_CHARS}",
                at()
            ));
        }
        check_text("description", &var.description).map_err(|why| format!("{}: {why}", at()))?;
        if let Some(default) = &var.default {
            if var.required {
                return Err(format!(
                    "{}: is required and has a default; a default makes a variable optional, so drop one of them",
                    at()
                ));
            }
            if default.len() > MAX_DEFAULT_BYTES {
                return Err(format!(
                    "{}: default is {} bytes long; the limit is {MAX_DEFAULT_BYTES}",
                    at(),
                    default.len()
                ));
            }
            check_text("default", default).map_err(|why| format!("{}: {why}", at()))?;
            let tmpl = env
                .template_from_named_str("default", default)
                .map_err(|e| {
                    format!("{}: default does not compile: {}", at(), jinja_message(&e))
                })?;
            let bad = unknown_names(
                &env,
                tmpl.undeclared_variables(false).into_iter().collect(),
                &BTreeSet::new(),
            );
            if !bad.is_empty() {
                return Err(format!(
                    "{}: a default may only use the helper values ({}), not {}",
                    at(),
                    HELPERS.join(", "),
                    bad.join(", ")
                ));
            }
        }
    }

    let mut used = BTreeSet::new();
    if let Some(filename) = filename {
        if filename.trim().is_empty() {
            return Err("filename is empty; omit it instead".to_owned());
        }
        if filename.len() > MAX_FILENAME_TEMPLATE_BYTES {
            return Err(format!(
                "filename is {} bytes long; the limit is {MAX_FILENAME_TEMPLATE_BYTES}",
                filename.len()
            ));
        }
        if filename.chars().any(char::is_control) {
            return Err("filename contains a control character (it is one line)".to_owned());
        }
        let tmpl = env
            .template_from_named_str("filename", filename)
            .map_err(|e| format!("filename does not compile: {}", jinja_message(&e)))?;
        used.extend(tmpl.undeclared_variables(false));
    }

    if body.trim().is_empty() {
        return Err("body is empty".to_owned());
    }
    let tmpl = env.template_from_named_str("body", body).map_err(|e| {
        let message = jinja_message(&e);
        match (e.line(), body_line) {
            (Some(line), 0) => format!("body line {line}: {message}"),
            (Some(line), offset) => {
                format!("body line {line} (file line {}): {message}", line + offset)
            }
            (None, _) => format!("body: {message}"),
        }
    })?;
    used.extend(tmpl.undeclared_variables(false));

    Ok(unknown_names(&env, used, &declared))
}

/// Free text: no control characters other than newline and tab, and no line
/// that is exactly the front-matter fence (it would end the front matter).
fn check_text(field: &str, text: &str) -> Result<(), String> {
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(format!(
            "{field} contains a control character other than newline or tab"
        ));
    }
    if text.lines().any(|l| l.trim() == FENCE) {
        return Err(format!(
            "{field} contains a line `{FENCE}`, which would end the front matter"
        ));
    }
    Ok(())
}

/// A tag is `[a-z0-9]+(-[a-z0-9]+)*`, at most [`MAX_TAG_LEN`] bytes.
fn check_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() {
        return Err("is empty".to_owned());
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(format!("is longer than {MAX_TAG_LEN} bytes"));
    }
    if let Some(c) = tag
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
    {
        return Err(format!(
            "contains {c:?}; tags use a-z, 0-9 and single hyphens"
        ));
    }
    if tag.starts_with('-') || tag.ends_with('-') || tag.contains("--") {
        return Err("has a leading, trailing or double hyphen".to_owned());
    }
    Ok(())
}

/// A variable name is an identifier minijinja can reference directly.
fn check_identifier(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("is empty".to_owned()),
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        Some(c) => {
            return Err(format!(
                "starts with {c:?}; it must start with a letter or '_'"
            ));
        }
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Err(format!(
            "contains {c:?}; names use ASCII letters, digits and '_'"
        ));
    }
    if name.len() > MAX_VARIABLE_NAME_LEN {
        return Err(format!("is longer than {MAX_VARIABLE_NAME_LEN} bytes"));
    }
    if RESERVED_VARIABLE_NAMES.contains(&name) {
        return Err(
            "is reserved (a helper value, global or keyword of the template language)".to_owned(),
        );
    }
    Ok(())
}
