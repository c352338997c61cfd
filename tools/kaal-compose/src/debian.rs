//! Pinned Debian packages: one exact `.deb`, fetched once and checked against its
//! sha256 before anything uses it.
//!
//! The DDE build ([`crate::dde`]) takes Linux's source this way and the Linux reference
//! guest ([`crate::linuxref`]) its kernel and busybox. A package is fetched with
//! `apt-get download PACKAGE=VERSION` (the archive this machine's apt uses); if that
//! fails (apt's lists are stale, or do not know the version any more) it is fetched
//! from its pool address with `curl`. Either way the file must match the pinned sha256;
//! a stamp beside it records the size and time of the file that matched, so the check
//! is done once.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::error::{Result, ToolError};
use crate::progress::Reporter;

/// One exact Debian package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pinned {
    /// What it is, for messages ("Linux's source").
    pub what: &'static str,
    /// The Debian package.
    pub package: &'static str,
    /// Its version (with the epoch, as apt takes it: `1:1.35.0-4`).
    pub version: &'static str,
    /// The `.deb`'s sha256.
    pub sha256: &'static str,
    /// The `.deb`'s size in bytes.
    pub bytes: u64,
    /// Where the archive keeps it; its last component is the file's name here.
    pub url: &'static str,
}

impl Pinned {
    /// The `.deb`'s file name: the pool's (`package_version_arch.deb`, without the epoch).
    pub fn file_name(&self) -> &'static str {
        self.url.rsplit('/').next().unwrap_or(self.url)
    }
}

/// The pinned package's `.deb` in `debs`, fetched if it is not there, checked against
/// its sha256.
pub fn fetch(pinned: &Pinned, debs: &Path, reporter: &Reporter) -> Result<PathBuf> {
    let step = format!("fetching {} ({} {})", pinned.what, pinned.package, pinned.version);
    let name = pinned.file_name();
    let deb = debs.join(name);
    std::fs::create_dir_all(debs).map_err(|e| ToolError::io(&step, debs, e))?;
    // Tests (threads of one process) and builds (processes) fetch the same package at
    // once on a fresh clone: one downloads and checks it while the others wait here, and
    // then find it there (CI saw the two DDE tests delete each other's download).
    let lock_path = debs.join(format!("{name}.lock"));
    let lock = std::fs::File::create(&lock_path).map_err(|e| ToolError::io(&step, &lock_path, e))?;
    lock.lock().map_err(|e| ToolError::io(&step, &lock_path, e))?;
    if !deb.exists() {
        let progress = reporter.step(format!("{step}: one download of {} MB", pinned.bytes.div_ceil(1_000_000)));
        match download(pinned, debs, &deb, reporter) {
            Ok(()) => progress.done(format!("{}", deb.display())),
            Err(why) => {
                progress.fail();
                return Err(ToolError::new(
                    &step,
                    format!(
                        "KaaL pins {} {} (sha256 {}), and one download of {} bytes is needed; {why}",
                        pinned.package, pinned.version, pinned.sha256, pinned.bytes,
                    ),
                    format!(
                        "connect to the network and run `apt-get update`, or fetch {} into {}",
                        pinned.url,
                        debs.display()
                    ),
                ));
            }
        };
    }
    let stamp = debs.join(format!("{name}.sha256-checked"));
    let identity = std::fs::metadata(&deb)
        .map(|m| format!("{} {:?}", m.len(), m.modified().ok()))
        .map_err(|e| ToolError::io(&step, &deb, e))?;
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == identity) {
        return Ok(deb);
    }
    let got = sha256_file(&deb)?;
    if got != pinned.sha256 {
        return Err(ToolError::new(
            &step,
            format!(
                "{} has sha256 {got}, not the pinned {} of {} {}",
                deb.display(),
                pinned.sha256,
                pinned.package,
                pinned.version
            ),
            format!("delete {} to fetch it again (from {})", deb.display(), pinned.url),
        ));
    }
    std::fs::write(&stamp, identity).map_err(|e| ToolError::io(&step, &stamp, e))?;
    Ok(deb)
}

