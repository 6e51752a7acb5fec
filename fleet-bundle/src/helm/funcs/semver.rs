//! Sprig's `semver` and `semverCompare`, on the Masterminds semver rules that chart
//! loading already implements in [`crate::helm::constraint`].

use minijinja::Value;

use super::{Func, FuncError};
use crate::helm::constraint::{Constraint, Version};
use crate::helm::template::value::{new_struct, GoFields};

pub fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "semver" => |a| {
            a.arity(1)?;
            let v = parse_version(a.str(0)?)?;
            Ok(new_struct(SemVer(v)))
        },
        "semverCompare" => |a| {
            a.arity(2)?;
            let c = Constraint::parse(a.str(0)?).map_err(|e| FuncError::Call(e.to_string()))?;
            let v = parse_version(a.str(1)?)?;
            Ok(Value::from(c.matches(&v)))
        },
        _ => return None,
    })
}

fn parse_version(s: &str) -> Result<Version, FuncError> {
    Version::parse(s).map_err(|_| FuncError::Call("Invalid Semantic Version".into()))
}

/// Masterminds' `*semver.Version` as templates see it (methods `Major`, `Minor`...).
#[derive(Debug)]
struct SemVer(Version);

impl GoFields for SemVer {
    fn type_name(&self) -> &'static str {
        "*semver.Version"
    }

    fn field(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let v = &self.0;
        let no_args = |val: Value| {
            if args.is_empty() {
                Ok(val)
            } else {
                Err(format!(
                    "wrong number of args for {name}: want 0 got {}",
                    args.len()
                ))
            }
        };
        Some(match name {
            "Major" => no_args(Value::from(v.major)),
            "Minor" => no_args(Value::from(v.minor)),
            "Patch" => no_args(Value::from(v.patch)),
            "Prerelease" => no_args(Value::from(v.pre.as_str())),
            "Metadata" => no_args(Value::from(v.build.as_str())),
            "Original" => no_args(Value::from(v.original())),
            "String" => no_args(Value::from(v.to_string())),
            _ => return None,
        })
    }

    fn display(&self) -> String {
        self.0.to_string()
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(self.0.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helm::funcs::Args;

    fn call(name: &str, vals: &[Value]) -> Result<Value, FuncError> {
        lookup(name).unwrap()(&Args { name, vals })
    }

    #[test]
    fn compares_with_masterminds_ranges() {
        let yes = |c: &str, v: &str| {
            call("semverCompare", &[Value::from(c), Value::from(v)]).unwrap() == Value::from(true)
        };
        assert!(yes(">=1.19-0", "v1.31.0"));
        assert!(yes("^1.2", "1.9.1"));
        assert!(!yes(">=1.21", "1.20.5"));
        assert!(!yes(">=1.19", "1.31.0-gke.1"));
        assert!(yes(">=1.19-0", "1.31.0-gke.1"));
        assert!(call("semverCompare", &[Value::from(">=1"), Value::from("x.y")]).is_err());
    }

    #[test]
    fn semver_exposes_parts() {
        let v = call("semver", &[Value::from("v1.31.2-rc.1")]).unwrap();
        let s = v
            .downcast_object_ref::<crate::helm::template::value::GoStruct>()
            .unwrap();
        assert_eq!(s.0.field("Minor", &[]).unwrap().unwrap(), Value::from(31));
        assert_eq!(
            s.0.field("Prerelease", &[]).unwrap().unwrap(),
            Value::from("rc.1")
        );
    }
}
