//! `kaal-log`: decodes the defmt frames KaaL images print (see `kaal_core::log`).
//!
//! The `kaal` tool starts it for a boot with the system's images,
//!
//! ```text
//! kaal-log PACKAGE=ELF ...
//! ```
//!
//! and writes it every console line that holds a frame (`~defmt~ <package> <component>
//! <base64>`); for each line read it writes exactly one line back: the decoded text,
//!
//! ```text
//! [    0.012345] INFO  [server] serving 3 clients
//! ```
//!
//! or a line that says why the frame could not be decoded. It never stops early on bad
//! input. It is a workspace of its own so that its host-only dependencies never reach
//! the no_std images through cargo's feature unification.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use base64::Engine as _;
use defmt_decoder::Table;

/// The marker that starts an encoded line (`kaal_core::log::MARKER`).
pub const MARKER: &str = "~defmt~";

/// The defmt tables of a system's images, by package.
#[derive(Default)]
pub struct LogDecoder {
    tables: Vec<(String, Table)>,
    /// Images whose table could not be read, and why.
    pub unreadable: Vec<(String, String)>,
}

impl std::fmt::Debug for LogDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let packages: Vec<&str> = self.tables.iter().map(|(p, _)| p.as_str()).collect();
        write!(f, "LogDecoder({packages:?})")
    }
}

impl LogDecoder {
    /// Reads the tables of `images`, given as (package, ELF file).
    pub fn load(images: &[(String, PathBuf)]) -> Self {
        let mut decoder = LogDecoder::default();
        for (package, path) in images {
            if decoder.tables.iter().any(|(p, _)| p == package) {
                continue;
            }
            match std::fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|elf| Table::parse(&elf).map_err(|e| e.to_string()))
            {
                Ok(Some(table)) => decoder.tables.push((package.clone(), table)),
                // No `.defmt` section: the image logs nothing with defmt.
                Ok(None) => {}
                Err(why) => decoder.unreadable.push((package.clone(), format!("{}: {why}", path.display()))),
            }
        }
        decoder
    }

    /// The text for a console line, if it is an encoded frame.
    pub fn decode_line(&self, line: &str) -> Option<String> {
        let at = line.find(MARKER)?;
        let before = &line[..at];
        let mut fields = line[at + MARKER.len()..].split_whitespace();
        let (Some(package), Some(name), Some(data)) = (fields.next(), fields.next(), fields.next()) else {
            return Some(format!("{before}[kaal] a defmt line without package, component and frame: {line:?}"));
        };
        Some(format!("{before}{}", self.decode(package, name, data)))
    }

    fn decode(&self, package: &str, name: &str, data: &str) -> String {
        let Some((_, table)) = self.tables.iter().find(|(p, _)| p == package) else {
            return format!(
                "[kaal] [{name}] a defmt frame from `{package}`, whose image has no defmt table here; \
                 rebuild with `cargo kaal build`"
            );
        };
        let bytes = match base64::engine::general_purpose::STANDARD_NO_PAD.decode(data) {
            Ok(bytes) => bytes,
            Err(e) => return format!("[kaal] [{name}] a corrupt defmt line ({e})"),
        };
        let mut stream = table.new_stream_decoder();
        // The frame ends with rzCOBS's delimiter; add one in case it was cut.
        stream.received(&bytes);
        stream.received(&[0]);
        match stream.decode() {
            Ok(frame) => {
                let level = frame.level().map(|l| l.as_str().to_uppercase()).unwrap_or_else(|| "PRINT".into());
                let time = frame.display_timestamp().map(|t| t.to_string()).unwrap_or_default();
                format!("[{time:>12}] {level:<5} [{name}] {}", frame.display_message())
            }
            Err(e) => format!("[kaal] [{name}] a defmt frame that does not decode with `{package}`'s table: {e:?}"),
        }
    }
}

fn main() {
    let mut images = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.split_once('=') {
            Some((package, path)) => images.push((package.to_string(), PathBuf::from(path))),
            None => {
                eprintln!("kaal-log: expected PACKAGE=ELF, got {arg:?}");
                std::process::exit(2);
            }
        }
    }
    let decoder = LogDecoder::load(&images);
    for (package, why) in &decoder.unreadable {
        eprintln!("[kaal] cannot read the defmt table of {package} ({why}); its frames stay encoded");
    }
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let text = decoder.decode_line(&line).unwrap_or(line);
        if writeln!(out, "{text}").and_then(|_| out.flush()).is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_that_cannot_be_decoded_say_why_and_others_pass() {
        let decoder = LogDecoder::default();
        assert_eq!(decoder.decode_line("[server] plain text"), None);
        let unknown = decoder.decode_line("~defmt~ nope server AAAA").unwrap();
        assert!(unknown.contains("`nope`") && unknown.contains("[server]"), "{unknown}");
        let short = decoder.decode_line("~defmt~ nope").unwrap();
        assert!(short.contains("without package"), "{short}");
    }
}
