//! Sprig's defaults and type tests (`default`, `empty`, `coalesce`, `ternary`,
//! `kindIs`, `typeOf`...) and Helm's `fail`, `required` and `lookup`.

use std::collections::BTreeMap;

use minijinja::Value;

use super::{Func, FuncError};
use crate::helm::template::value::{deep_equal, kind, kind_name, new_map, truth, type_name, Kind};

pub fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "default" => |a| {
            a.at_least(1)?;
            Ok(match a.vals.get(1) {
                Some(v) if truth(v) => v.clone(),
                _ => a.get(0).clone(),
            })
        },
        "empty" => |a| {
            a.arity(1)?;
            Ok(Value::from(!truth(a.get(0))))
        },
        "coalesce" => |a| {
            Ok(a.vals
                .iter()
                .find(|v| truth(v))
                .cloned()
                .unwrap_or_else(|| Value::from(())))
        },
        "all" => |a| Ok(Value::from(a.vals.iter().all(truth))),
        "any" => |a| Ok(Value::from(a.vals.iter().any(truth))),
        "ternary" => |a| {
            a.arity(3)?;
            Ok(if a.bool(2)? {
                a.get(0).clone()
            } else {
                a.get(1).clone()
            })
        },
        "kindOf" => |a| {
            a.arity(1)?;
            Ok(Value::from(kind_name(a.get(0))))
        },
        "kindIs" => |a| {
            a.arity(2)?;
            Ok(Value::from(a.str(0)? == kind_name(a.get(1))))
        },
        "typeOf" => |a| {
            a.arity(1)?;
            Ok(Value::from(type_name(a.get(0))))
        },
        "typeIs" => |a| {
            a.arity(2)?;
            Ok(Value::from(a.str(0)? == type_name(a.get(1))))
        },
        "typeIsLike" => |a| {
            a.arity(2)?;
            let t = type_name(a.get(1));
            let target = a.str(0)?;
            Ok(Value::from(target == t || target == format!("*{t}")))
        },
        "deepEqual" => |a| {
            a.arity(2)?;
            Ok(Value::from(deep_equal(a.get(0), a.get(1))))
        },
        "fail" => |a| {
            a.arity(1)?;
            Err(FuncError::Fail(a.string(0)?))
        },
        "required" => |a| {
            a.arity(2)?;
            let warn = a.string(0)?;
            let v = a.get(1);
            match kind(v) {
                Kind::Invalid | Kind::Nil => Err(FuncError::Fail(warn)),
                Kind::String if v.as_str() == Some("") => Err(FuncError::Fail(warn)),
                _ => Ok(v.clone()),
            }
        },
        // `helm template` talks to no cluster: every lookup finds nothing.
        "lookup" => |a| {
            a.arity(4)?;
            for i in 0..4 {
                a.str(i)?;
            }
            Ok(new_map(BTreeMap::new()))
        },
        // Helm disables DNS lookups unless asked.
        "getHostByName" => |a| {
            a.arity(1)?;
            a.str(0)?;
            Ok(Value::from(""))
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helm::funcs::Args;
    use crate::helm::template::value::int64;

    fn call(name: &str, vals: &[Value]) -> Result<Value, FuncError> {
        lookup(name).unwrap()(&Args { name, vals })
    }

    #[test]
    fn default_uses_the_fallback_for_empty_values() {
        assert_eq!(
            call("default", &[Value::from("d")]).unwrap(),
            Value::from("d")
        );
        assert_eq!(
            call("default", &[Value::from("d"), Value::from(0)]).unwrap(),
            Value::from("d")
        );
        assert_eq!(
            call("default", &[Value::from("d"), Value::from(false)]).unwrap(),
            Value::from("d")
        );
        assert_eq!(
            call("default", &[Value::from("d"), Value::from("x")]).unwrap(),
            Value::from("x")
        );
    }

    #[test]
    fn kinds_and_types() {
        assert_eq!(
            call("kindOf", &[Value::from(1.0)]).unwrap(),
            Value::from("float64")
        );
        assert_eq!(call("typeOf", &[int64(1)]).unwrap(), Value::from("int64"));
        assert_eq!(
            call(
                "kindIs",
                &[Value::from("slice"), Value::from(vec![Value::from(1)])]
            )
            .unwrap(),
            Value::from(true)
        );
        assert_eq!(
            call("kindOf", &[Value::from(())]).unwrap(),
            Value::from("invalid")
        );
    }

    #[test]
    fn required_and_fail_carry_the_message() {
        assert_eq!(
            call("required", &[Value::from("need x"), Value::from("")]).unwrap_err(),
            FuncError::Fail("need x".into())
        );
        assert_eq!(
            call("required", &[Value::from("need x"), Value::from(0)]).unwrap(),
            Value::from(0)
        );
        assert_eq!(
            call("fail", &[Value::from("boom")]).unwrap_err(),
            FuncError::Fail("boom".into())
        );
    }

    #[test]
    fn ternary_needs_a_bool() {
        assert_eq!(
            call(
                "ternary",
                &[Value::from("a"), Value::from("b"), Value::from(true)]
            )
            .unwrap(),
            Value::from("a")
        );
        assert!(call(
            "ternary",
            &[Value::from("a"), Value::from("b"), Value::from("yes")]
        )
        .is_err());
    }
}
