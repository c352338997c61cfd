//! The kernel's interface, read from its own XML files for one exact configuration.
//!
//! * `syscall.xml` numbers the syscalls. Numbers count down from -1 across every entry,
//!   whether or not its condition holds; the condition only decides whether the syscall
//!   exists (this mirrors `tools/syscall_header_gen.py`).
//! * `sel4.xml`, then the x86_64 and x86 `sel4arch.xml`, list the methods of every
//!   capability type. Each enabled method takes the next invocation label, starting at 1
//!   (0 is `InvalidInvocation`). A disabled method takes no number, so conditions shift
//!   the labels after it (this mirrors `tools/invocation_header_gen.py`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::condition::{self, ConditionError};

/// Failure to read or understand an interface file.
#[derive(Debug, thiserror::Error)]
pub enum InterfaceError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid XML: {source}")]
    Xml {
        path: PathBuf,
        #[source]
        source: roxmltree::Error,
    },
    #[error("{path}: {source}")]
    Condition {
        path: PathBuf,
        #[source]
        source: ConditionError,
    },
    #[error("{path}: {what}")]
    Malformed { path: PathBuf, what: String },
}

/// One syscall and its (negative) number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syscall {
    pub name: String,
    pub number: i64,
}

/// Direction of a method parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

/// One parameter of a method, with its C type name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub c_type: String,
    pub dir: Direction,
    pub description: String,
}

/// One invocation of a capability type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method {
    /// The label's name, e.g. `UntypedRetype`.
    pub label: String,
    /// The label's number in this configuration.
    pub number: u64,
    /// The capability type, e.g. `seL4_Untyped`.
    pub interface: String,
    /// The method name, e.g. `Retype`.
    pub name: String,
    /// One-line summary from the XML.
    pub brief: String,
    pub params: Vec<Param>,
}

/// A structure passed by reference (e.g. `seL4_UserContext`); every member is a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Struct {
    pub name: String,
    pub members: Vec<String>,
}

/// The whole kernel interface for one configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelInterface {
    pub syscalls: Vec<Syscall>,
    pub methods: Vec<Method>,
    pub structs: Vec<Struct>,
    /// One past the last label (`nArchInvocationLabels`).
    pub label_count: u64,
}

fn read(path: &Path) -> Result<String, InterfaceError> {
    std::fs::read_to_string(path).map_err(|source| InterfaceError::Read { path: path.to_path_buf(), source })
}

fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parses `syscall.xml`, keeping only syscalls whose condition holds.
pub fn parse_syscalls(path: &Path, defines: &HashMap<String, String>) -> Result<Vec<Syscall>, InterfaceError> {
    let text = read(path)?;
    let doc = roxmltree::Document::parse(&text).map_err(|source| InterfaceError::Xml { path: path.into(), source })?;
    let mut number = -1;
    let mut out = Vec::new();
    for section in ["api", "debug"] {
        let Some(node) = doc.descendants().find(|n| n.has_tag_name(section)) else {
            if section == "api" {
                return Err(InterfaceError::Malformed { path: path.into(), what: "no <api> element".into() });
            }
            continue;
        };
        for config in node.children().filter(|n| n.has_tag_name("config")) {
            let cond = config.attribute("condition").unwrap_or("");
            let enabled = condition::evaluate(cond, defines)
                .map_err(|source| InterfaceError::Condition { path: path.into(), source })?;
            for syscall in config.children().filter(|n| n.has_tag_name("syscall")) {
                let name = syscall.attribute("name").ok_or_else(|| InterfaceError::Malformed {
                    path: path.into(),
                    what: "<syscall> without a name".into(),
                })?;
                if enabled {
                    out.push(Syscall { name: name.to_string(), number });
                }
                number -= 1;
            }
        }
    }
    Ok(out)
}

