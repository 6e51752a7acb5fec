//! Fleet's bundle and release naming: a repo name joined with a path becomes a DNS-label-safe
//! Helm release name, shortened with an md5 suffix, exactly as `fleet apply` names bundles,
//! so a repo moved from Fleet keeps its bundle names.

use md5::{Digest, Md5};

/// Helm's limit on release names, which Fleet also applies to bundle names.
pub const MAX_HELM_RELEASE_NAME_LEN: usize = 53;

/// The first `len` hex digits of the md5 of `s` (Fleet's `names.Hex`).
///
/// Not a security measure: it only keeps shortened or cleaned-up names apart.
pub fn hex(s: &str, len: usize) -> String {
    let digest = hex::encode(Md5::digest(s.as_bytes()));
    digest[..len.min(digest.len())].to_string()
}

/// Shortens `s` to at most `count` bytes, replacing the tail by `-` and five hex digits of
/// its md5 so that two long names sharing a prefix stay distinct (Fleet's `names.Limit`).
///
/// When the cut ends on a `-`, that dash serves as the separator (the result is then one
/// byte shorter). When `count` cannot even hold the hash, the string is simply truncated.
/// Callers pass ASCII (every caller in this crate cleans the name first).
pub fn limit(s: &str, count: usize) -> String {
    const HEX_LEN: usize = 5;
    if s.len() <= count {
        return s.to_string();
    }
    if count <= HEX_LEN + 1 {
        return truncate_ascii(s, count);
    }
    let keep = count - HEX_LEN - 1;
    let head = truncate_ascii(s, keep);
    let separator = if head.ends_with('-') { "" } else { "-" };
    format!("{head}{separator}{}", hex(s, HEX_LEN))
}

fn truncate_ascii(s: &str, len: usize) -> String {
    s.char_indices()
        .take_while(|(i, c)| i + c.len_utf8() <= len)
        .map(|(_, c)| c)
        .collect()
}

fn is_disallowed(c: char) -> bool {
    !(c.is_ascii_alphanumeric() || c == '-')
}

/// Turns any string (typically `<repo name>/<bundle path>`) into a valid, unique Helm
/// release name (Fleet's `names.HelmReleaseName`).
///
/// Guarantees: the result is lower-case, RFC 1123 label safe and at most 53 characters.
/// When cleaning changed the input (upper case or characters outside `[a-zA-Z0-9-]`), an
/// 8-digit md5 of the `/`-replaced input is appended first so that `a/B` and `a-b` never
/// collide. When nothing valid remains, the name is 24 hex digits of the input's md5.
pub fn helm_release_name(input: &str) -> String {
    let mut s = input.replace('/', "-");
    let need_hex = s != s.to_lowercase() || s.chars().any(is_disallowed);
    if need_hex {
        s = format!("{s}-{}", hex(&s, 8));
    }
    let lowered = s.to_lowercase();
    let mut cleaned = String::with_capacity(lowered.len());
    for c in lowered.chars() {
        let c = if is_disallowed(c) { '-' } else { c };
        if c == '-' && cleaned.ends_with('-') {
            continue;
        }
        cleaned.push(c);
    }
    let cleaned = cleaned.trim_matches('-').to_string();
    if is_dns_label(&cleaned) {
        return limit(&cleaned, MAX_HELM_RELEASE_NAME_LEN);
    }
    tracing::debug!(
        input,
        "no valid bundle name could be derived, using a checksum"
    );
    hex(input, 24)
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`: after cleaning, only the emptiness and the ends matter.
fn is_dns_label(s: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (s.chars().next(), s.chars().last()) {
        (Some(first), Some(last)) => {
            ok_char(first) && ok_char(last) && s.chars().all(|c| ok_char(c) || c == '-')
        }
        _ => false,
    }
}

/// The bundle name for directory `path` (relative to the checkout, `.` for the root) of
/// the GitRepo `repo_name`, as `fleet apply` computes it: `HelmReleaseName(join(repo, path))`.
pub fn bundle_name(repo_name: &str, path: &str) -> String {
    let joined = join_clean(repo_name, path);
    helm_release_name(&joined)
}

/// `filepath.Join` for the relative, slash-separated paths we handle: drops `.` segments
/// and empty segments.
fn join_clean(a: &str, b: &str) -> String {
    a.split('/')
        .chain(b.split('/'))
        .filter(|seg| !seg.is_empty() && *seg != ".")
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_names_pass_through() {
        assert_eq!(bundle_name("test", "."), "test");
        assert_eq!(bundle_name("test", "guestbook"), "test-guestbook");
        assert_eq!(
            bundle_name("test", "rancher-monitoring-crd"),
            "test-rancher-monitoring-crd"
        );
        assert_eq!(bundle_name("repo", "./a/b/"), "repo-a-b");
    }

    #[test]
    fn disallowed_characters_get_a_hash_suffix() {
        let name = helm_release_name("repo/My_App");
        assert!(name.starts_with("repo-my-app-"), "{name}");
        assert_eq!(name.len(), "repo-my-app-".len() + 8);
        assert_ne!(helm_release_name("repo/my-app"), name);
        assert_eq!(name, format!("repo-my-app-{}", hex("repo-My_App", 8)));
    }

    #[test]
    fn long_names_are_limited_to_53_with_hash() {
        let long = format!("repo/{}", "a".repeat(80));
        let name = helm_release_name(&long);
        assert_eq!(name.len(), 53);
        assert!(name.ends_with(&hex(&long.replace('/', "-"), 5)));
        let other = helm_release_name(&format!("repo/{}b", "a".repeat(80)));
        assert_ne!(name, other);
    }

    #[test]
    fn limit_reuses_a_trailing_dash_as_separator() {
        // 47 characters are kept; make the 47th a dash.
        let s = format!("{}-{}", "a".repeat(46), "b".repeat(20));
        let out = limit(&s, 53);
        assert_eq!(out, format!("{}-{}", "a".repeat(46), hex(&s, 5)));
        assert_eq!(out.len(), 52);
        assert_eq!(limit("abcdefgh", 4), "abcd");
    }

    #[test]
    fn unusable_names_fall_back_to_a_checksum() {
        // Cleaning leaves only the hash suffix, which is a valid name.
        assert_eq!(helm_release_name("___"), hex("___", 8));
        assert_eq!(helm_release_name(""), hex("", 24));
    }
}
