//! Bundle content: how files are encoded into [`BundleResource`]s (`""`, `base64`,
//! `base64+gz`, as Fleet writes them) and materialised back into a directory.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;

use crate::bundle::BundleResource;

/// Why a resource could not be decoded or written.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("resource {name}: invalid base64: {source}")]
    Base64 {
        name: String,
        #[source]
        source: base64::DecodeError,
    },
    #[error("resource {name}: invalid gzip data: {source}")]
    Gzip {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("resource {name}: unknown encoding {encoding:?} (expected \"\", \"base64\" or \"base64+gz\")")]
    Encoding { name: String, encoding: String },
    #[error("resource {name:?}: name must be a relative path inside the bundle")]
    UnsafeName { name: String },
    #[error("resource {name}: decompressed content exceeds {limit} bytes")]
    TooLarge { name: String, limit: u64 },
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Largest decompressed resource accepted, so a gzip bomb cannot exhaust memory.
pub const MAX_DECODED_BYTES: u64 = 256 * 1024 * 1024;

/// Encodes one file as Fleet does: plain text when UTF-8 and not `compress`, else
/// `base64+gz`.
pub fn encode_resource(name: &str, data: &[u8], compress: bool) -> BundleResource {
    match std::str::from_utf8(data) {
        Ok(text) if !compress => BundleResource {
            name: name.to_string(),
            content: text.to_string(),
            encoding: String::new(),
        },
        _ => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            // Writing into a Vec cannot fail.
            let _ = gz.write_all(data);
            let bytes = gz.finish().unwrap_or_default();
            BundleResource {
                name: name.to_string(),
                content: base64::engine::general_purpose::STANDARD.encode(bytes),
                encoding: "base64+gz".to_string(),
            }
        }
    }
}

/// The bytes of a resource, whatever its encoding.
pub fn decode_resource(resource: &BundleResource) -> Result<Vec<u8>, ContentError> {
    let name = || resource.name.clone();
    match resource.encoding.as_str() {
        "" => Ok(resource.content.as_bytes().to_vec()),
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(resource.content.trim())
            .map_err(|source| ContentError::Base64 {
                name: name(),
                source,
            }),
        "base64+gz" => {
            let compressed = base64::engine::general_purpose::STANDARD
                .decode(resource.content.trim())
                .map_err(|source| ContentError::Base64 {
                    name: name(),
                    source,
                })?;
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&compressed[..])
                .take(MAX_DECODED_BYTES + 1)
                .read_to_end(&mut out)
                .map_err(|source| ContentError::Gzip {
                    name: name(),
                    source,
                })?;
            if out.len() as u64 > MAX_DECODED_BYTES {
                return Err(ContentError::TooLarge {
                    name: name(),
                    limit: MAX_DECODED_BYTES,
                });
            }
            Ok(out)
        }
        other => Err(ContentError::Encoding {
            name: name(),
            encoding: other.to_string(),
        }),
    }
}

/// Writes every resource under `dir` (created if needed), as the agent materialises a
/// content blob before rendering it.
///
/// Guarantees: nothing is written outside `dir`: a name that is absolute or climbs with
/// `..` fails with [`ContentError::UnsafeName`] before anything is written.
pub fn write_bundle_dir(resources: &[BundleResource], dir: &Path) -> Result<(), ContentError> {
    for r in resources {
        if r.name.is_empty() || !crate::scan::is_safe_relative(&r.name) {
            return Err(ContentError::UnsafeName {
                name: r.name.clone(),
            });
        }
    }
    for r in resources {
        let data = decode_resource(r)?;
        let path = dir.join(&r.name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| ContentError::Write {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&path, data).map_err(|source| ContentError::Write { path, source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_stays_text_binary_is_compressed() {
        let r = encode_resource("a.yaml", b"kind: A\n", false);
        assert_eq!(r.encoding, "");
        assert_eq!(decode_resource(&r).unwrap(), b"kind: A\n");
        let bin = encode_resource("x.bin", &[0xff, 0x00, 0x80], false);
        assert_eq!(bin.encoding, "base64+gz");
        assert_eq!(decode_resource(&bin).unwrap(), vec![0xff, 0x00, 0x80]);
        let forced = encode_resource("a.yaml", b"kind: A\n", true);
        assert_eq!(forced.encoding, "base64+gz");
        assert_eq!(decode_resource(&forced).unwrap(), b"kind: A\n");
    }

    #[test]
    fn compression_is_deterministic() {
        assert_eq!(
            encode_resource("a", b"same", true),
            encode_resource("a", b"same", true)
        );
    }

    #[test]
    fn bad_encodings_name_the_resource() {
        let r = BundleResource {
            name: "x".into(),
            content: "!!!".into(),
            encoding: "base64".into(),
        };
        assert!(decode_resource(&r)
            .unwrap_err()
            .to_string()
            .contains("resource x"));
        let r = BundleResource {
            name: "y".into(),
            content: "abc".into(),
            encoding: "rot13".into(),
        };
        assert!(matches!(
            decode_resource(&r),
            Err(ContentError::Encoding { .. })
        ));
    }

    #[test]
    fn writing_refuses_escaping_names() {
        let tmp = tempfile::tempdir().unwrap();
        for name in ["../evil", "/etc/passwd", "a/../../b", ""] {
            let r = encode_resource(name, b"x", false);
            let err = write_bundle_dir(&[r], tmp.path()).unwrap_err();
            assert!(matches!(err, ContentError::UnsafeName { .. }), "{name}");
        }
        let ok = [
            encode_resource("a/b.yaml", b"x", false),
            encode_resource("c", &[0xff], false),
        ];
        write_bundle_dir(&ok, tmp.path()).unwrap();
        assert_eq!(std::fs::read(tmp.path().join("a/b.yaml")).unwrap(), b"x");
        assert_eq!(std::fs::read(tmp.path().join("c")).unwrap(), vec![0xff]);
    }
}
