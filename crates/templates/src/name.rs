//! Validated identifiers: [`TemplateName`] (the file stem of a template) and
//! [`Version`] (the content hash used for optimistic concurrency).
//!
//! A `TemplateName` is the only way a path inside the template directory is
//! formed, so every rule that keeps a name from escaping the directory or
//! colliding on another platform lives here.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::StoreError;

/// Longest accepted template name, in bytes (all names are ASCII).
pub const MAX_NAME_LEN: usize = 64;

/// Device names that Windows reserves in every directory, with or without an
/// extension (`con.md` and `con.notes.md` both open the console there).
pub(crate) const WINDOWS_RESERVED: &[&str] = &[
    "con", "prn", "aux", "nul", "com0", "com1", "com2", "com3", "com4", "com5", "com6", "com7",
    "com8", "com9", "lpt0", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// The name of a template: a slug matching `[a-z0-9][a-z0-9._-]{0,63}` that
/// contains no `..`, does not end in `.` or `.md`, and is not a Windows
/// device name. It is the file stem of `<dir>/<name>.md`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TemplateName(String);

impl TemplateName {
    /// Parses and validates a template name, saying precisely what is wrong.
    pub fn parse(raw: &str) -> Result<Self, StoreError> {
        match check_name(raw) {
            Ok(()) => Ok(Self(raw.to_owned())),
            Err(reason) => Err(StoreError::InvalidName {
                name: raw.escape_debug().to_string(),
                reason,
            }),
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The file name this template is stored under: `<name>.md`.
    pub(crate) fn file_name(&self) -> String {
        format!("{}.md", self.0)
    }
}

/// Returns `Err(reason)` when `raw` is not an acceptable template name.
fn check_name(raw: &str) -> Result<(), String> {
    if raw.is_empty() {
        return Err("name is empty".to_owned());
    }
    if raw.starts_with('/') || raw.starts_with('\\') || raw.get(1..2) == Some(":") {
        return Err("name is an absolute path; give the bare template name".to_owned());
    }
    if raw == "." {
        return Err("name `.` is the directory itself".to_owned());
    }
    if raw.contains("..") {
        return Err("name contains `..` (parent-directory traversal)".to_owned());
    }
    for (at, c) in raw.char_indices() {
        let problem = match c {
            'a'..='z' | '0'..='9' => continue,
            '.' | '_' | '-' if at > 0 => continue,
            '.' | '_' | '-' => format!("name must start with a-z or 0-9, not {c:?}"),
            '/' | '\\' => {
                format!("path separator {c:?} at byte {at}; names are a single file stem")
            }
            '\0' => format!("NUL byte at byte {at}"),
            'A'..='Z' => format!(
                "uppercase {c:?} at byte {at}; names are lowercase (try {:?})",
                raw.to_ascii_lowercase()
            ),
            c if c.is_control() => format!("control character U+{:04X} at byte {at}", c as u32),
            c if c.is_ascii() => format!(
                "character {c:?} at byte {at} is not allowed; use a-z, 0-9, '.', '_' or '-'"
            ),
            c => match ascii_look_alike(c) {
                Some(ascii) => format!(
                    "non-ASCII {c:?} (U+{:04X}) at byte {at} looks like {ascii:?} but is a different character",
                    c as u32
                ),
                None => format!(
                    "non-ASCII character {c:?} (U+{:04X}) at byte {at}; use a-z, 0-9, '.', '_' or '-'",
                    c as u32
                ),
            },
        };
        return Err(problem);
    }
    if raw.len() > MAX_NAME_LEN {
        return Err(format!(
            "name is {} bytes long; the limit is {MAX_NAME_LEN}",
            raw.len()
        ));
    }
    if raw.ends_with('.') {
        return Err("name ends with '.', which Windows strips silently".to_owned());
    }
    if raw.ends_with(".md") {
        return Err(format!(
            "name ends with \".md\"; give the name without the extension ({:?})",
            raw.trim_end_matches(".md")
        ));
    }
    let device = raw.split('.').next().unwrap_or(raw);
    if WINDOWS_RESERVED.contains(&device) {
        return Err(format!("{device:?} is a reserved device name on Windows"));
    }
    Ok(())
}

/// Maps common look-alikes of ASCII letters, digits and punctuation to the
/// character they imitate, so the rejection can say what the client probably
/// meant. Covers fullwidth forms and the Cyrillic and Greek homoglyphs of
/// lowercase Latin letters.
fn ascii_look_alike(c: char) -> Option<char> {
    let code = c as u32;
    // Fullwidth ASCII variants: U+FF01..=U+FF5E mirror U+0021..=U+007E.
    if (0xFF01..=0xFF5E).contains(&code) {
        return char::from_u32(code - 0xFF01 + 0x21);
    }
    let ascii = match c {
        'а' => 'a',
        'с' => 'c',
        'е' => 'e',
        'һ' => 'h',
        'і' => 'i',
        'ј' => 'j',
        'о' | 'ο' => 'o',
        'р' | 'ρ' => 'p',
        'ѕ' => 's',
        'х' => 'x',
        'у' => 'y',
        'ν' => 'v',
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2212}' => '-',
        '\u{2024}' => '.',
        '\u{2215}' | '\u{2044}' => '/',
        _ => return None,
    };
    Some(ascii)
}

impl fmt::Display for TemplateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TemplateName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for TemplateName {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for TemplateName {
    type Error = StoreError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        match check_name(&s) {
            Ok(()) => Ok(Self(s)),
            Err(reason) => Err(StoreError::InvalidName {
                name: s.escape_debug().to_string(),
                reason,
            }),
        }
    }
}

impl From<TemplateName> for String {
    fn from(name: TemplateName) -> Self {
        name.0
    }
}

/// The prefix of every version string.
const VERSION_PREFIX: &str = "sha256:";
/// Hex digits kept from the SHA-256 digest (128 bits: collisions between two
/// versions of one template are not a practical concern).
const VERSION_HEX_LEN: usize = 32;

/// The version of a stored template: `sha256:` followed by the first 32
/// lowercase hex digits of the SHA-256 of the whole file. Equal bytes give
/// equal versions, so a version also detects edits made outside the server.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version(String);

impl Version {
    /// Parses a version string as returned by an earlier read.
    pub fn parse(raw: &str) -> Result<Self, StoreError> {
        let invalid = |reason: String| StoreError::InvalidVersion {
            version: raw.escape_debug().to_string(),
            reason,
        };
        let Some(hex) = raw.strip_prefix(VERSION_PREFIX) else {
            return Err(invalid(format!("must start with {VERSION_PREFIX:?}")));
        };
        if hex.len() != VERSION_HEX_LEN {
            return Err(invalid(format!(
                "expected {VERSION_HEX_LEN} hex digits after {VERSION_PREFIX:?}, found {} bytes",
                hex.len()
            )));
        }
        if let Some(bad) = hex.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
            return Err(invalid(format!("{bad:?} is not a lowercase hex digit")));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The version of a file with these exact bytes.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self::from_digest(&Sha256::digest(bytes))
    }

    /// The version for a finished SHA-256 digest of a file.
    pub(crate) fn from_digest(digest: &[u8]) -> Self {
        let mut out = String::with_capacity(VERSION_PREFIX.len() + VERSION_HEX_LEN);
        out.push_str(VERSION_PREFIX);
        for byte in &digest[..VERSION_HEX_LEN / 2] {
            out.push(hex_digit(byte >> 4));
            out.push(hex_digit(byte & 0x0f));
        }
        Self(out)
    }

    /// The version as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0x0f)])
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Version {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Version {
    type Error = StoreError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Version> for String {
    fn from(version: Version) -> Self {
        version.0
    }
}
