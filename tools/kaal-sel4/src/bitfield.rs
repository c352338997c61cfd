//! Layouts from seL4's bitfield specifications (`*.bf`).
//!
//! libsel4 declares word-packed types such as `seL4_MessageInfo` and `seL4_CapRights`, and
//! the fault type tags, in `.bf` files that the kernel's `bitfield_gen.py` turns into C.
//! KaaL reads the same files (after the C preprocessor has resolved their `#include`s and
//! `#ifdef`s) and emits the field positions and tags as Rust constants.
//!
//! Fields in a block are listed from the most significant bit down.

/// One field of a block: its bit offset from the block's least significant bit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub offset: u32,
    pub width: u32,
}

/// A `block`: a fixed-size bit layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub name: String,
    pub bits: u32,
    pub fields: Vec<Field>,
}

/// A `tagged_union`: tag names and values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedUnion {
    pub name: String,
    pub tags: Vec<(String, u64)>,
}

/// Everything read from a set of preprocessed `.bf` files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bitfields {
    pub blocks: Vec<Block>,
    pub unions: Vec<TaggedUnion>,
}

/// A construct the reader does not understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bitfield spec, line {line}: {what}")]
pub struct BitfieldError {
    pub line: usize,
    pub what: String,
}

/// Parses preprocessed `.bf` text (comments starting with `--` are skipped).
pub fn parse(text: &str) -> Result<Bitfields, BitfieldError> {
    enum Open {
        Block(String, Vec<(Option<String>, u32)>),
        Union(String, Vec<(String, u64)>),
    }
    let mut out = Bitfields::default();
    let mut open: Option<Open> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split("--").next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |what: String| BitfieldError { line: n + 1, what };
        let words: Vec<&str> = line.split_whitespace().collect();
        match (&mut open, words.as_slice()) {
            (None, ["base", _]) => {}
            (None, ["block", name, "{"]) => open = Some(Open::Block(name.to_string(), Vec::new())),
            (None, ["block", name, "{", "}"]) | (None, ["block", name, "{}"]) => {
                out.blocks.push(Block { name: name.to_string(), bits: 0, fields: vec![] })
            }
            (None, ["tagged_union", name, _tag_field, "{"]) => open = Some(Open::Union(name.to_string(), Vec::new())),
            (Some(Open::Block(_, items)), ["field", name, width]) => {
                items.push((Some(name.to_string()), width.parse().map_err(|_| err(format!("bad width `{width}`")))?))
            }
            (Some(Open::Block(_, items)), ["field_high", name, width]) => {
                items.push((Some(name.to_string()), width.parse().map_err(|_| err(format!("bad width `{width}`")))?))
            }
            (Some(Open::Block(_, items)), ["padding", width]) => {
                items.push((None, width.parse().map_err(|_| err(format!("bad width `{width}`")))?))
            }
            (Some(Open::Union(_, tags)), ["tag", name, value]) => {
                tags.push((name.to_string(), value.parse().map_err(|_| err(format!("bad tag value `{value}`")))?))
            }
            (Some(_), ["}"]) => match open.take().unwrap() {
                Open::Block(name, items) => {
                    let bits: u32 = items.iter().map(|(_, w)| w).sum();
                    let mut top = bits;
                    let mut fields = Vec::new();
                    for (field, width) in items {
                        top -= width;
                        if let Some(name) = field {
                            fields.push(Field { name, offset: top, width });
                        }
                    }
                    out.blocks.push(Block { name, bits, fields });
                }
                Open::Union(name, tags) => out.unions.push(TaggedUnion { name, tags }),
            },
            _ => return Err(err(format!("unexpected `{line}`"))),
        }
    }
    if open.is_some() {
        return Err(BitfieldError { line: text.lines().count(), what: "unterminated block".into() });
    }
    Ok(out)
}

/// Finds the tagged union `name` in a spec that may contain constructs this reader does
/// not parse (the kernel's own `structures.bf`), and reads only that union.
pub fn find_tagged_union(text: &str, name: &str) -> Result<TaggedUnion, BitfieldError> {
    let start = text
        .lines()
        .position(|l| l.split_whitespace().take(2).eq(["tagged_union", name]))
        .ok_or(BitfieldError { line: 0, what: format!("no tagged_union {name}") })?;
    let end = text
        .lines()
        .skip(start)
        .position(|l| l.trim() == "}")
        .map(|n| start + n)
        .ok_or(BitfieldError { line: start + 1, what: format!("tagged_union {name} is not closed") })?;
    let section: Vec<&str> = text.lines().skip(start).take(end - start + 1).collect();
    let mut parsed = parse(&section.join("\n"))?;
    parsed.unions.pop().ok_or(BitfieldError { line: start + 1, what: format!("tagged_union {name} is empty") })
}

