//! Inline attachments: `data` (base64) in, blob store, stubs kept in the
//! revision's body; stubs resolved against the document's known revisions;
//! `data` back out on request.
//!
//! Stored form of one attachment: CouchDB's stub (`content_type`,
//! `digest` = "md5-" + base64 of the MD5, `length`, `revpos`, `stub`) plus
//! our private `nuage_blob` (the blob key, a SHA-256). The private member
//! never leaves the server: `render` strips it.

use crate::error::{DocError, DocResult};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest, Md5};
use nuage_blob::Blobs;
use nuage_core::InstanceId;
use nuage_core::revs::Rev;
use serde_json::{Map, Value, json};

pub use nuage_store::BLOB_KEY;

/// CouchDB's attachment digest: `md5-` + base64(MD5(data)).
pub fn digest(data: &[u8]) -> String {
    format!("md5-{}", STANDARD.encode(Md5::digest(data)))
}

/// Turns incoming attachments into their stored form. `known` are the
/// `_attachments` maps of the document's leaves, with the leaf, newest
/// first; stubs must be found there (CouchDB answers 412 `missing_stub`
/// else). Also returns the leaves whose attachments the stubs took (their
/// blobs are referenced, not stored again): the write must find them still
/// leaves when it commits (nuage-store `DocWrite`).
pub async fn store(
    blobs: &Blobs,
    inst: &InstanceId,
    doc_id: &str,
    incoming: Map<String, Value>,
    new_pos: u64,
    known: &[(Rev, Map<String, Value>)],
) -> DocResult<(Map<String, Value>, Vec<Rev>)> {
    let mut out = Map::new();
    let mut from: Vec<Rev> = Vec::new();
    for (name, att) in incoming {
        let Value::Object(att) = att else {
            return Err(DocError::bad_request(format!(
                "attachment {name} must be an object"
            )));
        };
        if att.get("stub").and_then(Value::as_bool) == Some(true) {
            let wanted_digest = att.get("digest").and_then(Value::as_str);
            let found = known.iter().find_map(|(rev, k)| {
                k.get(&name)
                    .and_then(Value::as_object)
                    .filter(|m| {
                        wanted_digest
                            .is_none_or(|d| m.get("digest").and_then(Value::as_str) == Some(d))
                    })
                    .map(|m| (rev, m))
            });
            let Some((rev, meta)) = found else {
                return Err(DocError::MissingStub(format!(
                    "Invalid attachment stub in {doc_id} for {name}"
                )));
            };
            if !from.contains(rev) {
                from.push(rev.clone());
            }
            out.insert(name, Value::Object(meta.clone()));
            continue;
        }
        let Some(data) = att.get("data") else {
            if att.get("follows").is_some() {
                return Err(DocError::Unsupported(
                    "multipart attachments are not supported; send the data inline in base64"
                        .into(),
                ));
            }
            return Err(DocError::bad_request(format!(
                "attachment {name} has neither data nor stub"
            )));
        };
        let bytes = match data {
            Value::String(s) => STANDARD.decode(s.as_bytes()).map_err(|_| {
                DocError::bad_request(format!("Invalid attachment data for {name}: not base64"))
            })?,
            _ => {
                return Err(DocError::bad_request(format!(
                    "Invalid attachment data for {name}"
                )));
            }
        };
        let content_type = att
            .get("content_type")
            .and_then(Value::as_str)
            .unwrap_or("application/octet-stream")
            .to_owned();
        let revpos = att.get("revpos").and_then(Value::as_u64).unwrap_or(new_pos);
        out.insert(
            name,
            store_one(blobs, inst, &content_type, revpos, bytes).await?,
        );
    }
    Ok((out, from))
}

/// Stores one attachment's content as it is (no copy: the blob store
/// hashes and writes these very bytes) and returns its stored form.
pub async fn store_one<D>(
    blobs: &Blobs,
    inst: &InstanceId,
    content_type: &str,
    revpos: u64,
    data: D,
) -> DocResult<Value>
where
    D: AsRef<[u8]> + Send + 'static,
{
    let dig = digest(data.as_ref());
    let length = data.as_ref().len();
    let key = blobs.put(inst, data).await?;
    Ok(
        json!({"content_type": content_type, "digest": dig, "length": length,
              "revpos": revpos, "stub": true, BLOB_KEY: key}),
    )
}

/// The `_attachments` members as a client sees them: stubs, or with their
/// data inline when `with_data` (only those newer than `since_pos` when
/// given, CouchDB's `atts_since`).
pub async fn render(
    blobs: &Blobs,
    inst: &InstanceId,
    stored: &Map<String, Value>,
    with_data: bool,
    since_pos: Option<u64>,
) -> DocResult<Map<String, Value>> {
    let mut out = Map::new();
    for (name, meta) in stored {
        let Value::Object(meta) = meta else { continue };
        let mut m = meta.clone();
        let key = m.remove(BLOB_KEY);
        let revpos = m.get("revpos").and_then(Value::as_u64).unwrap_or(0);
        let wanted = with_data && since_pos.is_none_or(|p| revpos > p);
        if let (true, Some(Value::String(key))) = (wanted, key) {
            let data = blobs.get(inst, &key).await?;
            m.remove("stub");
            m.insert("data".into(), Value::String(STANDARD.encode(data)));
        } else {
            m.insert("stub".into(), Value::Bool(true));
        }
        out.insert(name.clone(), Value::Object(m));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn digests_are_couchdbs() {
        // MD5("hello") = 5d41402abc4b2a76b9719d911017c592
        assert_eq!(super::digest(b"hello"), "md5-XUFAKrxLKna5cZ2REBfFkg==");
    }
}
