//! Sprig's arithmetic: integer math over `int64` (arguments converted the way
//! `spf13/cast` converts them), float math (`addf`, `mulf`, `divf`...) in exact decimal
//! like `shopspring/decimal`, and the conversions `int`, `int64`, `float64`, `atoi`.

use minijinja::Value;

use super::{Args, Func, FuncError};
use crate::helm::template::value::{as_float, as_int, int64, kind, shortest_digits, Kind};

pub fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "add" => |a| {
            Ok(int64(
                a.vals.iter().map(to_int64).fold(0i64, i64::wrapping_add),
            ))
        },
        "add1" => |a| {
            a.arity(1)?;
            Ok(int64(to_int64(a.get(0)).wrapping_add(1)))
        },
        "sub" => |a| {
            a.arity(2)?;
            Ok(int64(to_int64(a.get(0)).wrapping_sub(to_int64(a.get(1)))))
        },
        "mul" => |a| {
            a.at_least(1)?;
            Ok(int64(
                a.vals.iter().map(to_int64).fold(1i64, i64::wrapping_mul),
            ))
        },
        "div" => |a| {
            a.arity(2)?;
            let d = to_int64(a.get(1));
            if d == 0 {
                return Err(FuncError::Call(
                    "runtime error: integer divide by zero".into(),
                ));
            }
            Ok(int64(to_int64(a.get(0)).wrapping_div(d)))
        },
        "mod" => |a| {
            a.arity(2)?;
            let d = to_int64(a.get(1));
            if d == 0 {
                return Err(FuncError::Call(
                    "runtime error: integer divide by zero".into(),
                ));
            }
            Ok(int64(to_int64(a.get(0)).wrapping_rem(d)))
        },
        "max" | "biggest" => |a| {
            a.at_least(1)?;
            Ok(int64(a.vals.iter().map(to_int64).max().unwrap_or(0)))
        },
        "min" => |a| {
            a.at_least(1)?;
            Ok(int64(a.vals.iter().map(to_int64).min().unwrap_or(0)))
        },
        "maxf" => |a| {
            a.at_least(1)?;
            Ok(Value::from(
                a.vals
                    .iter()
                    .map(to_float64)
                    .fold(f64::NEG_INFINITY, f64::max),
            ))
        },
        "minf" => |a| {
            a.at_least(1)?;
            Ok(Value::from(
                a.vals.iter().map(to_float64).fold(f64::INFINITY, f64::min),
            ))
        },
        "floor" => |a| {
            a.arity(1)?;
            Ok(Value::from(to_float64(a.get(0)).floor()))
        },
        "ceil" => |a| {
            a.arity(1)?;
            Ok(Value::from(to_float64(a.get(0)).ceil()))
        },
        "round" => |a| {
            a.at_least(2)?;
            let val = to_float64(a.get(0));
            let places = a.int(1)? as f64;
            let round_on = if a.len() > 2 { a.float(2)? } else { 0.5 };
            let pow = 10f64.powf(places);
            let digit = pow * val;
            let frac = digit.fract();
            let r = if frac >= round_on {
                digit.ceil()
            } else {
                digit.floor()
            };
            Ok(Value::from(r / pow))
        },
        "int" => |a| {
            a.arity(1)?;
            Ok(Value::from(to_int64(a.get(0))))
        },
        "int64" => |a| {
            a.arity(1)?;
            Ok(int64(to_int64(a.get(0))))
        },
        "float64" => |a| {
            a.arity(1)?;
            Ok(Value::from(to_float64(a.get(0))))
        },
        "atoi" => |a| {
            a.arity(1)?;
            Ok(Value::from(a.str(0)?.parse::<i64>().unwrap_or(0)))
        },
        "toDecimal" => |a| {
            a.arity(1)?;
            Ok(int64(
                i64::from_str_radix(&super::strval(a.get(0)), 8).unwrap_or(0),
            ))
        },
        "addf" => |a| Ok(fold_dec(a, Dec::add)),
        "add1f" => |a| {
            a.arity(1)?;
            Ok(Value::from(
                Dec::from_f64(to_float64(a.get(0)))
                    .add(&Dec::from_f64(1.0))
                    .to_f64(),
            ))
        },
        "subf" => |a| {
            a.at_least(1)?;
            Ok(fold_dec(a, Dec::sub))
        },
        "mulf" => |a| {
            a.at_least(1)?;
            Ok(fold_dec(a, Dec::mul))
        },
        "divf" => |a| {
            a.at_least(1)?;
            let mut acc = Dec::from_f64(to_float64(a.get(0)));
            for v in &a.vals[1..] {
                let d = to_float64(v);
                if d == 0.0 {
                    return Err(FuncError::Call("decimal division by 0".into()));
                }
                acc = Dec::from_f64(acc.to_f64() / d).round_to(16);
                acc = Dec::from_f64(acc.to_f64());
            }
            Ok(Value::from(acc.to_f64()))
        },
        _ => return None,
    })
}

fn fold_dec(a: &Args, op: fn(&Dec, &Dec) -> Dec) -> Value {
    let mut it = a.vals.iter().map(|v| Dec::from_f64(to_float64(v)));
    let Some(mut acc) = it.next() else {
        return Value::from(0.0);
    };
    for d in it {
        acc = op(&acc, &d);
    }
    Value::from(acc.to_f64())
}

/// `cast.ToInt64`: numbers truncated, numeric strings parsed (base prefixes allowed),
/// booleans 1/0, anything else 0.
pub fn to_int64(v: &Value) -> i64 {
    match kind(v) {
        Kind::Int | Kind::Int64 => as_int(v).unwrap_or(0),
        Kind::Float => as_float(v).unwrap_or(0.0) as i64,
        Kind::Bool => i64::from(v.is_true()),
        Kind::String => parse_int_str(v.as_str().unwrap_or("")).unwrap_or(0),
        _ => 0,
    }
}

