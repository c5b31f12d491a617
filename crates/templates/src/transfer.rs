//! Copying every template from one store to another: how a deployment seeds
//! its PostgreSQL store from a `templates/` directory, and exports it back.
//!
//! A template missing at the target is created; an identical one (the same
//! title, description, tags, file name, variables and body) is left alone; one that
//! differs is replaced only when the caller allows it, and otherwise
//! reported, so an import never silently overwrites an edit made in the
//! target. Each template is one store call, with the store's own
//! optimistic concurrency: a template changed at the target during the copy
//! is reported as a conflict, never lost.

use crate::{StoreError, TemplateDraft, TemplateName, TemplateStore};

/// What [`copy_all`] did, template by template.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Created at the target.
    pub created: Vec<TemplateName>,
    /// Replaced at the target (only with `overwrite`).
    pub replaced: Vec<TemplateName>,
    /// Already identical at the target.
    pub unchanged: Vec<TemplateName>,
    /// Different at the target and left alone (without `overwrite`), or
    /// changed at the target while being copied.
    pub conflicts: Vec<TemplateName>,
}

/// Copies every template `from` lists into `to`; see the module docs.
/// Stops at the first error that is not a conflict (the report so far is
/// lost with it: rerunning is safe, as identical templates are skipped).
pub fn copy_all(
    from: &dyn TemplateStore,
    to: &dyn TemplateStore,
    overwrite: bool,
) -> Result<CopyReport, StoreError> {
    let mut report = CopyReport::default();
    for meta in &from.list()? {
        let name = &meta.name;
        let draft = TemplateDraft::from(from.get(name)?);
        let current = match to.get(name) {
            Ok(current) => Some(current),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        // Compared as drafts, not versions: a hand-written file and the
        // store's canonical text of the same template hash differently.
        let expected = match current {
            Some(current) if TemplateDraft::from(current.clone()) == draft => {
                report.unchanged.push(name.clone());
                continue;
            }
            Some(_) if !overwrite => {
                report.conflicts.push(name.clone());
                continue;
            }
            Some(current) => Some(current.meta.version),
            None => None,
        };
        match to.save(name, draft, expected.as_ref()) {
            Ok(_) if expected.is_some() => report.replaced.push(name.clone()),
            Ok(_) => report.created.push(name.clone()),
            Err(StoreError::Conflict { .. }) => report.conflicts.push(name.clone()),
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}
