//! Signed commits: a GitRepo with `spec.verify` only has commits built whose signature
//! checks against the signers it allows; an unsigned commit, or one signed by a key not
//! allowed, never becomes bundles, and its status names the commit and the key.
//!
//! SSH signatures (`gpg.format=ssh`) are checked as `git verify-commit` does with
//! `gpg.ssh.allowedSignersFile`: the signature's namespace must be `git`, its key must be
//! listed for that namespace in the allowed-signers text (OpenSSH's `allowed_signers`
//! format), and the signature must cover the commit object without its `gpgsig` header.

use std::fmt;

use serde::{Deserialize, Serialize};
use ssh_key::{HashAlg, PublicKey, SshSig};

/// The namespace git signs commits and tags in.
const GIT_NAMESPACE: &str = "git";

/// `GitRepoSpec.verify`: who may sign the commits this GitRepo builds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifySpec {
    /// OpenSSH `allowed_signers` lines: `PRINCIPALS [OPTIONS] KEYTYPE BASE64 [COMMENT]`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub allowed_signers: String,
}

/// One allowed signer: the principals it is known as and its key.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowedSigner {
    pub principals: String,
    pub key: PublicKey,
}

/// Why a commit may not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// `spec.verify.allowedSigners` cannot be read.
    #[error("spec.verify.allowedSigners line {line}: {message}")]
    Signers { line: usize, message: String },
    /// The commit carries no signature.
    #[error("commit {commit} is not signed; this GitRepo builds only commits signed by a key in spec.verify.allowedSigners")]
    Unsigned { commit: String },
    /// The commit's signature is not an SSH signature we can check.
    #[error("commit {commit} has a signature that is not an SSH signature ({detail}); sign commits with gpg.format=ssh")]
    Unsupported { commit: String, detail: String },
    /// Signed, but by a key that is not allowed.
    #[error("commit {commit} is signed by key {key}, which is not in spec.verify.allowedSigners")]
    UnknownKey { commit: String, key: String },
    /// The signature does not match the commit (content changed after signing, or forged).
    #[error("commit {commit}: the signature by key {key} ({principals}) does not match the commit's content")]
    BadSignature {
        commit: String,
        key: String,
        principals: String,
    },
    /// The commit object cannot be read from the repository.
    #[error("commit {commit} cannot be read: {message}")]
    Read { commit: String, message: String },
}

/// Who signed a verified commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    pub principals: String,
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
}

impl fmt::Display for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.principals, self.fingerprint)
    }
}

/// Reads OpenSSH `allowed_signers` text. Blank lines and `#` comments are skipped;
/// signers restricted by `namespaces=` to other namespaces than `git` are left out;
/// `cert-authority` entries are refused (certificates are not supported).
pub fn parse_allowed_signers(text: &str) -> Result<Vec<AllowedSigner>, VerifyError> {
    let mut signers = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |message: String| VerifyError::Signers {
            line: i + 1,
            message,
        };
        let (principals, rest) = split_token(line);
        if rest.is_empty() {
            return Err(err(
                "expected `PRINCIPALS [OPTIONS] KEYTYPE BASE64`, found only one field".into(),
            ));
        }
        let (options, key_text) = if looks_like_key_type(split_token(rest).0) {
            ("", rest)
        } else {
            split_token(rest)
        };
        let mut for_git = true;
        for option in split_options(options) {
            let (name, value) = option.split_once('=').unwrap_or((option, ""));
            match name.to_ascii_lowercase().as_str() {
                "cert-authority" => return Err(err(
                    "cert-authority signers are not supported; list the signing keys themselves"
                        .into(),
                )),
                "namespaces" => {
                    for_git = value
                        .trim_matches('"')
                        .split(',')
                        .any(|n| n.trim() == GIT_NAMESPACE);
                }
                _ => {}
            }
        }
        let key = PublicKey::from_openssh(key_text)
            .map_err(|e| err(format!("the public key cannot be read: {e}")))?;
        if for_git {
            signers.push(AllowedSigner {
                principals: principals.to_string(),
                key,
            });
        }
    }
    Ok(signers)
}

