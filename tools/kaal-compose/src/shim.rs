//! `cargo kaal` outside a KaaL checkout.
//!
//! Inside the KaaL repository, and inside projects `kaal new` made, `cargo kaal` is an
//! alias in the directory's `.cargo/config.toml`. So that `cargo kaal new my-os` works
//! in any other directory too, the tool keeps the same alias in cargo's global config
//! (`$CARGO_HOME/config.toml`). Cargo prefers the nearer config, so the repository's and
//! projects' own aliases still win.
//!
//! Which checkout the global alias runs: the first one a `cargo kaal` ran from, for as
//! long as it exists (so a scratch clone, say CI's, does not take it over and then
//! vanish); `cargo kaal doctor` points it at the checkout it runs from.
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
    /// Already there, for another checkout that still exists; left alone.
    OtherCheckout(PathBuf),
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
    format!("run --quiet --release --manifest-path {}/{} --bin kaal --", kaal.display(), TOOL_MANIFESTS[0])
}

/// `$CARGO_HOME`, else `~/.cargo`.
fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
}

/// Makes sure cargo's global config has an `alias.kaal` that works: adds one for the
/// checkout at `kaal` if there is none, or if KaaL's points at a checkout that is gone.
/// With `take_over`, points it at `kaal` in any case (unless it is someone else's).
pub fn ensure(kaal: &Path, take_over: bool) -> AliasStatus {
    match cargo_home() {
        Some(home) => ensure_in(&home, kaal, take_over),
        None => AliasStatus::Unavailable("neither CARGO_HOME nor HOME is set".into()),
    }
}

/// Where the tool's manifest sits in a checkout: today's layout first, then the layout
/// of checkouts from before the crates moved out of `crates/`, whose aliases are still
/// KaaL's (and are re-pointed once their manifest is gone).
const TOOL_MANIFESTS: [&str; 2] = ["tools/kaal-compose/Cargo.toml", "crates/kaal-compose/Cargo.toml"];

/// The checkout an alias runs, and the manifest it names, if KaaL wrote it: a string
/// naming some checkout's kaal-compose manifest and its `kaal` binary. Anything else is
/// someone else's.
fn checkout_of(value: &toml_edit::Item) -> Option<(PathBuf, PathBuf)> {
    let words: Vec<&str> = value.as_str()?.split_whitespace().collect();
    let manifest = words.iter().find(|w| TOOL_MANIFESTS.iter().any(|m| w.ends_with(m)))?;
    if !words.contains(&"kaal") {
        return None;
    }
    let checkout = Path::new(manifest).ancestors().nth(3)?.to_path_buf();
    Some((checkout, PathBuf::from(manifest)))
}

fn ensure_in(home: &Path, kaal: &Path, take_over: bool) -> AliasStatus {
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
        let Some((checkout, manifest)) = checkout_of(existing) else { return AliasStatus::Foreign(path) };
        if existing.as_str() == Some(wanted.as_str()) {
            return AliasStatus::Current;
        }
        if !take_over && manifest.is_file() {
            return AliasStatus::OtherCheckout(checkout);
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

        // Checkouts that exist (fake ones: just the tool's manifest).
        let checkout = |name: &str| {
            let dir = home.join(name);
            std::fs::create_dir_all(dir.join("tools/kaal-compose")).unwrap();
            std::fs::write(dir.join("tools/kaal-compose/Cargo.toml"), "").unwrap();
            dir
        };
        let (a, b) = (checkout("kaal-a"), checkout("kaal-b"));
        assert_eq!(ensure_in(&home, &a, false), AliasStatus::Installed(config.clone()));
        assert_eq!(ensure_in(&home, &a, false), AliasStatus::Current);
        let text = std::fs::read_to_string(&config).unwrap();
        assert!(text.starts_with("# my settings\n[alias]\nb = \"build\""), "{text}");
        let manifest = format!("--manifest-path {}/tools/kaal-compose/Cargo.toml --bin kaal --", a.display());
        assert!(text.contains(&manifest), "{text}");
        assert!(text.contains("[net]\nretry = 3"), "{text}");

        // Another checkout leaves it alone while the first exists, unless told to take over.
        assert_eq!(ensure_in(&home, &b, false), AliasStatus::OtherCheckout(a.clone()));
        assert_eq!(ensure_in(&home, &b, true), AliasStatus::Installed(config.clone()));
        assert!(std::fs::read_to_string(&config).unwrap().contains("kaal-b/tools/kaal-compose"));
        // A checkout that is gone is replaced by the next one that runs.
        std::fs::remove_dir_all(&b).unwrap();
        assert_eq!(ensure_in(&home, &a, false), AliasStatus::Installed(config.clone()));

        // An alias from a checkout of the old layout (crates/kaal-compose) is KaaL's: left
        // alone while that manifest exists, re-pointed once it is gone.
        let old = home.join("kaal-old");
        std::fs::create_dir_all(old.join("crates/kaal-compose")).unwrap();
        std::fs::write(old.join("crates/kaal-compose/Cargo.toml"), "").unwrap();
        let old_alias = format!(
            "[alias]\nkaal = \"run --quiet --release --manifest-path {}/crates/kaal-compose/Cargo.toml --bin kaal --\"\n",
            old.display()
        );
        std::fs::write(&config, &old_alias).unwrap();
        assert_eq!(ensure_in(&home, &a, false), AliasStatus::OtherCheckout(old.clone()));
        std::fs::remove_file(old.join("crates/kaal-compose/Cargo.toml")).unwrap();
        assert_eq!(ensure_in(&home, &a, false), AliasStatus::Installed(config.clone()));

        // Someone else's alias is never replaced.
        std::fs::write(&config, "[alias]\nkaal = \"run --bin something-else\"\n").unwrap();
        assert_eq!(ensure_in(&home, &a, true), AliasStatus::Foreign(config.clone()));
        assert_eq!(std::fs::read_to_string(&config).unwrap(), "[alias]\nkaal = \"run --bin something-else\"\n");

        // A path cargo cannot split correctly is refused, not half-written.
        std::fs::write(&config, "").unwrap();
        assert!(matches!(ensure_in(&home, Path::new("/opt/my kaal"), true), AliasStatus::Unavailable(_)));

        // Broken TOML is reported, not overwritten.
        std::fs::write(&config, "[alias\n").unwrap();
        assert!(matches!(ensure_in(&home, &a, true), AliasStatus::Unavailable(_)));
        assert_eq!(std::fs::read_to_string(&config).unwrap(), "[alias\n");
        std::fs::remove_dir_all(&home).unwrap();
    }
}
