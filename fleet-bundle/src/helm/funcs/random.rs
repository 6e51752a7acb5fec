//! Sprig's random functions: `randAlphaNum` and friends, `randBytes`, `randInt`,
//! `uuidv4`, `shuffle`. Their output differs on every render, as in Helm.

use base64::Engine as _;
use minijinja::Value;
use rand::seq::SliceRandom;
use rand::Rng;

use super::{Args, Func, FuncError};

/// The longest random string one call may ask for.
const MAX_LEN: i64 = 1 << 20;

const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const NUMERIC: &[u8] = b"0123456789";

pub fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "randAlphaNum" => |a| rand_from(a, ALNUM),
        "randAlpha" => |a| rand_from(a, ALPHA),
        "randNumeric" => |a| rand_from(a, NUMERIC),
        "randAscii" => |a| {
            a.arity(1)?;
            let n = len_arg(a)?;
            let mut rng = rand::thread_rng();
            Ok(Value::from(
                (0..n)
                    .map(|_| rng.gen_range(32u8..=126) as char)
                    .collect::<String>(),
            ))
        },
        "randBytes" => |a| {
            a.arity(1)?;
            let n = len_arg(a)?;
            let mut buf = vec![0u8; n];
            rand::thread_rng().fill(&mut buf[..]);
            Ok(Value::from(
                base64::engine::general_purpose::STANDARD.encode(buf),
            ))
        },
        "randInt" => |a| {
            a.arity(2)?;
            let (min, max) = (a.int(0)?, a.int(1)?);
            if max <= min {
                return Err(FuncError::Call("invalid argument to Intn".into()));
            }
            Ok(Value::from(rand::thread_rng().gen_range(min..max)))
        },
        "uuidv4" => |a| {
            a.arity(0)?;
            Ok(Value::from(uuid_v4()))
        },
        "shuffle" => |a| {
            a.arity(1)?;
            let mut chars: Vec<char> = a.str(0)?.chars().collect();
            chars.shuffle(&mut rand::thread_rng());
            Ok(Value::from(chars.into_iter().collect::<String>()))
        },
        _ => return None,
    })
}

fn len_arg(a: &Args) -> Result<usize, FuncError> {
    let n = a.int(0)?;
    if !(0..=MAX_LEN).contains(&n) {
        return Err(FuncError::Call(format!(
            "length {n} is outside 0..={MAX_LEN}"
        )));
    }
    Ok(n as usize)
}

fn rand_from(a: &Args, set: &[u8]) -> Result<Value, FuncError> {
    a.arity(1)?;
    let n = len_arg(a)?;
    let mut rng = rand::thread_rng();
    Ok(Value::from(
        (0..n)
            .map(|_| set[rng.gen_range(0..set.len())] as char)
            .collect::<String>(),
    ))
}

/// A random (version 4, variant 10) UUID in its canonical text form.
pub fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, vals: &[Value]) -> Value {
        lookup(name).unwrap()(&Args { name, vals }).unwrap()
    }

    #[test]
    fn lengths_and_alphabets() {
        let s = call("randAlphaNum", &[Value::from(16)]);
        let s = s.as_str().unwrap();
        assert_eq!(s.len(), 16);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(call("randNumeric", &[Value::from(8)])
            .as_str()
            .unwrap()
            .bytes()
            .all(|b| b.is_ascii_digit()));
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(lookup("randAlpha").unwrap()(&Args {
            name: "randAlpha",
            vals: &[Value::from(-1)]
        })
        .is_err());
    }
}
