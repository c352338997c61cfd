//! Rust source for `kaal-core`'s raw syscall layer, generated from a [`KernelInterface`].
//!
//! The output mirrors libsel4: `seL4_Untyped_Retype(service, type, ...) -> seL4_Error`
//! and friends, one function per enabled method, plus syscall numbers, invocation labels
//! and the structures the XML declares. `kaal-core`'s typed layer is written against
//! these functions only.
//!
//! Marshalling follows `libsel4/tools/syscall_stub_gen.py` exactly:
//! * capability-typed parameters go, in order, into the extra-caps slots;
//! * every other input parameter is packed into message words in order, each aligned to
//!   its own size or to a word, whichever is smaller (so a `seL4_Bool` takes one bit and
//!   a `seL4_Uint8` after it the next byte-aligned 8 bits);
//! * output parameters are unpacked from the reply with the same rule;
//! * the reply's label is the `seL4_Error`.
//!
//! The generated code calls four primitives that `kaal-core` provides in `sys`:
//! `invoke(service, info, &words) -> Reply`, `Reply::word(i)`, `set_cap(i, cptr)` and
//! `message_info(label, caps_unwrapped, extra_caps, length)`.

use std::fmt::Write;

use crate::interface::{Direction, KernelInterface, Method, Param};

const WORD_BITS: u32 = 64;

/// How a C type from the interface XML travels in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TypeKind {
    /// Packed into message words; `rust` is the Rust type of the parameter.
    Value { bits: u32, rust: &'static str },
    /// A capability pointer: travels in the extra-caps slots.
    Cap,
    /// A structure of `words` words, passed by reference.
    Struct { words: u32 },
}

/// A type the generator does not know. New kernel versions add types; the generator
/// must be taught each one rather than guess its width.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{method}: parameter `{param}` has type `{c_type}`, which the stub generator does not know how to marshal")]
pub struct UnknownType {
    pub method: String,
    pub param: String,
    pub c_type: String,
}

/// The ABI's C types and their packed widths, as in `syscall_stub_gen.py`'s
/// `init_data_types` and its x86_64 `init_arch_types`.
fn type_kind(c_type: &str, iface: &KernelInterface) -> Option<TypeKind> {
    use TypeKind::*;
    Some(match c_type {
        "int" => Value { bits: 32, rust: "i32" },
        "long" => Value { bits: 64, rust: "i64" },
        "seL4_Uint8" => Value { bits: 8, rust: "u8" },
        "seL4_Uint16" => Value { bits: 16, rust: "u16" },
        "seL4_Uint32" => Value { bits: 32, rust: "u32" },
        "seL4_Uint64" => Value { bits: 64, rust: "u64" },
        "seL4_Word" | "seL4_X86_VMAttributes" | "seL4_X86_EPT_VMAttributes" => {
            Value { bits: WORD_BITS, rust: "seL4_Word" }
        }
        "seL4_Time" => Value { bits: 64, rust: "u64" },
        "seL4_Bool" => Value { bits: 1, rust: "bool" },
        // Bitfield structures are one word; kaal-core builds them from generated layouts.
        "seL4_CapData_t" | "seL4_PrioProps_t" | "seL4_CapRights_t" => Value { bits: WORD_BITS, rust: "seL4_Word" },
        "seL4_CPtr"
        | "seL4_CNode"
        | "seL4_IRQHandler"
        | "seL4_IRQControl"
        | "seL4_TCB"
        | "seL4_Untyped"
        | "seL4_DomainSet"
        | "seL4_SchedContext"
        | "seL4_SchedControl"
        | "seL4_X86_IOPortControl"
        | "seL4_X86_IOPort"
        | "seL4_X86_ASIDControl"
        | "seL4_X86_ASIDPool"
        | "seL4_X86_IOSpace"
        | "seL4_X86_Page"
        | "seL4_X64_PML4"
        | "seL4_X86_PDPT"
        | "seL4_X86_PageDirectory"
        | "seL4_X86_PageTable"
        | "seL4_X86_IOPageTable"
        | "seL4_X86_VCPU"
        | "seL4_X86_EPTPML4"
        | "seL4_X86_EPTPDPT"
        | "seL4_X86_EPTPD"
        | "seL4_X86_EPTPT" => Cap,
        other => {
            let s = iface.structs.iter().find(|s| s.name == other)?;
            Struct { words: s.members.len() as u32 }
        }
    })
}

fn rust_ident(name: &str) -> String {
    match name {
        "type" | "ref" | "in" | "fn" | "mod" | "use" | "move" | "match" | "loop" | "self" | "impl" => {
            format!("r#{name}")
        }
        _ => name.to_string(),
    }
}

