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
        "^{}(:[a-zA-Z0-9_.{{}}-]*)?(@[a-zA-Z0-9]+([.+_-][a-zA-Z0-9]+)*:[a-zA-Z0-9_.{{}}-]*)?$",
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

/// Splits `name[:tag][@digest]`; a registry port (`host:5000/...`) stays in the name
/// because only what follows the first `/` is searched for the separators.
fn split_image(image: &str) -> (&str, &str, &str) {
    let from = match image.find('/') {
        Some(i) if i > 0 => i,
        _ => 0,
    };
    let search = &image[from..];
    let at = search.find('@').map(|i| i + from);
    let colon = search.find(':').map(|i| i + from);
    match (colon, at) {
        (None, None) => (image, "", ""),
        (None, Some(a)) => (&image[..a], "", &image[a + 1..]),
        (Some(c), Some(a)) if a < c => (&image[..a], "", &image[a + 1..]),
        (Some(c), Some(a)) => (&image[..c], &image[c + 1..a], &image[a + 1..]),
        (Some(c), None) => (&image[..c], &image[c + 1..], ""),
    }
}

/// The new image reference, as kustomize's image tag updater computes it.
fn updated(current: &str, image: &ImageArgs) -> String {
    let (name, mut tag, mut digest) = {
        let (n, t, d) = split_image(current);
        (n.to_string(), t.to_string(), d.to_string())
    };
    let nonempty = |o: &Option<String>| o.as_deref().filter(|s| !s.is_empty()).map(str::to_string);
    let (new_tag, new_digest, suffix) = (
        nonempty(&image.new_tag),
        nonempty(&image.digest),
        nonempty(&image.tag_suffix),
    );
    match (new_tag, new_digest, suffix) {
        (Some(t), Some(d), _) => {
            tag = t;
            digest = d;
        }
        (Some(t), None, _) => {
            tag = t;
            digest.clear();
        }
        (None, Some(d), _) => {
            tag.clear();
            digest = d;
        }
        (None, None, Some(s)) => {
            tag.push_str(&s);
            digest.clear();
        }
        (None, None, None) => {}
    }
    let mut out = nonempty(&image.new_name).unwrap_or(name);
    if !tag.is_empty() {
        out.push(':');
        out.push_str(&tag);
    }
    if !digest.is_empty() {
        out.push('@');
        out.push_str(&digest);
    }
    out
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
        // From `kubectl kustomize`: a new tag and a digest together keep both.
        assert_eq!(
            updated(
                "registry:5000/team/app:1.0",
                &args(
                    "registry:5000/team/app",
                    None,
                    Some("2.0"),
                    Some("sha256:def")
                )
            ),
            "registry:5000/team/app:2.0@sha256:def"
        );
    }

    #[test]
    fn only_exact_image_names_match() {
        let pattern = Regex::new(
            "^nginx(:[a-zA-Z0-9_.{}-]*)?(@[a-zA-Z0-9]+([.+_-][a-zA-Z0-9]+)*:[a-zA-Z0-9_.{}-]*)?$",
        )
        .unwrap();
        assert!(pattern.is_match("nginx:1.0@sha256:abc"));
        assert!(pattern.is_match("nginx:1.0"));
        assert!(!pattern.is_match("nginx-proxy:1.0"));
    }
}
