//! `images`: rewriting container image names, tags and digests.
//!
//! Like kustomize, images are found both at the configured field specs and in any
//! `containers` / `initContainers` list anywhere in a resource (custom kinds embed pod
//! specs too).

use regex::Regex;

use crate::kustomize::fieldspec::{visit, FieldSpec};
use crate::kustomize::kustomization::ImageArgs;
use crate::kustomize::resource::Resource;
use crate::kustomize::value::Value;

/// Applies one `images` entry to every resource.
pub fn apply(resources: &mut [Resource], image: &ImageArgs, specs: &[FieldSpec]) {
    let Ok(pattern) = Regex::new(&format!(
        "^{}(@sha256)?(:[a-zA-Z0-9_.{{}}-]*)?$",
        regex::escape(&image.name)
    )) else {
        return;
    };
    for r in resources.iter_mut() {
        update_containers(&mut r.value, image, &pattern);
        let gvk = r.gvk();
        for fs in specs {
            if !fs.selects(&gvk) {
                continue;
            }
            let _ = visit::<()>(&mut r.value, &fs.path, false, &mut |node| {
                rewrite(node, image, &pattern);
                Ok(())
            });
        }
    }
}

fn update_containers(v: &mut Value, image: &ImageArgs, pattern: &Regex) {
    match v {
        Value::Map(m) => {
            for (k, child) in m.iter_mut() {
                if k == "containers" || k == "initContainers" {
                    if let Value::Seq(items) = child {
                        for item in items.iter_mut() {
                            if let Some(img) = item.as_map_mut().and_then(|c| c.get_mut("image")) {
                                rewrite(img, image, pattern);
                            }
                        }
                    }
                }
                update_containers(child, image, pattern);
            }
        }
        Value::Seq(items) => {
            for item in items {
                update_containers(item, image, pattern);
            }
        }
        _ => {}
    }
}

fn rewrite(node: &mut Value, image: &ImageArgs, pattern: &Regex) {
    let Value::String(current) = node else { return };
    if !pattern.is_match(current) {
        return;
    }
    *current = updated(current, image);
}

/// Splits `name[:tag][@digest]` into name and the rest (with its separator).
fn split_image(s: &str) -> (&str, &str) {
    if let Some(at) = s.find('@') {
        return (&s[..at], &s[at..]);
    }
    let slash = s.rfind('/').map(|i| i + 1).unwrap_or(0);
    match s[slash..].rfind(':') {
        Some(c) => (&s[..slash + c], &s[slash + c..]),
        None => (s, ""),
    }
}

fn updated(current: &str, image: &ImageArgs) -> String {
    let (name, rest) = split_image(current);
    let mut tag = rest.to_string();
    if let Some(t) = image.new_tag.as_deref().filter(|t| !t.is_empty()) {
        tag = format!(":{t}");
    }
    if let Some(d) = image.digest.as_deref().filter(|d| !d.is_empty()) {
        tag = format!("@{d}");
    }
    if let Some(s) = image.tag_suffix.as_deref().filter(|s| !s.is_empty()) {
        tag.push_str(s);
    }
    let name = image
        .new_name
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(name);
    format!("{name}{tag}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(
        name: &str,
        new_name: Option<&str>,
        tag: Option<&str>,
        digest: Option<&str>,
    ) -> ImageArgs {
        ImageArgs {
            name: name.into(),
            new_name: new_name.map(Into::into),
            new_tag: tag.map(Into::into),
            digest: digest.map(Into::into),
            tag_suffix: None,
        }
    }

    #[test]
    fn rewrites_names_tags_and_digests() {
        assert_eq!(
            updated("nginx:1.0", &args("nginx", None, Some("2.0"), None)),
            "nginx:2.0"
        );
        assert_eq!(
            updated("nginx", &args("nginx", Some("my/nginx"), None, None)),
            "my/nginx"
        );
        assert_eq!(
            updated(
                "reg:5000/nginx:1",
                &args("reg:5000/nginx", None, None, Some("sha256:ab"))
            ),
            "reg:5000/nginx@sha256:ab"
        );
    }

    #[test]
    fn only_exact_image_names_match() {
        let pattern = Regex::new("^nginx(@sha256)?(:[a-zA-Z0-9_.{}-]*)?$").unwrap();
        assert!(pattern.is_match("nginx:1.0"));
        assert!(!pattern.is_match("nginx-proxy:1.0"));
    }
}