/// Finds block `name` in a spec that may contain constructs this reader does not parse.
pub fn find_block(text: &str, name: &str) -> Result<Block, BitfieldError> {
    let start = text
        .lines()
        .position(|l| l.split_whitespace().take(2).eq(["block", name]))
        .ok_or(BitfieldError { line: 0, what: format!("no block {name}") })?;
    let end = text
        .lines()
        .skip(start)
        .position(|l| l.trim() == "}")
        .map(|n| start + n)
        .ok_or(BitfieldError { line: start + 1, what: format!("block {name} is not closed") })?;
    let section: Vec<&str> = text.lines().skip(start).take(end - start + 1).collect();
    let mut parsed = parse(&section.join("\n"))?;
    parsed.blocks.pop().ok_or(BitfieldError { line: start + 1, what: format!("block {name} is empty") })
}

impl Bitfields {
    /// Rust constants: `<Block>_<field>_SHIFT` / `_WIDTH` for one-word blocks, and
    /// `<Union>_<Tag>` for tags.
    pub fn to_rust(&self) -> String {
        let mut out = String::new();
        for b in self.blocks.iter().filter(|b| b.bits <= 64) {
            out.push_str(&format!("// block {} ({} bits)\n", b.name, b.bits));
            for f in &b.fields {
                out.push_str(&format!(
                    "pub const {0}_{1}_SHIFT: u32 = {2};\npub const {0}_{1}_WIDTH: u32 = {3};\n",
                    b.name, f.name, f.offset, f.width
                ));
            }
        }
        for u in &self.unions {
            for (tag, value) in &u.tags {
                out.push_str(&format!("pub const {}_{}: seL4_Word = {};\n", u.name, tag, value));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "
base 64
-- comment
block seL4_MessageInfo {
    padding 32
    field label 20
    field capsUnwrapped 3
    field extraCaps 2
    field length 7
}
tagged_union seL4_Fault seL4_FaultType {
    tag NullFault 0
    tag VMFault 5 -- arch specific
}
";

    #[test]
    fn message_info_layout() {
        let bf = parse(SPEC).unwrap();
        let b = &bf.blocks[0];
        assert_eq!(b.bits, 64);
        let pos: Vec<_> = b.fields.iter().map(|f| (f.name.as_str(), f.offset, f.width)).collect();
        assert_eq!(pos, [("label", 12, 20), ("capsUnwrapped", 9, 3), ("extraCaps", 7, 2), ("length", 0, 7)]);
        assert_eq!(bf.unions[0].tags, [("NullFault".to_string(), 0), ("VMFault".to_string(), 5)]);
        let rust = bf.to_rust();
        assert!(rust.contains("pub const seL4_MessageInfo_label_SHIFT: u32 = 12;"));
        assert!(rust.contains("pub const seL4_Fault_VMFault: seL4_Word = 5;"));
    }

    #[test]
    fn finds_one_union_in_an_unparseable_file() {
        let text = "base 64(48,1)\nblock x {\n field_ptr(12) a 36\n}\ntagged_union cap capType {\n  tag null_cap 0\n  tag endpoint_cap 4 -- comment\n}\nmore junk";
        let u = find_tagged_union(text, "cap").unwrap();
        assert_eq!(u.tags, [("null_cap".to_string(), 0), ("endpoint_cap".to_string(), 4)]);
        assert!(find_tagged_union(text, "nothing").is_err());
    }

    #[test]
    fn finds_one_block_in_an_unparseable_file() {
        let text = "base 64(48,1)\nblock io_port_capdata {\n    padding 32\n    field firstPort 16\n    field lastPort 16\n}\njunk";
        let b = find_block(text, "io_port_capdata").unwrap();
        let pos: Vec<_> = b.fields.iter().map(|f| (f.name.as_str(), f.offset, f.width)).collect();
        assert_eq!(pos, [("firstPort", 16, 16), ("lastPort", 0, 16)]);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse("block X {\n  feld y 3\n}\n").is_err());
        assert!(parse("block X {\n  field y 3\n").is_err());
    }
}
