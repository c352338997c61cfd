//! `cargo kaal` outside a KaaL checkout.
//!
//! Inside the KaaL repository, and inside projects `kaal new` made, `cargo kaal` is an
//! alias in the directory's `.cargo/config.toml`. So that `cargo kaal new my-os` works
//! in any other directory too, the tool keeps the same alias in cargo's global config
//! (`$CARGO_HOME/config.toml`), pointing at the checkout it was last run from. Cargo
//! prefers the nearer config, so the repository's and projects' own aliases still win.
//!
//! It is an alias rather than a `cargo-kaal` executable on purpose: cargo warns (and
//! will refuse, rust-lang/cargo#10049) when an alias shadows an executable subcommand.
//! The global config is edited with `toml_edit`, so its comments and layout are kept;
//! an alias `kaal` that KaaL did not write is never replaced.

use std::path::{Path, PathBuf};

/// What became of the global alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasStatus {
    /// Already there and current.
    Current,
    /// Written now (first time, or re-pointed at this checkout), in this file.
    Installed(PathBuf),
    /// An alias `kaal` that KaaL did not write is there; left alone.
    Foreign(PathBuf),
    /// The global config could not be read or written.
    Unavailable(String),
}

/// The alias for the checkout at `kaal`. A string, as in the repository's own config:
/// cargo joins array values of one key across config files, but lets the nearest file's
/// string win.
pub fn alias(kaal: &Path) -> String {
    format!("run --quiet --release --manifest-path {}/crates/kaal-compose/Cargo.toml --bin kaal --", kaal.display())
}

/// `$CARGO_HOME`, else `~/.cargo`.
fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
}

/// Makes sure cargo's global config has `alias.kaal` for the checkout at `kaal`.
pub fn ensure(kaal: &Path) -> AliasStatus {
    match cargo_home() {
        Some(home) => ensure_in(&home, kaal),
        None => AliasStatus::Unavailable("neither CARGO_HOME nor HOME is set".into()),
    }
}

/// Whether an alias value is one KaaL wrote (it runs some checkout's kaal tool).
fn is_ours(value: &toml_edit::Item) -> bool {
    let words: Vec<&str> = match value.as_array() {
        Some(array) => array.iter().filter_map(|v| v.as_str()).collect(),
        None => value.as_str().map(|s| s.split_whitespace().collect()).unwrap_or_default(),
    };
    words.iter().any(|w| w.ends_with("crates/kaal-compose/Cargo.toml")) && words.contains(&"kaal")
}

fn ensure_in(home: &Path, kaal: &Path) -> AliasStatus {
    // Cargo reads `config.toml`, or the older `config` if only that exists.
    let path = [home.join("config.toml"), home.join("config")]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| home.join("config.toml"));
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return AliasStatus::Unavailable(format!("cannot read {}: {e}", path.display())),
    };
    let mut doc: toml_edit::DocumentMut = match text.parse() {
        Ok(doc) => doc,
        Err(e) => return AliasStatus::Unavailable(format!("{} is not valid TOML: {e}", path.display())),
    };
    let wanted = alias(kaal);
    if wanted.split_whitespace().count() != 8 {
        return AliasStatus::Unavailable(format!(
            "the path {} has spaces, which a cargo alias cannot hold; add `kaal` to [alias] yourself",
            kaal.display()
        ));
    }
    if let Some(existing) = doc.get("alias").and_then(|a| a.get("kaal")) {
        if !is_ours(existing) {
            return AliasStatus::Foreign(path);
        }
        if existing.as_str() == Some(wanted.as_str()) {
            return AliasStatus::Current;
        }
    }
    let alias = doc.entry("alias").or_insert_with(toml_edit::table);
    let Some(alias) = alias.as_table_like_mut() else {
        return AliasStatus::Unavailable(format!("`alias` in {} is not a table", path.display()));
    };
    alias.insert("kaal", toml_edit::value(wanted));
    let written = std::fs::create_dir_all(home).and_then(|_| {
        // Write aside and rename, so cargo never reads half a file.
        let temporary = home.join(format!(".config.toml.kaal.{}", std::process::id()));
        std::fs::write(&temporary, doc.to_string())?;
        std::fs::rename(&temporary, &path)
    });
    match written {
        Ok(()) => AliasStatus::Installed(path),
        Err(e) => AliasStatus::Unavailable(format!("cannot write {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_repoints_and_leaves_other_config_alone() {
        let home = std::env::temp_dir().join(format!("kaal-alias-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        let config = home.join("config.toml");
        std::fs::write(&config, "# my settings\n[alias]\nb = \"build\"\n\n[net]\nretry = 3\n").unwrap();

        let a = Path::new("/opt/kaal-a");
        assert_eq!(ensure_in(&home, a), AliasStatus::Installed(config.clone()));
        assert_eq!(ensure_in(&home, a), AliasStatus::Current);
        let text = std::fs::read_to_string(&config).unwrap();
        assert!(text.starts_with("# my settings\n[alias]\nb = \"build\""), "{text}");
        assert!(
            text.contains("kaal = \"run --quiet --release --manifest-path /opt/kaal-a/crates/kaal-compose/Cargo.toml"),
            "{text}"
        );
        assert!(text.contains("[net]\nretry = 3"), "{text}");

        // Another checkout takes it over.
        assert_eq!(ensure_in(&home, Path::new("/opt/kaal-b")), AliasStatus::Installed(config.clone()));
        assert!(std::fs::read_to_string(&config).unwrap().contains("/opt/kaal-b/crates"));

        // Someone else's alias is never replaced.
        std::fs::write(&config, "[alias]\nkaal = \"run --bin something-else\"\n").unwrap();
        assert_eq!(ensure_in(&home, a), AliasStatus::Foreign(config.clone()));
        assert_eq!(std::fs::read_to_string(&config).unwrap(), "[alias]\nkaal = \"run --bin something-else\"\n");

        // A path cargo cannot split correctly is refused, not half-written.
        std::fs::write(&config, "").unwrap();
        assert!(matches!(ensure_in(&home, Path::new("/opt/my kaal")), AliasStatus::Unavailable(_)));

        // Broken TOML is reported, not overwritten.
        std::fs::write(&config, "[alias\n").unwrap();
        assert!(matches!(ensure_in(&home, a), AliasStatus::Unavailable(_)));
        assert_eq!(std::fs::read_to_string(&config).unwrap(), "[alias\n");
        std::fs::remove_dir_all(&home).unwrap();
    }
}