/// Downloads the package to `deb`: apt-get first, then curl from its pool address. The
/// error says what each attempt said.
fn download(pinned: &Pinned, debs: &Path, deb: &Path, reporter: &Reporter) -> std::result::Result<(), String> {
    // apt-get names the file with the epoch (`busybox-static_1%3a1.35...`): it downloads
    // into a scratch directory of its own, and the one .deb there is renamed.
    let scratch = crate::assemble::scratch_name(debs, &format!(".apt-{}", pinned.package));
    let apt = (|| {
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
        let mut cmd = Command::new("apt-get");
        cmd.current_dir(&scratch).args(["download", "-q"]).arg(format!("{}={}", pinned.package, pinned.version));
        reporter.command(&cmd);
        let out = cmd.output().map_err(|e| format!("cannot run apt-get: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        let got = std::fs::read_dir(&scratch)
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "deb"))
            .ok_or("it left no .deb")?;
        std::fs::rename(&got, deb).map_err(|e| format!("cannot move {} to {}: {e}", got.display(), deb.display()))
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    let Err(apt) = apt else { return Ok(()) };
    reporter.info(format!("apt-get download failed ({apt}); fetching {} with curl", pinned.url));
    // Into a partial file first, so that an interrupted download is not taken for the package.
    let partial = crate::assemble::scratch_name(debs, &format!("{}.partial", pinned.file_name()));
    let mut cmd = Command::new("curl");
    cmd.args(["-fsSL", "-o"]).arg(&partial).arg(pinned.url);
    reporter.command(&cmd);
    let curl = match cmd.output() {
        Ok(out) if out.status.success() => {
            std::fs::rename(&partial, deb).map_err(|e| format!("cannot move {}: {e}", partial.display()))
        }
        Ok(out) => Err(format!("curl failed: {}", String::from_utf8_lossy(&out.stderr).trim())),
        Err(e) => Err(format!("cannot run curl: {e}")),
    };
    let _ = std::fs::remove_file(&partial);
    curl.map_err(|curl| format!("apt-get download failed: {apt}; and from {}: {curl}", pinned.url))
}

/// The sha256 of the file at `path`, in lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| ToolError::io("checking a download", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| ToolError::io("checking a download", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAKE: Pinned = Pinned {
        what: "a test package",
        package: "kaal-no-such-package",
        version: "1:0.0-1",
        // The sha256 of "hello\n".
        sha256: "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
        bytes: 6,
        url: "http://127.0.0.1:9/pool/kaal-no-such-package_0.0-1_amd64.deb",
    };

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kaal-debian-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_file_is_named_as_in_the_pool() {
        assert_eq!(FAKE.file_name(), "kaal-no-such-package_0.0-1_amd64.deb");
    }

    /// A file already there is checked, once: the stamp is written, and a changed file
    /// is checked again and refused, naming the pinned sha256 and the address.
    #[test]
    fn a_present_file_is_checked_against_the_pin() {
        let debs = scratch("present");
        std::fs::write(debs.join(FAKE.file_name()), b"hello\n").unwrap();
        let deb = fetch(&FAKE, &debs, &Reporter::QUIET).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(deb, debs.join(FAKE.file_name()));
        assert!(debs.join(format!("{}.sha256-checked", FAKE.file_name())).exists());
        std::fs::write(&deb, b"hello, changed\n").unwrap();
        let error = fetch(&FAKE, &debs, &Reporter::QUIET).expect_err("a changed file");
        assert!(error.cause.contains(FAKE.sha256) && error.help.contains(FAKE.url), "{error}");
        std::fs::remove_dir_all(&debs).unwrap();
    }

    /// When apt-get does not know the version, the package comes from its pool address
    /// (needs the network: `cargo test -p kaal-compose -- --ignored debian`).
    #[test]
    #[ignore = "downloads 1 MB from deb.debian.org"]
    fn apt_unknown_version_falls_back_to_the_pool_address() {
        let busybox = crate::linuxref::BUSYBOX;
        let pinned = Pinned { version: "0:0.0-kaal-unknown", ..busybox };
        let debs = scratch("curl");
        let deb = fetch(&pinned, &debs, &Reporter::QUIET).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(deb.file_name().unwrap(), busybox.file_name());
        assert_eq!(std::fs::metadata(&deb).unwrap().len(), busybox.bytes);
        std::fs::remove_dir_all(&debs).unwrap();
    }

    /// Many fetches of one package at once (the tests of one run, on a fresh clone) all
    /// get it: one downloads, the others wait for it, and nothing else is left behind.
    #[test]
    fn fetches_at_once_each_get_the_one_download() {
        let debs = scratch("at-once");
        let pool = scratch("at-once-pool");
        std::fs::write(pool.join(FAKE.file_name()), b"hello\n").unwrap();
        let url: &'static str = format!("file://{}/{}", pool.display(), FAKE.file_name()).leak();
        let pinned = Pinned { url, ..FAKE };
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let debs = debs.clone();
                std::thread::spawn(move || fetch(&pinned, &debs, &Reporter::QUIET).map_err(|e| e.to_string()))
            })
            .collect();
        for thread in threads {
            let deb = thread.join().unwrap().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(std::fs::read(&deb).unwrap(), b"hello\n");
        }
        let mut left: Vec<_> =
            std::fs::read_dir(&debs).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        let name = FAKE.file_name();
        assert_eq!(left, [name.to_string(), format!("{name}.lock"), format!("{name}.sha256-checked")]);
        std::fs::remove_dir_all(&debs).unwrap();
        std::fs::remove_dir_all(&pool).unwrap();
    }

    /// When apt-get cannot download it and curl cannot reach the address, the error
    /// says both, and leaves no file behind.
    #[test]
    fn a_failed_download_says_what_apt_and_curl_said() {
        let debs = scratch("absent");
        let error = fetch(&FAKE, &debs, &Reporter::QUIET).expect_err("nothing to download");
        assert!(error.cause.contains("apt-get download failed") && error.cause.contains(FAKE.url), "{error}");
        assert!(error.cause.contains(FAKE.version), "{error}");
        let left: Vec<_> = std::fs::read_dir(&debs)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy() != format!("{}.lock", FAKE.file_name()))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        std::fs::remove_dir_all(&debs).unwrap();
    }
}
