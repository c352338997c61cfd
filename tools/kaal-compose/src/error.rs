//! Tool errors: every failure names the step, the cause, and what to try next.

use std::fmt;
use std::path::Path;

/// A failed step of the `kaal` tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError {
    /// What the tool was doing ("building the seL4 kernel").
    pub step: String,
    /// What went wrong.
    pub cause: String,
    /// The next thing to try; usually a command.
    pub help: String,
}

impl ToolError {
    /// A new error.
    pub fn new(step: impl Into<String>, cause: impl Into<String>, help: impl Into<String>) -> Self {
        Self { step: step.into(), cause: cause.into(), help: help.into() }
    }

    /// An I/O error on `path` during `step`.
    pub fn io(step: impl Into<String>, path: &Path, err: std::io::Error) -> Self {
        Self::new(
            step,
            format!("{}: {err}", path.display()),
            "check that the path exists and is writable (disk full? permissions?)",
        )
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.step, self.cause)?;
        for (i, line) in self.help.lines().enumerate() {
            if i == 0 {
                write!(f, "\n  help: {line}")?;
            } else {
                write!(f, "\n        {line}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ToolError {}

/// `Result` with [`ToolError`].
pub type Result<T, E = ToolError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_step_cause_and_help() {
        let e = ToolError::new("building the image", "cargo exited with 101", "run `cargo build -p hello`\nthen retry");
        assert_eq!(
            e.to_string(),
            "building the image failed: cargo exited with 101\n  help: run `cargo build -p hello`\n        then retry"
        );
    }
}