/// Bit positions of `params` in the message, per `get_parameter_positions`.
fn positions(params: &[(&Param, u32)]) -> Vec<(usize, u32, u32)> {
    let mut used = 0u32;
    let mut out = Vec::new();
    for (i, (_, bits)) in params.iter().enumerate() {
        let align = (*bits).min(WORD_BITS);
        used = used.div_ceil(align) * align;
        out.push((i, used, *bits));
        used += bits;
    }
    out
}

fn words_for(bits: u32) -> u32 {
    bits.div_ceil(WORD_BITS)
}

fn generate_method(out: &mut String, m: &Method, iface: &KernelInterface) -> Result<(), UnknownType> {
    let fn_name = format!("{}_{}", m.interface, m.name);
    let mut caps = Vec::new();
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    let mut by_ref_outputs = Vec::new();
    for p in &m.params {
        let kind = type_kind(&p.c_type, iface).ok_or_else(|| UnknownType {
            method: fn_name.clone(),
            param: p.name.clone(),
            c_type: p.c_type.clone(),
        })?;
        match (p.dir, &kind) {
            (Direction::In, TypeKind::Cap) => caps.push(p),
            (Direction::In, TypeKind::Value { bits, .. }) => inputs.push((p, *bits, kind.clone())),
            (Direction::In, TypeKind::Struct { words }) => inputs.push((p, words * WORD_BITS, kind.clone())),
            (Direction::Out, TypeKind::Value { bits, .. }) => outputs.push((p, *bits, kind.clone())),
            (Direction::Out, TypeKind::Struct { words }) => by_ref_outputs.push((p, words * WORD_BITS)),
            (Direction::Out, TypeKind::Cap) => {
                return Err(UnknownType {
                    method: fn_name.clone(),
                    param: p.name.clone(),
                    c_type: "out capability".into(),
                })
            }
        }
    }

    // Result type: plain seL4_Error, or a struct with the error and value outputs.
    let result_ty = if outputs.is_empty() { "seL4_Error".to_string() } else { format!("{fn_name}_t") };
    if !outputs.is_empty() {
        writeln!(out, "/// Result of [`{fn_name}`].").unwrap();
        writeln!(out, "#[derive(Debug, Clone, Copy, PartialEq, Eq)]\npub struct {result_ty} {{").unwrap();
        writeln!(
            out,
            "    /// The reply label: `seL4_NoError` (0) or an `seL4_Error` code.\n    pub error: seL4_Error,"
        )
        .unwrap();
        for (p, _, kind) in &outputs {
            let TypeKind::Value { rust, .. } = kind else { unreachable!() };
            if !p.description.is_empty() {
                writeln!(out, "    /// {}", p.description).unwrap();
            }
            writeln!(out, "    pub {}: {rust},", rust_ident(&p.name)).unwrap();
        }
        writeln!(out, "}}\n").unwrap();
    }

    // Signature.
    writeln!(out, "/// `{fn_name}` (label `{}` = {}): {}", m.label, m.number, m.brief).unwrap();
    if !m.params.is_empty() {
        writeln!(out, "///").unwrap();
        for p in &m.params {
            writeln!(out, "/// * `{}` ({}, {:?}): {}", p.name, p.c_type, p.dir, p.description).unwrap();
        }
    }
    let mut args = vec!["service: seL4_CPtr".to_string()];
    for p in &m.params {
        let kind = type_kind(&p.c_type, iface).unwrap();
        let ty = match (&kind, p.dir) {
            (TypeKind::Cap, _) => "seL4_CPtr".to_string(),
            (TypeKind::Value { rust, .. }, Direction::In) => rust.to_string(),
            (TypeKind::Struct { .. }, Direction::In) => format!("&{}", p.c_type),
            (TypeKind::Struct { .. }, Direction::Out) => format!("&mut {}", p.c_type),
            (TypeKind::Value { .. }, Direction::Out) => continue,
        };
        args.push(format!("{}: {ty}", rust_ident(&p.name)));
    }
    writeln!(
        out,
        "///\n/// # Safety\n/// An invocation can change this thread's address space, capabilities or \
         scheduling. The caller must make sure that no memory Rust still references is unmapped, \
         remapped or aliased as a result."
    )
    .unwrap();
    writeln!(
        out,
        "#[inline]\n#[allow(non_snake_case, clippy::too_many_arguments, clippy::identity_op, unused_parens)]"
    )
    .unwrap();
    writeln!(out, "pub unsafe fn {fn_name}({}) -> {result_ty} {{", args.join(", ")).unwrap();

    // Marshal.
    let in_bits: Vec<_> = inputs.iter().map(|(p, bits, _)| (*p, *bits)).collect();
    let in_pos = positions(&in_bits);
    let in_words = in_pos.last().map(|(_, first, bits)| words_for(first + bits)).unwrap_or(0);
    writeln!(out, "    let mut words = [0 as seL4_Word; {in_words}];").unwrap();
    if in_words == 0 {
        writeln!(out, "    let _ = &mut words;").unwrap();
    }
    for (i, first, bits) in in_pos {
        let (p, _, kind) = &inputs[i];
        let name = rust_ident(&p.name);
        let (word, shift) = (first / WORD_BITS, first % WORD_BITS);
        match kind {
            TypeKind::Struct { .. } => {
                let s = iface.structs.iter().find(|s| s.name == p.c_type).unwrap();
                for (k, member) in s.members.iter().enumerate() {
                    writeln!(out, "    words[{}] = {name}.{};", word as usize + k, rust_ident(member)).unwrap();
                }
            }
            _ if bits == WORD_BITS => writeln!(out, "    words[{word}] |= {name} as seL4_Word;").unwrap(),
            _ => {
                let mask = (1u64 << bits) - 1;
                writeln!(out, "    words[{word}] |= (({name} as seL4_Word) & {mask:#x}) << {shift};").unwrap()
            }
        }
    }
    for (i, p) in caps.iter().enumerate() {
        writeln!(out, "    set_cap({i}, {});", rust_ident(&p.name)).unwrap();
    }
    writeln!(
        out,
        "    let reply = invoke(service, message_info(invocation::{}, 0, {}, {in_words}), &words);",
        m.label,
        caps.len()
    )
    .unwrap();

    // Unmarshal.
    let out_bits: Vec<_> =
        outputs.iter().map(|(p, b, _)| (*p, *b)).chain(by_ref_outputs.iter().map(|(p, b)| (*p, *b))).collect();
    let out_pos = positions(&out_bits);
    for (i, first, bits) in &out_pos {
        let p = out_bits[*i].0;
        let (word, shift) = (first / WORD_BITS, first % WORD_BITS);
        if *i >= outputs.len() {
            let s = iface.structs.iter().find(|s| s.name == p.c_type).unwrap();
            for (k, member) in s.members.iter().enumerate() {
                writeln!(
                    out,
                    "    {}.{} = reply.word({});",
                    rust_ident(&p.name),
                    rust_ident(member),
                    word as usize + k
                )
                .unwrap();
            }
        }
        let _ = (bits, shift);
    }
    if outputs.is_empty() {
        writeln!(out, "    reply.error()\n}}\n").unwrap();
    } else {
        writeln!(out, "    {result_ty} {{\n        error: reply.error(),").unwrap();
        for (i, first, bits) in &out_pos {
            if *i >= outputs.len() {
                continue;
            }
            let (p, _, kind) = &outputs[*i];
            let TypeKind::Value { rust, .. } = kind else { unreachable!() };
            let (word, shift) = (first / WORD_BITS, first % WORD_BITS);
            let expr = if *bits == WORD_BITS {
                format!("reply.word({word})")
            } else if *rust == "bool" {
                format!("(reply.word({word}) >> {shift}) & 1 != 0")
            } else {
                format!("((reply.word({word}) >> {shift}) & {:#x}) as {rust}", (1u64 << bits) - 1)
            };
            writeln!(out, "        {}: {expr},", rust_ident(&p.name)).unwrap();
        }
        writeln!(out, "    }}\n}}\n").unwrap();
    }
    Ok(())
}

