//! Errors in a `system.toml`, each pinned to a file, line and key so the user can go
//! straight to the mistake.

use std::fmt;
use std::ops::Range;

/// One mistake in a system description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file as the user named it.
    pub file: String,
    /// 1-based; 0 when the error is about the whole file (it could not be read).
    pub line: usize,
    /// 1-based, in characters; 0 with `line`.
    pub column: usize,
    /// The dotted key the error is about ("components.server.priority"); may be empty.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it; may span several lines.
    pub help: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)?;
        for (i, line) in self.help.lines().enumerate() {
            let lead = if i == 0 { "\n  help: " } else { "\n        " };
            write!(f, "{lead}{line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Every mistake found in one file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        ConfigErrors(vec![error])
    }
}

/// The text being checked, to turn byte spans into lines and columns.
pub(super) struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    /// The 1-based line and character column of byte `offset` (clamped into the text).
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
    }

    /// The 1-based line of byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        self.position(offset).0
    }

    /// An error at the start of `span`.
    pub fn error(
        &self,
        span: &Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = self.position(span.start);
        ConfigError {
            file: self.file.to_string(),
            line,
            column,
            key: key.into(),
            message: message.into(),
            help: help.into(),
        }
    }
}