/// Splits off the first whitespace-separated token, honouring double quotes.
fn split_token(s: &str) -> (&str, &str) {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return (&s[..i], s[i..].trim_start()),
            _ => {}
        }
    }
    (s, "")
}

/// Splits `opt1,opt2="a,b"` on commas outside quotes.
fn split_options(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

fn looks_like_key_type(token: &str) -> bool {
    token.starts_with("ssh-") || token.starts_with("ecdsa-") || token.starts_with("sk-")
}

/// Checks that `commit` in `repo` is signed by one of `spec`'s allowed signers.
pub fn verify_commit(
    repo: &git2::Repository,
    commit: git2::Oid,
    spec: &VerifySpec,
) -> Result<Signer, VerifyError> {
    let signers = parse_allowed_signers(&spec.allowed_signers)?;
    let id = commit.to_string();
    let (signature, signed) = match repo.extract_signature(&commit, None) {
        Ok(parts) => parts,
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            return Err(VerifyError::Unsigned { commit: id })
        }
        Err(e) => {
            return Err(VerifyError::Read {
                commit: id,
                message: e.message().to_string(),
            })
        }
    };
    let signature = String::from_utf8_lossy(&signature);
    verify_signed_data(&id, &signature, &signed, &signers)
}

/// Checks one SSH signature over `signed` against `signers`.
pub fn verify_signed_data(
    commit: &str,
    signature: &str,
    signed: &[u8],
    signers: &[AllowedSigner],
) -> Result<Signer, VerifyError> {
    let commit = commit.to_string();
    if !signature
        .trim_start()
        .starts_with("-----BEGIN SSH SIGNATURE-----")
    {
        let detail = signature
            .lines()
            .next()
            .unwrap_or("empty")
            .trim()
            .to_string();
        return Err(VerifyError::Unsupported { commit, detail });
    }
    let sig = SshSig::from_pem(signature.trim()).map_err(|e| VerifyError::Unsupported {
        commit: commit.clone(),
        detail: format!("unreadable SSH signature: {e}"),
    })?;
    let fingerprint = sig.public_key().fingerprint(HashAlg::Sha256).to_string();
    let Some(signer) = signers
        .iter()
        .find(|s| s.key.key_data() == sig.public_key())
    else {
        return Err(VerifyError::UnknownKey {
            commit,
            key: fingerprint,
        });
    };
    signer
        .key
        .verify(GIT_NAMESPACE, signed, &sig)
        .map_err(|_| VerifyError::BadSignature {
            commit,
            key: fingerprint.clone(),
            principals: signer.principals.clone(),
        })?;
    Ok(Signer {
        principals: signer.principals.clone(),
        fingerprint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    fn run(dir: &Path, cmd: &str, args: &[&str]) -> String {
        let out = Command::new(cmd)
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A fresh ed25519 key pair; returns (private key path, public key line).
    fn keypair(dir: &Path, name: &str) -> (String, String) {
        let path = dir.join(name);
        run(
            dir,
            "ssh-keygen",
            &[
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                name,
                "-f",
                path.to_str().unwrap(),
            ],
        );
        let public = std::fs::read_to_string(dir.join(format!("{name}.pub"))).unwrap();
        (path.display().to_string(), public.trim().to_string())
    }

    /// A repository with one commit, signed with `key` when given.
    fn repo_with_commit(dir: &Path, key: Option<&str>) -> (git2::Repository, git2::Oid) {
        let work = dir.join("repo");
        std::fs::create_dir_all(&work).unwrap();
        run(&work, "git", &["init", "-q", "-b", "main"]);
        std::fs::write(work.join("a.yaml"), "kind: ConfigMap\n").unwrap();
        run(&work, "git", &["add", "."]);
        let mut args = vec![
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "gpg.format=ssh",
        ];
        let signing_key = key.map(|k| format!("user.signingkey={k}"));
        if let Some(k) = &signing_key {
            args.extend(["-c", k.as_str(), "commit", "-q", "-S", "-m", "one"]);
        } else {
            args.extend(["commit", "-q", "-m", "one"]);
        }
        run(&work, "git", &args);
        let repo = git2::Repository::open(&work).unwrap();
        let head = repo.head().unwrap().target().unwrap();
        (repo, head)
    }

    fn spec(lines: &[String]) -> VerifySpec {
        VerifySpec {
            allowed_signers: lines.join("\n"),
        }
    }

    #[test]
    fn a_commit_signed_by_an_allowed_key_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = keypair(dir.path(), "alice");
        let (repo, commit) = repo_with_commit(dir.path(), Some(&key));
        let signer = verify_commit(
            &repo,
            commit,
            &spec(&[format!("alice@example.com {public}")]),
        )
        .unwrap();
        assert_eq!(signer.principals, "alice@example.com");
        assert!(signer.fingerprint.starts_with("SHA256:"), "{signer}");
    }

    #[test]
    fn an_unsigned_commit_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let (_, public) = keypair(dir.path(), "alice");
        let (repo, commit) = repo_with_commit(dir.path(), None);
        let err = verify_commit(&repo, commit, &spec(&[format!("alice {public}")])).unwrap_err();
        assert_eq!(
            err,
            VerifyError::Unsigned {
                commit: commit.to_string()
            }
        );
        assert!(err.to_string().contains(&commit.to_string()));
    }

    #[test]
    fn a_key_not_allowed_is_refused_naming_its_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let (_, alice) = keypair(dir.path(), "alice");
        let (mallory_key, mallory) = keypair(dir.path(), "mallory");
        let (repo, commit) = repo_with_commit(dir.path(), Some(&mallory_key));
        let err = verify_commit(&repo, commit, &spec(&[format!("alice {alice}")])).unwrap_err();
        let want = PublicKey::from_openssh(&mallory)
            .unwrap()
            .fingerprint(HashAlg::Sha256)
            .to_string();
        assert_eq!(
            err,
            VerifyError::UnknownKey {
                commit: commit.to_string(),
                key: want
            }
        );
    }

    #[test]
    fn content_changed_after_signing_does_not_verify() {
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = keypair(dir.path(), "alice");
        let (repo, commit) = repo_with_commit(dir.path(), Some(&key));
        let (signature, signed) = repo.extract_signature(&commit, None).unwrap();
        let signers = parse_allowed_signers(&format!("alice {public}")).unwrap();
        let mut tampered = signed.to_vec();
        let at = tampered.iter().position(|b| *b == b'\n').unwrap() - 1;
        tampered[at] ^= 1;
        let err = verify_signed_data(
            &commit.to_string(),
            &String::from_utf8_lossy(&signature),
            &tampered,
            &signers,
        )
        .unwrap_err();
        assert!(matches!(err, VerifyError::BadSignature { .. }), "{err:?}");
    }

    #[test]
    fn signers_for_other_namespaces_do_not_count_for_git() {
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = keypair(dir.path(), "alice");
        let (repo, commit) = repo_with_commit(dir.path(), Some(&key));
        let only_files = spec(&[format!("alice namespaces=\"file,email\" {public}")]);
        assert!(matches!(
            verify_commit(&repo, commit, &only_files),
            Err(VerifyError::UnknownKey { .. })
        ));
        let with_git = spec(&[
            "# team keys".to_string(),
            String::new(),
            format!("alice,bob namespaces=\"file,git\" {public}"),
        ]);
        assert_eq!(
            verify_commit(&repo, commit, &with_git).unwrap().principals,
            "alice,bob"
        );
    }

    #[test]
    fn a_pgp_signature_is_named_unsupported() {
        let err = verify_signed_data(
            "abc",
            "-----BEGIN PGP SIGNATURE-----\n\nxx\n-----END PGP SIGNATURE-----\n",
            b"tree",
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("BEGIN PGP SIGNATURE"), "{err}");
    }

    #[test]
    fn bad_allowed_signers_lines_name_the_line() {
        let err = parse_allowed_signers("# ok\nalice ssh-ed25519 notbase64!").unwrap_err();
        assert!(
            matches!(err, VerifyError::Signers { line: 2, .. }),
            "{err:?}"
        );
        let err = parse_allowed_signers("alice").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        let err =
            parse_allowed_signers("alice cert-authority ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO")
                .unwrap_err();
        assert!(err.to_string().contains("cert-authority"), "{err}");
    }
}
