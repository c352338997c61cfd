//! The kernel's interface, read from its own XML files for one exact configuration.
//!
//! * `syscall.xml` numbers the syscalls. Numbers count down from -1 across every entry,
//!   whether or not its condition holds; the condition only decides whether the syscall
//!   exists (this mirrors `tools/syscall_header_gen.py`).
//! * `sel4.xml`, then the x86_64 and x86 `sel4arch.xml`, list the methods of every
//!   capability type. Each enabled method takes the next invocation label, starting at 1
//!   (0 is `InvalidInvocation`). A disabled method takes no number, so conditions shift
//!   the labels after it (this mirrors `tools/invocation_header_gen.py`).
//!
//! Two shapes of XML are understood, and nothing else:
//! * seL4 5.0.0: one `<api>` in `syscall.xml`, and conditions as a C expression in a
//!   `condition="..."` attribute;
//! * seL4 16.0.0: `<api-master>` and `<api-mcs>` (the MCS kernel's syscalls; which one
//!   applies is `CONFIG_KERNEL_MCS`), conditions as a `<condition>` element of
//!   `<config var>`, `<not>`, `<and>` and `<or>`, and interface files that are links
//!   (`sel4.xml` holds the name `object-api.xml`).
//!
//! Anything else is an error: a misread condition would silently shift the numbering.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::condition::{self, ConditionError};

/// Failure to read or understand an interface file.
#[derive(Debug, thiserror::Error)]
pub enum InterfaceError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not valid XML: {source}", .path.display())]
    Xml {
        path: PathBuf,
        #[source]
        source: roxmltree::Error,
    },
    #[error("{}: {source}", .path.display())]
    Condition {
        path: PathBuf,
        #[source]
        source: ConditionError,
    },
    #[error("{}: {what}", .path.display())]
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
    let text =
        std::fs::read_to_string(path).map_err(|source| InterfaceError::Read { path: path.to_path_buf(), source })?;
    // A symbolic link exported as a file holds the name of its target, a sibling.
    let target = text.trim();
    if !target.starts_with('<') && !target.contains(char::is_whitespace) && target.ends_with(".xml") {
        let sibling = path.with_file_name(target);
        return std::fs::read_to_string(&sibling).map_err(|source| InterfaceError::Read { path: sibling, source });
    }
    Ok(text)
}

/// Whether `node` (a `<config>` of syscalls, or a `<method>`) is enabled: its
/// `condition` attribute (5.0.0) or its `<condition>` child (16.0.0), if any.
fn enabled(
    node: roxmltree::Node<'_, '_>,
    path: &Path,
    defines: &HashMap<String, String>,
) -> Result<bool, InterfaceError> {
    let attribute = node.attribute("condition");
    let element: Vec<_> = node.children().filter(|n| n.has_tag_name("condition")).collect();
    let malformed = |what: String| InterfaceError::Malformed { path: path.into(), what };
    match (attribute, element.as_slice()) {
        (Some(_), [_, ..]) => Err(malformed("both a condition attribute and a <condition> element".into())),
        (Some(cond), []) => {
            condition::evaluate(cond, defines).map_err(|source| InterfaceError::Condition { path: path.into(), source })
        }
        (None, []) => Ok(true),
        (None, [cond]) => {
            let mut children = cond.children().filter(|n| n.is_element());
            match (children.next(), children.next()) {
                (None, _) => Ok(true),
                (Some(expr), None) => structured(expr, path, defines),
                _ => Err(malformed("a <condition> with more than one expression".into())),
            }
        }
        _ => Err(malformed("more than one <condition> element".into())),
    }
}

/// Evaluates a structured condition as `tools/condition.py` turns it into C:
/// `<config var="X"/>` is `defined(X)`.
fn structured(
    node: roxmltree::Node<'_, '_>,
    path: &Path,
    defines: &HashMap<String, String>,
) -> Result<bool, InterfaceError> {
    let malformed = |what: String| InterfaceError::Malformed { path: path.into(), what };
    let mut operands = node.children().filter(|n| n.is_element());
    match node.tag_name().name() {
        "config" => {
            let var = node.attribute("var").filter(|v| !v.is_empty());
            Ok(defines.contains_key(var.ok_or_else(|| malformed("<config> without a var".into()))?))
        }
        "not" => match (operands.next(), operands.next()) {
            (Some(expr), None) => Ok(!structured(expr, path, defines)?),
            _ => Err(malformed("<not> takes exactly one expression".into())),
        },
        "and" | "or" => {
            let all: Vec<_> = operands.collect();
            if all.is_empty() {
                return Err(malformed(format!("an empty <{}>", node.tag_name().name())));
            }
            let mut values = Vec::new();
            for expr in all {
                values.push(structured(expr, path, defines)?);
            }
            Ok(if node.has_tag_name("and") { values.iter().all(|v| *v) } else { values.iter().any(|v| *v) })
        }
        other => Err(malformed(format!("unknown element <{other}> in a condition"))),
    }
}

fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parses `syscall.xml`, keeping only syscalls whose condition holds.
pub fn parse_syscalls(path: &Path, defines: &HashMap<String, String>) -> Result<Vec<Syscall>, InterfaceError> {
    let text = read(path)?;
    let doc = roxmltree::Document::parse(&text).map_err(|source| InterfaceError::Xml { path: path.into(), source })?;
    let malformed = |what: String| InterfaceError::Malformed { path: path.into(), what };
    // The sections, as either kernel shapes them; the MCS kernel has its own API.
    let root = doc.root_element();
    let mut api = None;
    let mut debug = None;
    let want = if defines.contains_key("CONFIG_KERNEL_MCS") { "api-mcs" } else { "api-master" };
    for section in root.children().filter(|n| n.is_element()) {
        match section.tag_name().name() {
            "api" | "api-master" | "api-mcs" if section.has_tag_name("api") || section.has_tag_name(want) => {
                if api.replace(section).is_some() {
                    return Err(malformed("more than one API section applies".into()));
                }
            }
            "api-master" | "api-mcs" => {}
            "debug" => debug = Some(section),
            other => return Err(malformed(format!("unknown section <{other}> in syscall.xml"))),
        }
    }
    let api = api.ok_or_else(|| malformed("no <api>, <api-master> or <api-mcs> element".into()))?;
    let mut number = -1;
    let mut out = Vec::new();
    for node in [Some(api), debug].into_iter().flatten() {
        for config in node.children().filter(|n| n.has_tag_name("config")) {
            let enabled = enabled(config, path, defines)?;
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
                if !enabled(method, path, defines)? {
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

    #[test]
    fn the_16_shape_picks_its_api_and_reads_structured_conditions() {
        let dir = tempdir("sixteen");
        let p = write(
            &dir,
            "syscall.xml",
            r#"<syscalls><api-master><config><syscall name="Call"/><syscall name="Reply"/></config></api-master>
               <api-mcs><config><syscall name="Call"/><syscall name="Wait"/><syscall name="NBWait"/></config></api-mcs>
               <debug><config><condition><config var="CONFIG_PRINTING"/></condition><syscall name="DebugPutChar"/></config>
               <config><condition><and><config var="CONFIG_DEBUG_BUILD"/><not><config var="CONFIG_X"/></not></and></condition>
               <syscall name="DebugHalt"/></config></debug></syscalls>"#,
        );
        let names = |d: &[(&str, &str)]| -> Vec<(String, i64)> {
            parse_syscalls(&p, &defines(d)).unwrap().into_iter().map(|s| (s.name, s.number)).collect()
        };
        let own = |v: &[(&str, i64)]| v.iter().map(|(n, i)| (n.to_string(), *i)).collect::<Vec<_>>();
        assert_eq!(names(&[("CONFIG_PRINTING", "1")]), own(&[("Call", -1), ("Reply", -2), ("DebugPutChar", -3)]));
        assert_eq!(
            names(&[("CONFIG_KERNEL_MCS", "1"), ("CONFIG_DEBUG_BUILD", "1")]),
            own(&[("Call", -1), ("Wait", -2), ("NBWait", -3), ("DebugHalt", -5)])
        );
    }

    #[test]
    fn unknown_xml_shapes_are_errors_not_guesses() {
        let dir = tempdir("shapes");
        let section = write(&dir, "a.xml", r#"<syscalls><api-next><config/></api-next></syscalls>"#);
        assert!(parse_syscalls(&section, &defines(&[]))
            .unwrap_err()
            .to_string()
            .contains("unknown section <api-next>"));
        let element = write(
            &dir,
            "b.xml",
            r#"<api><interface name="seL4_X"><method id="A" name="A"><condition><xor/></condition></method></interface></api>"#,
        );
        let err = parse_methods(&[element], &defines(&[])).unwrap_err().to_string();
        assert!(err.contains("unknown element <xor>"), "{err}");
        let link = write(&dir, "link.xml", "b.xml\n");
        assert!(parse_methods(&[link], &defines(&[])).is_err(), "a link is followed to its target");
    }

    fn tempdir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kaal-sel4-test-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
