//! Arbitrary template bodies, file-name templates, defaults and variable
//! values through `store::render_at` with the default `RenderLimits`.
//!
//! The input is text, so that seeds can be written by hand and shipped
//! templates can seed it: up to four sections separated by NUL bytes,
//!
//! ```text
//! body \0 variables as a JSON object \0 file-name template \0 defaults
//! ```
//!
//! where `defaults` has one `name=template` per line. Every key of the
//! variables object is declared (required unless it has a default), every
//! default declares an optional variable.
//!
//! Oracles besides "no panic" (and libFuzzer's timeout, since fuel must
//! bound the work): the text fits `max_output_bytes`; a file name is one
//! safe path component (not empty, at most 255 bytes, no separator or
//! control character, no leading dot or dash); a missing-variables error
//! names only required variables that were not given.

#![no_main]

use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset};
use libfuzzer_sys::fuzz_target;
use templates::{
    RenderError, RenderLimits, Template, TemplateMeta, TemplateName, VariableSpec, Version,
    render_at,
};
use serde_json::{Map, Value};

static NAME: LazyLock<TemplateName> =
    LazyLock::new(|| TemplateName::parse("fuzz").expect("name"));
static NOW: LazyLock<DateTime<FixedOffset>> = LazyLock::new(|| {
    DateTime::parse_from_rfc3339("2026-11-27T09:30:00+09:00").expect("time")
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut sections = text.splitn(4, '\0');
    let body = sections.next().unwrap_or_default();
    let vars: Map<String, Value> = sections
        .next()
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default();
    let filename = sections.next().map(str::to_owned);
    let defaults: Vec<(&str, &str)> = sections
        .next()
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_once('='))
        .collect();

    let mut variables: Vec<VariableSpec> = Vec::new();
    for (name, default) in &defaults {
        if variables.iter().all(|v| v.name != *name) {
            variables.push(VariableSpec {
                name: (*name).to_owned(),
                description: String::new(),
                required: false,
                default: Some((*default).to_owned()),
            });
        }
    }
    for name in vars.keys() {
        if variables.iter().all(|v| v.name != *name) {
            variables.push(VariableSpec {
                name: name.clone(),
                description: String::new(),
                required: true,
                default: None,
            });
        }
    }
    let template = Template {
        meta: TemplateMeta {
            name: NAME.clone(),
            title: "fuzz".to_owned(),
            description: String::new(),
            tags: Vec::new(),
            filename,
            variables,
            version: Version::of_bytes(data),
        },
        body: body.to_owned(),
    };
    let limits = RenderLimits::default();
    match render_at(&template, &vars, &limits, *NOW) {
        Ok(rendered) => {
            assert!(rendered.text.len() <= limits.max_output_bytes, "output over the cap");
            if let Some(name) = rendered.filename {
                assert!(!name.is_empty(), "empty file name");
                assert!(name.len() <= 255, "file name over 255 bytes");
                assert!(
                    !name.contains(['/', '\\']) && !name.chars().any(char::is_control),
                    "file name {name:?} is not one safe path component"
                );
                assert!(
                    !name.starts_with(['.', '-']),
                    "file name {name:?} starts with a dot or a dash"
                );
            }
        }
        Err(RenderError::MissingVariables(missing)) => {
            for name in &missing {
                let spec = template.meta.variables.iter().find(|v| &v.name == name);
                assert!(
                    spec.is_some_and(|v| v.required)
                        && vars.get(name).is_none_or(Value::is_null),
                    "{name} reported missing but it was not required or was given"
                );
            }
        }
        Err(_) => {}
    }
});
