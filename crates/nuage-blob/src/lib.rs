//! The blob store: file contents and attachments, addressed by their
//! SHA-256, under the instance's own prefix. Today a local directory; S3
//! comes behind the same API.
//!
//! Must stay true (DESIGN §3): a blob is written to a temporary file,
//! fsynced, renamed into place and its directory fsynced before `put`
//! returns, so a killed process never leaves a half blob visible and an
//! acknowledged blob survives a power cut. Keys begin with the instance id.
//!
//! Collecting (nuage-docs `blob_gc.rs` decides what is garbage): a blob's
//! modification time is the last time a write stored it, `put` of content
//! already present included (it touches the file). [`Blobs::delete_if_idle`]
//! deletes a blob only if that time is older than the caller's cutoff, and
//! checks it again after moving the blob aside (`.gc-KEY`, an atomic
//! rename): a `put` that touched it before the move puts it back, one that
//! comes after the move finds no file and writes it anew. `get` also looks
//! for the moved-aside name, so a reader never misses a blob in that
//! instant.

use nuage_core::InstanceId;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

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
    /// The content is hashed and written as it is, on a blocking thread,
    /// never copied: a big attachment costs its own size once.
    pub async fn put<D>(&self, inst: &InstanceId, data: D) -> Result<String>
    where
        D: AsRef<[u8]> + Send + 'static,
    {
        let blobs = self.clone();
        let inst = inst.clone();
        blocking(move || {
            let key = key_of(data.as_ref());
            write_durably(&blobs.path(&inst, &key), data.as_ref())?;
            Ok(key)
        })
        .await
    }

    pub async fn get(&self, inst: &InstanceId, key: &str) -> Result<Vec<u8>> {
        if !valid_key(key) {
            return Err(BlobError::BadKey(key.to_owned()));
        }
        let path = self.path(inst, key);
        for p in [path.clone(), aside(&path)] {
            match tokio::fs::read(&p).await {
                Ok(d) => return Ok(d),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&p)(e)),
            }
        }
        Err(BlobError::Missing(key.to_owned()))
    }

    /// The keys of an instance's blobs last stored before `cutoff`, and
    /// temporary files a crash left that old (as keys of their own, which
    /// no document holds).
    pub async fn idle_since(&self, inst: &InstanceId, cutoff: SystemTime) -> Result<Vec<String>> {
        let dir = self.root.join(inst.as_str());
        blocking(move || idle_files(&dir, cutoff)).await
    }

    /// Deletes a blob (or crash leftover) named by [`Blobs::idle_since`]
    /// unless a write stored it at or after `cutoff`; true if deleted.
    /// Safe against a concurrent `put` of the same content (see the module
    /// paragraph), and to run twice.
    pub async fn delete_if_idle(
        &self,
        inst: &InstanceId,
        name: &str,
        cutoff: SystemTime,
    ) -> Result<bool> {
        let inst_dir = self.root.join(inst.as_str());
        let path = match name.split_once('/') {
            Some((prefix, file))
                if prefix.len() == 2 && file.starts_with('.') && !file.contains('/') =>
            {
                inst_dir.join(prefix).join(file)
            }
            _ if valid_key(name) => self.path(inst, name),
            _ => return Err(BlobError::BadKey(name.to_owned())),
        };
        blocking(move || delete_idle(&path, cutoff)).await
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
        blocking(move || count_blobs(&dir)).await
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BlobError::Io {
            path: PathBuf::new(),
            source: std::io::Error::other(e),
        })?
}

/// Where a blob being collected is moved aside.
fn aside(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".gc-{name}"))
}

fn modified(path: &Path) -> std::io::Result<SystemTime> {
    std::fs::metadata(path)?.modified()
}

/// Blob files (`PREFIX/KEY`, `.tmp-…` and `.gc-…` leftovers included)
/// last modified before `cutoff`, as `KEY` or `PREFIX/.tmp-…`.
fn idle_files(dir: &Path, cutoff: SystemTime) -> Result<Vec<String>> {
    let prefixes = match std::fs::read_dir(dir) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut out = Vec::new();
    for prefix in prefixes {
        let prefix = prefix.map_err(io(dir))?;
        let prefix_name = prefix.file_name().to_string_lossy().into_owned();
        let prefix = prefix.path();
        for file in std::fs::read_dir(&prefix).map_err(io(&prefix))? {
            let file = file.map_err(io(&prefix))?;
            let name = file.file_name().to_string_lossy().into_owned();
            match modified(&file.path()) {
                Ok(m) if m < cutoff => {}
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&file.path())(e)),
            }
            if name.starts_with('.') {
                out.push(format!("{prefix_name}/{name}"));
            } else {
                out.push(name);
            }
        }
    }
    Ok(out)
}

fn delete_idle(path: &Path, cutoff: SystemTime) -> Result<bool> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    if let Some(key) = name.strip_prefix(".gc-") {
        // A collection interrupted between its two steps: put back, to be
        // judged again next time.
        std::fs::rename(path, path.with_file_name(key)).map_err(io(path))?;
        return Ok(false);
    }
    let leftover = name.starts_with('.');
    let moved = if leftover {
        path.to_owned()
    } else {
        aside(path)
    };
    if !leftover {
        match std::fs::rename(path, &moved) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io(path)(e)),
        }
    }
    match modified(&moved) {
        Ok(m) if m < cutoff => {}
        Ok(_) => {
            // A write stored it again meanwhile: it stays.
            std::fs::rename(&moved, path).map_err(io(path))?;
            return Ok(false);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io(&moved)(e)),
    }
    match std::fs::remove_file(&moved) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(&moved)(e)),
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
    // Present already: touched, so that no collector takes it as idle (a
    // collector that moved it aside before the touch finds it fresh and
    // puts it back; after, the touch fails and it is written anew).
    match std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(SystemTime::now()))
    {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(path)(e)),
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
    async fn only_idle_blobs_are_collected_and_a_put_makes_one_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::new(dir.path());
        let a = InstanceId::new("a");
        let key = blobs.put(&a, b"kept".to_vec()).await.unwrap();
        let hour = std::time::Duration::from_secs(3600);
        let past = SystemTime::now() - hour;
        assert!(blobs.idle_since(&a, past).await.unwrap().is_empty());
        assert!(!blobs.delete_if_idle(&a, &key, past).await.unwrap());
        assert_eq!(blobs.get(&a, &key).await.unwrap(), b"kept");
        let future = SystemTime::now() + hour;
        assert_eq!(
            blobs.idle_since(&a, future).await.unwrap(),
            vec![key.clone()]
        );
        assert!(blobs.delete_if_idle(&a, &key, future).await.unwrap());
        assert!(matches!(
            blobs.get(&a, &key).await,
            Err(BlobError::Missing(_))
        ));
        blobs.put(&a, b"kept".to_vec()).await.unwrap();
        assert_eq!(blobs.get(&a, &key).await.unwrap(), b"kept");
        assert!(blobs.delete_if_idle(&a, "../x", future).await.is_err());
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
