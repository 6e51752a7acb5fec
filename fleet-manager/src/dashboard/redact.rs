//! Scrubbing of text shown by the dashboard and `status`: credentials must never reach a
//! page, even when they sit inside a repository URL or an error message quoting one.

/// `text` with the user-info of every URL (`https://user:token@host`) and every bearer
/// token replaced by `***`.
///
/// GitRepo URLs may carry credentials in their user-info, and fetch errors from libgit2
/// quote the URL they failed on, so both are passed through here before display.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (before, after) = rest.split_at(i + 3);
        out.push_str(before);
        // The authority ends at the first '/', '?', '#' or whitespace.
        let end = after
            .find(|c: char| {
                c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"' || c == '\''
            })
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    redact_bearer(&out)
}

/// Replaces the word after `Bearer ` (any case) with `***`.
fn redact_bearer(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut search = 0;
    while let Some(pos) = lower[search..].find("bearer ") {
        let start = search + pos + "bearer ".len();
        let end = text[start..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .map_or(text.len(), |e| start + e);
        out.push_str(&text[last..start]);
        if end > start {
            out.push_str("***");
        }
        last = end;
        search = end.max(start);
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_removed() {
        assert_eq!(
            redact("https://user:s3cret@git.example.org/org/repo"),
            "https://***@git.example.org/org/repo"
        );
        assert_eq!(
            redact("failed to fetch 'https://tok@h/r.git': 401 and ssh://git@host:22/x"),
            "failed to fetch 'https://***@h/r.git': 401 and ssh://***@host:22/x"
        );
        assert_eq!(redact("https://example.org/a@b"), "https://example.org/a@b");
        assert_eq!(redact("no url here"), "no url here");
    }

    #[test]
    fn bearer_tokens_are_removed() {
        assert_eq!(
            redact("sent Authorization: Bearer abc.def to x"),
            "sent Authorization: Bearer *** to x"
        );
        assert_eq!(redact("bearer"), "bearer");
    }
}
