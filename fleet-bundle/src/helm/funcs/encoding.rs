//! Sprig's base64 and base32 encoders (`b64enc`, `b64dec`, `b32enc`, `b32dec`).
//!
//! Decoding errors do not fail the render in Sprig: the function returns the error's
//! text instead, and so do these.

use base64::Engine as _;
use minijinja::Value;

use super::{strval, Args, Func, FuncError};
use crate::helm::template::value::go_string;

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

pub fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "b64enc" => |a| {
            a.arity(1)?;
            Ok(Value::from(
                base64::engine::general_purpose::STANDARD.encode(a.bytes(0)?),
            ))
        },
        "b64dec" => |a| {
            a.arity(1)?;
            Ok(Value::from(
                match base64::engine::general_purpose::STANDARD.decode(a.str(0)?) {
                    Ok(b) => go_string(&b),
                    Err(e) => go_base64_error(a.str(0)?, &e),
                },
            ))
        },
        "b32enc" => |a| {
            a.arity(1)?;
            Ok(Value::from(b32enc(&a.bytes(0)?)))
        },
        "b32dec" => |a| {
            a.arity(1)?;
            Ok(Value::from(match b32dec(a.str(0)?) {
                Some(b) => go_string(&b),
                None => "illegal base32 data at input byte 0".to_string(),
            }))
        },
        "toBytes" => |a: &Args| -> Result<Value, FuncError> {
            a.arity(1)?;
            Ok(Value::from_bytes(strval(a.get(0)).into_bytes()))
        },
        _ => return None,
    })
}

fn go_base64_error(input: &str, e: &base64::DecodeError) -> String {
    let at = match e {
        base64::DecodeError::InvalidByte(i, _) | base64::DecodeError::InvalidLastSymbol(i, _) => *i,
        _ => input.len().saturating_sub(input.len() % 4),
    };
    format!("illegal base64 data at input byte {at}")
}

/// Standard base32 with padding.
pub fn b32enc(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for i in 0..8 {
            if i < chars {
                out.push(B32[((bits >> (35 - i * 5)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b32dec(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::new();
    let mut acc: u64 = 0;
    let mut nbits = 0;
    for c in s.bytes() {
        let v = B32.iter().position(|b| *b == c)? as u64;
        acc = (acc << 5) | v;
        nbits += 5;
        if nbits >= 8 {
            nbits -= 8;
            out.push((acc >> nbits) as u8);
            acc &= (1 << nbits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, vals: &[Value]) -> Value {
        lookup(name).unwrap()(&Args { name, vals }).unwrap()
    }

    #[test]
    fn round_trips() {
        assert_eq!(
            call("b64enc", &[Value::from("hello")]),
            Value::from("aGVsbG8=")
        );
        assert_eq!(
            call("b64dec", &[Value::from("aGVsbG8=")]),
            Value::from("hello")
        );
        assert_eq!(
            call("b32enc", &[Value::from("hello")]),
            Value::from("NBSWY3DP")
        );
        assert_eq!(
            call("b32enc", &[Value::from("hi")]),
            Value::from("NBUQ====")
        );
        assert_eq!(
            call("b32dec", &[Value::from("NBUQ====")]),
            Value::from("hi")
        );
        assert_eq!(
            call("b64dec", &[Value::from("a!")]),
            Value::from("illegal base64 data at input byte 1")
        );
    }
}
