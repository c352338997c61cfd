//! Decoding the defmt frames images print (see `kaal_core::log`).
//!
//! An image writes each frame as one console line, `~defmt~ <package> <component>
//! <base64>`. The decoding itself is `tools/kaal-log`, a small program of its own
//! (built once, on first use, into `target/kaal/kaal-log`): its dependency
//! `defmt-decoder` must stay out of this workspace, where cargo's feature unification
//! would hand its `std` features to the no_std images. [`LogDecoder`] runs it for one
//! boot and passes it only the lines that hold frames.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use crate::error::{Result, ToolError};

/// The marker that starts an encoded line (`kaal_core::log::MARKER`).
pub const MARKER: &str = "~defmt~";

/// A running `kaal-log` for one system's images.
#[derive(Debug)]
pub struct LogDecoder {
    process: Mutex<Option<(Child, ChildStdin, BufReader<ChildStdout>)>>,
}

impl LogDecoder {
    /// Starts `kaal-log` (built from the checkout `kaal` if needed) for `images`, given
    /// as (package, ELF file).
    pub fn start(kaal: &Path, images: &[(String, PathBuf)]) -> Result<Self> {
        let binary = build(kaal)?;
        let args = images.iter().map(|(package, path)| format!("{package}={}", path.display()));
        let mut child = Command::new(&binary)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                ToolError::new("starting the defmt decoder", e.to_string(), "rebuild it: delete target/kaal/kaal-log")
            })?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        Ok(Self { process: Mutex::new(Some((child, stdin, stdout))) })
    }

    /// The text for a console line, if it is an encoded frame.
    pub fn decode_line(&self, line: &str) -> Option<String> {
        if !line.contains(MARKER) {
            return None;
        }
        let mut guard = self.process.lock().ok()?;
        let (_, stdin, stdout) = guard.as_mut()?;
        let mut decoded = String::new();
        let answered =
            writeln!(stdin, "{line}").and_then(|_| stdin.flush()).and_then(|_| stdout.read_line(&mut decoded));
        match answered {
            Ok(n) if n > 0 => Some(decoded.trim_end_matches('\n').to_string()),
            // The decoder is gone: show the line as it came.
            _ => {
                *guard = None;
                None
            }
        }
    }
}

impl Drop for LogDecoder {
    fn drop(&mut self) {
        if let Ok(mut guard) = self.process.lock() {
            if let Some((mut child, stdin, _)) = guard.take() {
                drop(stdin);
                let _ = child.wait();
            }
        }
    }
}

/// Builds `kaal-log` in the checkout's `target/kaal/kaal-log` (cargo makes it a no-op
/// once built) and returns the binary.
fn build(kaal: &Path) -> Result<PathBuf> {
    let step = "building the defmt decoder (tools/kaal-log)";
    let target = kaal.join("target/kaal/kaal-log");
    let manifest = kaal.join("tools/kaal-log/Cargo.toml");
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ToolError::new(step, format!("cannot run cargo: {e}"), "is cargo on PATH?"))?;
    if !out.status.success() {
        return Err(ToolError::new(
            step,
            format!("cargo build failed:\n{}", String::from_utf8_lossy(&out.stderr).trim_end()),
            format!("build it by hand to see why: cargo build --release --manifest-path {}", manifest.display()),
        ));
    }
    Ok(target.join("release/kaal-log"))
}

/// The `DEFMT_LOG` filter for building crates at `levels` (package, level), with `info`
/// for everything else. A crate at `info` is left out: the filter is then the same for
/// every build that changes no level, and a changed `DEFMT_LOG` makes cargo rebuild
/// defmt and everything above it (kaal-core, every component) in that target directory.
pub fn defmt_filter<'a>(levels: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut filter = String::from(DEFAULT_FILTER);
    for (package, level) in levels {
        if level != DEFAULT_FILTER {
            filter.push_str(&format!(",{}={level}", package.replace('-', "_")));
        }
    }
    filter
}

/// KaaL's `DEFMT_LOG` when system.toml sets no level (defmt's own default is `error`).
pub const DEFAULT_FILTER: &str = "info";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_names_crates_as_rust_does() {
        assert_eq!(
            defmt_filter([("pipeline-server", "debug"), ("logger", "warn")]),
            "info,pipeline_server=debug,logger=warn"
        );
        assert_eq!(defmt_filter([]), "info");
        // The default level adds nothing, so such builds share one filter.
        assert_eq!(defmt_filter([("kaal-blk", "info"), ("kaal-vfs", "info")]), "info");
        assert_eq!(defmt_filter([("kaal-blk", "info"), ("logger", "trace")]), "info,logger=trace");
    }
}