/// Generates the raw syscall layer for `iface`.
pub fn generate(iface: &KernelInterface) -> Result<String, UnknownType> {
    let mut out = String::new();
    out.push_str("// Generated by kaal-sel4 from the seL4 interface XML. Do not edit.\n\n");

    out.push_str("/// Syscall numbers (`syscall.xml`); only those the configured kernel has.\n");
    out.push_str("#[allow(non_upper_case_globals)]\npub mod syscall {\n");
    for s in &iface.syscalls {
        writeln!(out, "    pub const seL4_Sys{}: isize = {};", s.name, s.number).unwrap();
    }
    out.push_str("}\n\n");

    out.push_str("/// Invocation labels for the configured kernel (`sel4.xml`, `sel4arch.xml`).\n");
    out.push_str("#[allow(non_upper_case_globals)]\npub mod invocation {\n");
    out.push_str("    pub const InvalidInvocation: super::seL4_Word = 0;\n");
    for m in &iface.methods {
        writeln!(
            out,
            "    /// `{}_{}`\n    pub const {}: super::seL4_Word = {};",
            m.interface, m.name, m.label, m.number
        )
        .unwrap();
    }
    writeln!(
        out,
        "    /// One past the highest label.\n    pub const nInvocationLabels: super::seL4_Word = {};",
        iface.label_count
    )
    .unwrap();
    out.push_str("}\n\n");

    out.push_str("/// The name of invocation label `label`, for diagnostics.\npub fn invocation_name(label: seL4_Word) -> &'static str {\n    match label {\n");
    for m in &iface.methods {
        writeln!(out, "        {} => \"{}_{}\",", m.number, m.interface, m.name).unwrap();
    }
    out.push_str("        _ => \"<unknown invocation>\",\n    }\n}\n\n");

    for s in &iface.structs {
        writeln!(out, "/// `{}` from the interface XML.", s.name).unwrap();
        writeln!(out, "#[repr(C)]\n#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]\npub struct {} {{", s.name)
            .unwrap();
        for m in &s.members {
            writeln!(out, "    pub {}: seL4_Word,", rust_ident(m)).unwrap();
        }
        out.push_str("}\n\n");
    }

    for m in &iface.methods {
        generate_method(&mut out, m, iface)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interface::{Method, Struct};

    fn param(name: &str, c_type: &str, dir: Direction) -> Param {
        Param { name: name.into(), c_type: c_type.into(), dir, description: String::new() }
    }

    fn iface(methods: Vec<Method>) -> KernelInterface {
        KernelInterface {
            syscalls: vec![],
            methods,
            structs: vec![Struct { name: "seL4_UserContext".into(), members: vec!["rip".into(), "rsp".into()] }],
            label_count: 9,
        }
    }

    #[test]
    fn packing_matches_syscall_stub_gen() {
        // CNode_Copy: dest_index (word), dest_depth (u8), src_index (word), src_depth (u8), rights.
        let bits = [64, 8, 64, 8, 64];
        let p = param("x", "seL4_Word", Direction::In);
        let params: Vec<_> = bits.iter().map(|b| (&p, *b)).collect();
        let firsts: Vec<_> = positions(&params).iter().map(|(_, f, _)| *f).collect();
        assert_eq!(firsts, [0, 64, 128, 192, 256]);
        // TCB_WriteRegisters: bool, u8, word -> bit 0, bits 8..16, next word.
        let params: Vec<_> = [1, 8, 64].iter().map(|b| (&p, *b)).collect();
        let firsts: Vec<_> = positions(&params).iter().map(|(_, f, _)| *f).collect();
        assert_eq!(firsts, [0, 8, 64]);
    }

    #[test]
    fn caps_go_to_extra_caps_and_values_to_words() {
        let m = Method {
            label: "TCBWriteRegisters".into(),
            number: 3,
            interface: "seL4_TCB".into(),
            name: "WriteRegisters".into(),
            brief: "write".into(),
            params: vec![
                param("resume_target", "seL4_Bool", Direction::In),
                param("arch_flags", "seL4_Uint8", Direction::In),
                param("count", "seL4_Word", Direction::In),
                param("regs", "seL4_UserContext", Direction::In),
                param("frame", "seL4_CPtr", Direction::In),
            ],
        };
        let code = generate(&iface(vec![m])).unwrap();
        assert!(code.contains("words[0] |= ((resume_target as seL4_Word) & 0x1) << 0;"), "{code}");
        assert!(code.contains("words[0] |= ((arch_flags as seL4_Word) & 0xff) << 8;"), "{code}");
        assert!(code.contains("words[1] |= count as seL4_Word;"), "{code}");
        assert!(code.contains("words[2] = regs.rip;") && code.contains("words[3] = regs.rsp;"), "{code}");
        assert!(code.contains("set_cap(0, frame);"), "{code}");
        assert!(code.contains("message_info(invocation::TCBWriteRegisters, 0, 1, 4)"), "{code}");
    }

    #[test]
    fn outputs_are_unpacked_with_the_same_rule() {
        let m = Method {
            label: "X86IOPortIn8".into(),
            number: 5,
            interface: "seL4_X86_IOPort".into(),
            name: "In8".into(),
            brief: "read".into(),
            params: vec![param("result", "seL4_Uint8", Direction::Out), param("port", "seL4_Uint16", Direction::In)],
        };
        let code = generate(&iface(vec![m])).unwrap();
        assert!(code.contains("pub struct seL4_X86_IOPort_In8_t"), "{code}");
        assert!(code.contains("result: ((reply.word(0) >> 0) & 0xff) as u8"), "{code}");
        assert!(code.contains("words[0] |= ((port as seL4_Word) & 0xffff) << 0;"), "{code}");
    }

    #[test]
    fn unknown_types_are_refused() {
        let m = Method {
            label: "L".into(),
            number: 1,
            interface: "seL4_Q".into(),
            name: "Q".into(),
            brief: String::new(),
            params: vec![param("p", "seL4_Mystery", Direction::In)],
        };
        let err = generate(&iface(vec![m])).unwrap_err();
        assert_eq!(err.c_type, "seL4_Mystery");
    }
}
