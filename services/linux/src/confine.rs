//! Confinement of Linux programs (`[linux.confine."<program>"]` in system.toml): a
//! process that execs a confined program, and every process it starts from then on,
//! may use only the program's file-system subtrees (read-only or read-write) and
//! ports. Confinements add up: a process under two is allowed what both allow.
//!
//! A path outside every granted subtree is ENOENT (the process cannot learn whether it
//! exists), a write under a read-only subtree EACCES, and a port not granted EACCES.
//! The personality's own devices (`/dev/null`, the terminal) stay usable.

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;

use kaal_posix::linux::abi::errno;

/// One program's grant.
#[derive(Debug, Default)]
pub struct Rule {
    pub program: String,
    /// Subtrees (absolute, normalised) and whether they are writable.
    pub files: Vec<(String, bool)>,
    pub listen: Vec<u16>,
    pub connect: Vec<u16>,
}

/// What a call does with a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    Read,
    Write,
}

/// The confinements a process is under (none: it may use all the personality has).
pub type Rules = Vec<Rc<Rule>>;

/// Paths a confined process may always open: devices of the personality, not files.
const DEVICES: [&str; 6] = ["/dev/null", "/dev/tty", "/dev/console", "/dev/tty0", "/dev/ttyS0", "/proc/self/exe"];

/// Whether `path` is `subtree` or below it.
fn under(path: &str, subtree: &str) -> bool {
    subtree == "/"
        || path == subtree
        || (path.starts_with(subtree) && path.as_bytes().get(subtree.len()) == Some(&b'/'))
}

impl Rule {
    /// The access the rule gives `path`: none, read-only (`Some(false)`) or read-write;
    /// the deepest subtree that holds it decides.
    fn access(&self, path: &str) -> Option<bool> {
        self.files.iter().filter(|(subtree, _)| under(path, subtree)).max_by_key(|(s, _)| s.len()).map(|(_, w)| *w)
    }
}

/// Whether every rule lets a process use `path` so (an absolute, normalised path).
pub fn check_path(rules: &Rules, path: &str, need: Need) -> Result<(), u64> {
    if rules.is_empty() || DEVICES.contains(&path) {
        return Ok(());
    }
    for rule in rules {
        match rule.access(path) {
            None => return Err(errno::ENOENT),
            Some(false) if need == Need::Write => return Err(errno::EACCES),
            Some(_) => {}
        }
    }
    Ok(())
}

/// Whether every rule lets a process listen on (`listen`) or connect to `port`.
pub fn check_port(rules: &Rules, port: u16, listen: bool) -> Result<(), u64> {
    let granted = |rule: &Rc<Rule>| if listen { rule.listen.contains(&port) } else { rule.connect.contains(&port) };
    if rules.iter().all(granted) {
        Ok(())
    } else {
        Err(errno::EACCES)
    }
}

/// Adds one `confine...` line of the configuration (see the tool's
/// `Linux::config_text`) to `rules`.
pub fn parse_line(rules: &mut Vec<Rule>, key: &str, value: &str) -> Result<(), String> {
    if key == "confine" {
        rules.push(Rule { program: value.into(), ..Rule::default() });
        return Ok(());
    }
    let bad = || alloc::format!("bad configuration line `{key} {value}`");
    let rule = rules.last_mut().ok_or_else(|| alloc::format!("`{key}` before any `confine` line"))?;
    match key {
        "confine-files" => {
            let (access, subtree) = value.split_once(' ').ok_or_else(bad)?;
            let writable = match access {
                "rw" => true,
                "ro" => false,
                _ => return Err(bad()),
            };
            rule.files.push((subtree.into(), writable));
        }
        "confine-listen" => rule.listen.push(value.parse().map_err(|_| bad())?),
        "confine-connect" => rule.connect.push(value.parse().map_err(|_| bad())?),
        _ => return Err(alloc::format!("unknown configuration line `{key} {value}`")),
    }
    Ok(())
}