fn parse_int_str(s: &str) -> Option<i64> {
    // cast trims a zero decimal part ("8.0" → "8") before parsing.
    let s = match s.split_once('.') {
        Some((i, f)) if !f.is_empty() && f.bytes().all(|b| b == b'0') => i,
        _ => s,
    };
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let body = body.replace('_', "");
    let n = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        i64::from_str_radix(b, 2).ok()?
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(&body[1..], 8).ok()?
    } else {
        body.parse().ok()?
    };
    Some(if neg { -n } else { n })
}

/// `cast.ToFloat64`.
pub fn to_float64(v: &Value) -> f64 {
    match kind(v) {
        Kind::Int | Kind::Int64 | Kind::Float => as_float(v).unwrap_or(0.0),
        Kind::Bool => f64::from(u8::from(v.is_true())),
        Kind::String => v.as_str().unwrap_or("").parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// An exact decimal `mantissa × 10^exp`, enough of `shopspring/decimal` for Sprig's
/// float functions (which is why `mulf 0.1 3` is 0.3, not 0.30000000000000004).
#[derive(Debug, Clone, Copy)]
struct Dec {
    mant: i128,
    exp: i32,
}

impl Dec {
    fn from_f64(f: f64) -> Dec {
        if f == 0.0 || !f.is_finite() {
            return Dec { mant: 0, exp: 0 };
        }
        let (neg, digits, e) = shortest_digits(f);
        let mant: i128 = digits.parse().unwrap_or(0);
        let exp = e - (digits.len() as i32 - 1);
        Dec {
            mant: if neg { -mant } else { mant },
            exp,
        }
    }

    fn align(a: &Dec, b: &Dec) -> Option<(i128, i128, i32)> {
        let exp = a.exp.min(b.exp);
        let sa = 10i128.checked_pow((a.exp - exp) as u32)?;
        let sb = 10i128.checked_pow((b.exp - exp) as u32)?;
        Some((a.mant.checked_mul(sa)?, b.mant.checked_mul(sb)?, exp))
    }

    fn add(&self, o: &Dec) -> Dec {
        match Self::align(self, o).and_then(|(x, y, e)| {
            Some(Dec {
                mant: x.checked_add(y)?,
                exp: e,
            })
        }) {
            Some(d) => d,
            None => Dec::from_f64(self.to_f64() + o.to_f64()),
        }
    }

    fn sub(&self, o: &Dec) -> Dec {
        self.add(&Dec {
            mant: -o.mant,
            exp: o.exp,
        })
    }

    fn mul(&self, o: &Dec) -> Dec {
        match self.mant.checked_mul(o.mant) {
            Some(m) => Dec {
                mant: m,
                exp: self.exp + o.exp,
            },
            None => Dec::from_f64(self.to_f64() * o.to_f64()),
        }
    }

    /// Rounds half away from zero to `places` decimals.
    fn round_to(&self, places: i32) -> Dec {
        if -self.exp <= places {
            return *self;
        }
        let drop = (-self.exp - places) as u32;
        let Some(div) = 10i128.checked_pow(drop) else {
            return Dec {
                mant: 0,
                exp: -places,
            };
        };
        let q = self.mant / div;
        let r = (self.mant % div).abs();
        let q = if r * 2 >= div {
            q + self.mant.signum()
        } else {
            q
        };
        Dec {
            mant: q,
            exp: -places,
        }
    }

    fn to_f64(self) -> f64 {
        format!("{}e{}", self.mant, self.exp).parse().unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helm::template::value::{fmt_v, type_name};

    fn call(name: &str, vals: &[Value]) -> Result<Value, FuncError> {
        lookup(name).unwrap()(&Args { name, vals })
    }

    #[test]
    fn integer_math_converts_like_cast() {
        assert_eq!(
            fmt_v(&call("add", &[Value::from(1), Value::from(2.7), Value::from("3")]).unwrap()),
            "6"
        );
        assert_eq!(
            type_name(&call("add1", &[Value::from(1)]).unwrap()),
            "int64"
        );
        assert_eq!(
            fmt_v(&call("div", &[Value::from(7), Value::from(2)]).unwrap()),
            "3"
        );
        assert!(call("div", &[Value::from(7), Value::from(0)]).is_err());
        assert_eq!(fmt_v(&call("int", &[Value::from("0x10")]).unwrap()), "16");
        assert_eq!(type_name(&call("int", &[Value::from(2.9)]).unwrap()), "int");
        assert_eq!(
            fmt_v(&call("max", &[Value::from(1), Value::from(5.0), Value::from(3)]).unwrap()),
            "5"
        );
    }

    #[test]
    fn float_math_is_decimal() {
        assert_eq!(
            fmt_v(&call("mulf", &[Value::from(0.1), Value::from(3)]).unwrap()),
            "0.3"
        );
        assert_eq!(
            fmt_v(&call("addf", &[Value::from(0.1), Value::from(0.2)]).unwrap()),
            "0.3"
        );
        assert_eq!(
            fmt_v(&call("divf", &[Value::from(1), Value::from(3)]).unwrap()),
            "0.3333333333333333"
        );
        assert_eq!(
            fmt_v(&call("round", &[Value::from(2.71849), Value::from(2)]).unwrap()),
            "2.72"
        );
        assert_eq!(fmt_v(&call("floor", &[Value::from(3.7)]).unwrap()), "3");
    }
}
