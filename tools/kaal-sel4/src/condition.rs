//! Evaluates the C preprocessor conditions that guard entries in seL4's interface XML.
//!
//! `sel4.xml` and friends mark config-dependent methods and syscalls with conditions such
//! as `defined(CONFIG_HARDWARE_DEBUG_API)` or `CONFIG_MAX_NUM_NODES > 1`. The kernel's own
//! generators emit them as `#if` lines and let the C preprocessor decide; KaaL decides
//! here, with the same semantics (undefined identifiers are 0), so that the numbering
//! matches the kernel built from the same [`crate::config::KernelConfig`].
//!
//! Written by hand rather than pulling in a full C preprocessor crate: the grammar the
//! XML uses is a dozen tokens, and a wrong guess would silently shift invocation labels,
//! so unknown syntax is an error rather than a fallback.

use std::collections::HashMap;

/// A condition the evaluator does not understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot evaluate preprocessor condition `{expr}`: {why}")]
pub struct ConditionError {
    pub expr: String,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Number(i64),
    Op(&'static str),
}

fn tokenize(expr: &str) -> Result<Vec<Token>, String> {
    const OPS: [&str; 13] = ["&&", "||", "==", "!=", "<=", ">=", "<", ">", "!", "(", ")", "+", "-"];
    let mut tokens = Vec::new();
    let mut rest = expr.trim_start();
    while !rest.is_empty() {
        let c = rest.chars().next().unwrap();
        if c.is_ascii_alphabetic() || c == '_' {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            tokens.push(Token::Ident(rest[..end].to_string()));
            rest = &rest[end..];
        } else if c.is_ascii_digit() {
            let end = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
            let lit = rest[..end].trim_end_matches(['u', 'U', 'l', 'L']);
            let value = if let Some(hex) = lit.strip_prefix("0x").or_else(|| lit.strip_prefix("0X")) {
                i64::from_str_radix(hex, 16)
            } else {
                lit.parse()
            }
            .map_err(|_| format!("bad number `{}`", &rest[..end]))?;
            tokens.push(Token::Number(value));
            rest = &rest[end..];
        } else if let Some(op) = OPS.iter().find(|op| rest.starts_with(**op)) {
            tokens.push(Token::Op(op));
            rest = &rest[op.len()..];
        } else {
            return Err(format!("unexpected character `{c}`"));
        }
        rest = rest.trim_start();
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    defines: &'a HashMap<String, String>,
}

impl Parser<'_> {
    fn peek_op(&self, op: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Op(o)) if *o == op)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        let hit = self.peek_op(op);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn or(&mut self) -> Result<i64, String> {
        let mut value = self.and()?;
        while self.eat_op("||") {
            let rhs = self.and()?;
            value = ((value != 0) || (rhs != 0)) as i64;
        }
        Ok(value)
    }

    fn and(&mut self) -> Result<i64, String> {
        let mut value = self.comparison()?;
        while self.eat_op("&&") {
            let rhs = self.comparison()?;
            value = ((value != 0) && (rhs != 0)) as i64;
        }
        Ok(value)
    }

    fn comparison(&mut self) -> Result<i64, String> {
        let lhs = self.additive()?;
        for op in ["==", "!=", "<=", ">=", "<", ">"] {
            if self.eat_op(op) {
                let rhs = self.additive()?;
                let result = match op {
                    "==" => lhs == rhs,
                    "!=" => lhs != rhs,
                    "<=" => lhs <= rhs,
                    ">=" => lhs >= rhs,
                    "<" => lhs < rhs,
                    _ => lhs > rhs,
                };
                return Ok(result as i64);
            }
        }
        Ok(lhs)
    }

    fn additive(&mut self) -> Result<i64, String> {
        let mut value = self.unary()?;
        loop {
            if self.eat_op("+") {
                value += self.unary()?;
            } else if self.eat_op("-") {
                value -= self.unary()?;
            } else {
                return Ok(value);
            }
        }
    }

    fn unary(&mut self) -> Result<i64, String> {
        if self.eat_op("!") {
            return Ok((self.unary()? == 0) as i64);
        }
        if self.eat_op("-") {
            return Ok(-self.unary()?);
        }
        if self.eat_op("(") {
            let value = self.or()?;
            if !self.eat_op(")") {
                return Err("missing `)`".into());
            }
            return Ok(value);
        }
        match self.tokens.get(self.pos).cloned() {
            Some(Token::Number(n)) => {
                self.pos += 1;
                Ok(n)
            }
            Some(Token::Ident(name)) if name == "defined" => {
                self.pos += 1;
                let paren = self.eat_op("(");
                let Some(Token::Ident(target)) = self.tokens.get(self.pos).cloned() else {
                    return Err("`defined` needs an identifier".into());
                };
                self.pos += 1;
                if paren && !self.eat_op(")") {
                    return Err("missing `)` after `defined(`".into());
                }
                Ok(self.defines.contains_key(&target) as i64)
            }
            Some(Token::Ident(name)) => {
                self.pos += 1;
                match self.defines.get(&name) {
                    None => Ok(0),
                    Some(v) => v.trim().parse().map_err(|_| format!("`{name}` is `{v}`, not a number")),
                }
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

/// Evaluates `expr` against `defines`; an empty condition is true.
pub fn evaluate(expr: &str, defines: &HashMap<String, String>) -> Result<bool, ConditionError> {
    let fail = |why: String| ConditionError { expr: expr.to_string(), why };
    if expr.trim().is_empty() {
        return Ok(true);
    }
    let tokens = tokenize(expr).map_err(fail)?;
    let mut parser = Parser { tokens, pos: 0, defines };
    let value = parser.or().map_err(fail)?;
    if parser.pos != parser.tokens.len() {
        return Err(fail(format!("trailing tokens after position {}", parser.pos)));
    }
    Ok(value != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs() -> HashMap<String, String> {
        [("CONFIG_DEBUG_BUILD", "1"), ("CONFIG_MAX_NUM_NODES", "1"), ("CONFIG_WORD_SIZE", "64")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn forms_used_by_the_sel4_5_interface_files() {
        let d = defs();
        assert!(evaluate("", &d).unwrap());
        assert!(evaluate("defined CONFIG_DEBUG_BUILD", &d).unwrap());
        assert!(evaluate("defined(CONFIG_DEBUG_BUILD)", &d).unwrap());
        assert!(!evaluate("defined(CONFIG_VTX)", &d).unwrap());
        assert!(!evaluate("CONFIG_MAX_NUM_NODES > 1", &d).unwrap());
        assert!(evaluate("CONFIG_WORD_SIZE == 64 && !defined CONFIG_VTX", &d).unwrap());
        assert!(evaluate("defined(CONFIG_VTX) || (CONFIG_WORD_SIZE >= 0x20)", &d).unwrap());
        assert!(!evaluate("CONFIG_UNDEFINED_THING", &d).unwrap());
    }

    #[test]
    fn unknown_syntax_is_an_error_not_a_guess() {
        let d = defs();
        assert!(evaluate("CONFIG_A ? 1 : 0", &d).is_err());
        assert!(evaluate("(defined CONFIG_A", &d).is_err());
        assert!(evaluate("1 2", &d).is_err());
    }
}
