//! The blob store: file contents and attachments, addressed by their
//! SHA-256, under the instance's own prefix. Today a local directory; S3
//! comes behind the same API.
//!
//! Must stay true (DESIGN §3): a blob is written to a temporary file,
//! fsynced, renamed into place and its directory fsynced before `put`
//! returns, so a killed process never leaves a half blob visible and an
//! acknowledged blob survives a power cut. Keys begin with the instance id.

use nuage_core::InstanceId;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} is not in the store")]
    Missing(String),
    #[error(
        "blob store I/O failed at {path}: {source}; check the data folder's disk space and permissions"
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{0}` is not a blob key")]
    BadKey(String),
}

pub type Result<T, E = BlobError> = std::result::Result<T, E>;

#[derive(Clone, Debug)]
pub struct Blobs {
    root: PathBuf,
}

/// The key of some content: its SHA-256 in hex.
pub fn key_of(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn valid_key(key: &str) -> bool {
    key.len() == 64
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BlobError + '_ {
    move |source| BlobError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Blobs {
    pub fn new(root: impl Into<PathBuf>) -> Blobs {
        Blobs { root: root.into() }
    }

    fn path(&self, inst: &InstanceId, key: &str) -> PathBuf {
        self.root.join(inst.as_str()).join(&key[..2]).join(key)
    }

    /// Stores `data`; returns its key. Storing the same content twice is
    /// cheap and safe.
    pub async fn put(&self, inst: &InstanceId, data: Vec<u8>) -> Result<String> {
        let key = key_of(&data);
        let path = self.path(inst, &key);
        let k = key.clone();
        tokio::task::spawn_blocking(move || write_durably(&path, &data))
            .await
            .map_err(|e| BlobError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other(e),
            })??;
        Ok(k)
    }

    pub async fn get(&self, inst: &InstanceId, key: &str) -> Result<Vec<u8>> {
        if !valid_key(key) {
            return Err(BlobError::BadKey(key.to_owned()));
        }
        let path = self.path(inst, key);
        match tokio::fs::read(&path).await {
            Ok(d) => Ok(d),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(BlobError::Missing(key.to_owned()))
            }
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Removes every blob of an instance. Safe to run twice, and beside
    /// another removal of the same instance (the command line and a
    /// server): what the other deleted first is not an error.
    pub async fn delete_instance(&self, inst: &InstanceId) -> Result<()> {
        let dir = self.root.join(inst.as_str());
        let mut failed = None;
        for _ in 0..3 {
            match tokio::fs::remove_dir_all(&dir).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    if !tokio::fs::try_exists(&dir).await.unwrap_or(true) {
                        return Ok(());
                    }
                    failed = Some(e);
                }
            }
        }
        Err(io(&dir)(failed.unwrap_or_else(|| {
            std::io::Error::other("the folder could not be removed")
        })))
    }

    /// How many blobs an instance holds (walks its folder: for tests and
    /// administration, not for requests).
    pub async fn count(&self, inst: &InstanceId) -> Result<u64> {
        let dir = self.root.join(inst.as_str());
        tokio::task::spawn_blocking(move || count_blobs(&dir))
            .await
            .map_err(|e| BlobError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other(e),
            })?
    }
}

/// Blob files under an instance's folder (`PREFIX/KEY`), temporary files
/// left by a crash included.
fn count_blobs(dir: &Path) -> Result<u64> {
    let prefixes = match std::fs::read_dir(dir) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut n = 0;
    for prefix in prefixes {
        let prefix = prefix.map_err(io(dir))?.path();
        for file in std::fs::read_dir(&prefix).map_err(io(&prefix))? {
            file.map_err(io(&prefix))?;
            n += 1;
        }
    }
    Ok(n)
}

fn write_durably(path: &Path, data: &[u8]) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut tmp = tempfile_in(dir)?;
    tmp.1.write_all(data).map_err(io(&tmp.0))?;
    tmp.1.sync_all().map_err(io(&tmp.0))?;
    std::fs::rename(&tmp.0, path).map_err(io(path))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

fn tempfile_in(dir: &Path) -> Result<(PathBuf, std::fs::File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        ".tmp-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let p = dir.join(name);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&p)
        .map_err(io(&p))?;
    Ok((p, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_blob_round_trips_and_stays_in_its_instance() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::new(dir.path());
        let a = InstanceId::new("a");
        let b = InstanceId::new("b");
        let key = blobs.put(&a, b"hello".to_vec()).await.unwrap();
        assert_eq!(key, key_of(b"hello"));
        assert_eq!(blobs.get(&a, &key).await.unwrap(), b"hello");
        assert!(matches!(
            blobs.get(&b, &key).await,
            Err(BlobError::Missing(_))
        ));
        assert!(matches!(
            blobs.get(&a, "../../etc/passwd").await,
            Err(BlobError::BadKey(_))
        ));
        // No temporary file is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("a").join(&key[..2]))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        blobs.put(&b, b"other".to_vec()).await.unwrap();
        assert_eq!(blobs.count(&a).await.unwrap(), 1);
        blobs.delete_instance(&a).await.unwrap();
        assert!(blobs.get(&a, &key).await.is_err());
        assert_eq!(blobs.count(&a).await.unwrap(), 0);
        assert_eq!(blobs.count(&b).await.unwrap(), 1, "B keeps its blob");
        blobs.delete_instance(&a).await.unwrap();
    }

    #[tokio::test]
    async fn empty_and_repeated_blobs_are_fine() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::new(dir.path());
        let a = InstanceId::new("a");
        let k1 = blobs.put(&a, Vec::new()).await.unwrap();
        let k2 = blobs.put(&a, Vec::new()).await.unwrap();
        assert_eq!(k1, k2);
        assert!(blobs.get(&a, &k1).await.unwrap().is_empty());
    }
}