/// Parses the method files in label order, numbering the enabled methods.
pub fn parse_methods(
    paths: &[PathBuf],
    defines: &HashMap<String, String>,
) -> Result<(Vec<Method>, Vec<Struct>, u64), InterfaceError> {
    let mut next_label = 1u64; // 0 is InvalidInvocation
    let mut methods = Vec::new();
    let mut structs = Vec::new();
    for path in paths {
        let text = read(path)?;
        let doc =
            roxmltree::Document::parse(&text).map_err(|source| InterfaceError::Xml { path: path.clone(), source })?;
        for node in doc.descendants().filter(|n| n.has_tag_name("struct")) {
            let name = node.attribute("name").unwrap_or_default().to_string();
            let members = node
                .children()
                .filter(|n| n.has_tag_name("member"))
                .filter_map(|n| n.attribute("name").map(str::to_string))
                .collect();
            structs.push(Struct { name, members });
        }
        for iface in doc.descendants().filter(|n| n.has_tag_name("interface")) {
            let interface = iface.attribute("name").unwrap_or_default().to_string();
            for method in iface.children().filter(|n| n.has_tag_name("method")) {
                let cond = method.attribute("condition").unwrap_or("");
                let enabled = condition::evaluate(cond, defines)
                    .map_err(|source| InterfaceError::Condition { path: path.clone(), source })?;
                if !enabled {
                    continue;
                }
                let attr = |name: &str| {
                    method.attribute(name).map(str::to_string).ok_or_else(|| InterfaceError::Malformed {
                        path: path.clone(),
                        what: format!("a method of {interface} has no `{name}`"),
                    })
                };
                let brief = method
                    .children()
                    .find(|n| n.has_tag_name("brief"))
                    .map(|n| {
                        squash(&n.descendants().filter(|d| d.is_text()).filter_map(|d| d.text()).collect::<String>())
                    })
                    .unwrap_or_default();
                let mut params = Vec::new();
                for p in method.children().filter(|n| n.has_tag_name("param")) {
                    let dir = match p.attribute("dir") {
                        Some("in") => Direction::In,
                        Some("out") => Direction::Out,
                        other => {
                            return Err(InterfaceError::Malformed {
                                path: path.clone(),
                                what: format!("parameter direction {other:?} in {interface}"),
                            })
                        }
                    };
                    params.push(Param {
                        name: p.attribute("name").unwrap_or_default().to_string(),
                        c_type: p.attribute("type").unwrap_or_default().to_string(),
                        dir,
                        description: squash(p.attribute("description").unwrap_or_default()),
                    });
                }
                methods.push(Method {
                    label: attr("id")?,
                    number: next_label,
                    interface: interface.clone(),
                    name: attr("name")?,
                    brief,
                    params,
                });
                next_label += 1;
            }
        }
    }
    Ok((methods, structs, next_label))
}

impl KernelInterface {
    /// Reads the interface of the source tree under `defines`.
    pub fn load(
        source: &crate::source::KernelSource,
        defines: &HashMap<String, String>,
    ) -> Result<Self, InterfaceError> {
        let syscalls = parse_syscalls(&source.syscall_xml(), defines)?;
        let (methods, structs, label_count) = parse_methods(&source.interface_xmls(), defines)?;
        Ok(Self { syscalls, methods, structs, label_count })
    }

    /// The number of the invocation label `label`, if enabled.
    pub fn label(&self, label: &str) -> Option<u64> {
        self.methods.iter().find(|m| m.label == label).map(|m| m.number)
    }

    /// The number of syscall `name` (without the `Sys` prefix), if enabled.
    pub fn syscall(&self, name: &str) -> Option<i64> {
        self.syscalls.iter().find(|s| s.name == name).map(|s| s.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn defines(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn syscall_numbers_do_not_shift_when_a_group_is_disabled() {
        let dir = tempdir("sys");
        let p = write(
            &dir,
            "syscall.xml",
            r#"<syscalls><api><config><syscall name="Call"/><syscall name="Send"/></config></api>
               <debug><config condition="defined CONFIG_A"><syscall name="A1"/></config>
               <config condition="defined CONFIG_B"><syscall name="B1"/></config></debug></syscalls>"#,
        );
        let got = parse_syscalls(&p, &defines(&[("CONFIG_B", "1")])).unwrap();
        let pairs: Vec<_> = got.iter().map(|s| (s.name.as_str(), s.number)).collect();
        assert_eq!(pairs, [("Call", -1), ("Send", -2), ("B1", -4)]);
    }

    #[test]
    fn invocation_labels_shift_when_a_method_is_disabled() {
        let dir = tempdir("inv");
        let generic = write(
            &dir,
            "sel4.xml",
            r#"<api><interface name="seL4_X"><method id="XOne" name="One"><brief> first
               one </brief><param dir="in" name="a" type="seL4_Word"/></method>
               <method id="XGated" name="Gated" condition="CONFIG_N > 1"/>
               <method id="XTwo" name="Two"><param dir="out" name="r" type="seL4_Uint8"/></method></interface></api>"#,
        );
        let arch = write(
            &dir,
            "arch.xml",
            r#"<api><interface name="seL4_Y"><method id="YOne" name="One"/></interface></api>"#,
        );
        let (methods, _, count) = parse_methods(&[generic, arch], &defines(&[("CONFIG_N", "1")])).unwrap();
        let labels: Vec<_> = methods.iter().map(|m| (m.label.as_str(), m.number)).collect();
        assert_eq!(labels, [("XOne", 1), ("XTwo", 2), ("YOne", 3)]);
        assert_eq!(count, 4);
        assert_eq!(methods[0].brief, "first one");
        assert_eq!(methods[1].params[0].dir, Direction::Out);
    }

    fn tempdir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kaal-sel4-test-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
