//! Where a dataset or a job's output lives: a local directory (or a shared mount), or a
//! prefix in an object store, `s3://BUCKET/PREFIX` (S3 or any S3-compatible store; feature
//! `s3`).
//!
//! Jobs name both by path, so the same plans read and write either: DataFusion (and on a
//! cluster each Ballista node) resolves an `s3://` path through its object store registry.
//! This process registers the bucket's store in the job's session; the cluster's scheduler
//! and executors build theirs from their own environment ([`ObjectStores`]).
//!
//! **Credentials and endpoint** come from the environment, as the AWS tools read them:
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` (or
//! `AWS_DEFAULT_REGION`), and for another S3-compatible store `AWS_ENDPOINT` (with
//! `AWS_ALLOW_HTTP=true` for a plain-HTTP one). Every process of a cluster needs them.
//!
//! An object store has no rename, so what a local directory gets by renaming (a result that
//! appears only when complete) a prefix gets by a marker: a result is written under a
//! temporary prefix, copied into place, and then `_SUCCESS` is written into it. Readers of a
//! result on an object store must wait for that marker.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::{KeyValue, ParquetMetaDataReader};
use datafusion::prelude::SessionContext;
use futures_util::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use url::Url;

use crate::JobError;

/// The marker written last into a complete result on an object store.
pub const SUCCESS: &str = "_SUCCESS";

/// A directory, or a prefix of an object store.
#[derive(Clone)]
pub enum Location {
    /// A local (or mounted) directory.
    Local(PathBuf),
    /// `s3://bucket/prefix`.
    Remote(Remote),
}

/// A prefix of an object store bucket.
#[derive(Clone)]
pub struct Remote {
    /// `s3://bucket` (what the store is registered under).
    bucket: Url,
    /// The prefix inside it (no leading or trailing `/`).
    prefix: StorePath,
    store: Arc<dyn ObjectStore>,
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.display().display())
    }
}

impl Location {
    /// Reads `path`: `s3://bucket/prefix` is an object store prefix (its store built from the
    /// environment; see the module docs), another `scheme://` is refused, anything else is a
    /// local directory.
    pub fn parse(path: &Path) -> Result<Location, JobError> {
        let Some(text) = path.to_str().filter(|t| t.contains("://")) else {
            return Ok(Location::Local(path.to_path_buf()));
        };
        let bad = |what: String| JobError::Location {
            location: text.to_string(),
            what,
        };
        let url = Url::parse(text).map_err(|e| bad(e.to_string()))?;
        if url.scheme() != "s3" {
            return Err(bad(format!(
                "{}:// is not a supported store (a directory, or s3://BUCKET/PREFIX)",
                url.scheme()
            )));
        }
        let bucket = url
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| bad("no bucket".into()))?;
        let store = s3_store(bucket).map_err(|e| bad(e.to_string()))?;
        let bucket = Url::parse(&format!("s3://{bucket}")).map_err(|e| bad(e.to_string()))?;
        // Decoded as DataFusion decodes a table's URL (`%20` is a space), so both name the
        // same objects.
        let prefix = StorePath::from_url_path(url.path().trim_matches('/'))
            .map_err(|e| bad(format!("prefix: {e}")))?;
        Ok(Location::Remote(Remote {
            bucket,
            prefix,
            store,
        }))
    }

    /// What errors and reports show: the directory, or the `s3://` URL.
    pub fn display(&self) -> PathBuf {
        match self {
            Location::Local(dir) => dir.clone(),
            Location::Remote(r) => PathBuf::from(r.url(&r.prefix)),
        }
    }

    /// `name` inside this one (`name` is a relative path of `/`-separated parts).
    pub fn join(&self, name: &str) -> Location {
        match self {
            Location::Local(dir) => Location::Local(dir.join(name)),
            Location::Remote(r) => Location::Remote(Remote {
                prefix: r.child(name),
                ..r.clone()
            }),
        }
    }

    /// The path DataFusion is given for this directory (ends with `/`, so that it is read
    /// as a directory of files).
    pub fn table_path(&self) -> String {
        match self {
            Location::Local(dir) => format!("{}/", dir.display()),
            Location::Remote(r) => format!("{}/", r.url(&r.prefix)),
        }
    }

    /// Registers this location's object store in `ctx` (nothing for a directory).
    pub fn register(&self, ctx: &SessionContext) {
        if let Location::Remote(r) = self {
            ctx.register_object_store(&r.bucket, Arc::clone(&r.store));
        }
    }

    /// Makes the directory (and its parents); an object store needs none.
    pub fn create(&self) -> Result<(), JobError> {
        match self {
            Location::Local(dir) => std::fs::create_dir_all(dir).map_err(|source| JobError::Io {
                path: dir.clone(),
                source,
            }),
            Location::Remote(_) => Ok(()),
        }
    }

    /// Removes the directory and everything in it (nothing if it is not there).
    pub async fn remove(&self) -> Result<(), JobError> {
        match self {
            Location::Local(dir) => match std::fs::remove_dir_all(dir) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(source) => Err(JobError::Io {
                    path: dir.clone(),
                    source,
                }),
            },
            Location::Remote(r) => {
                let mut paths: Vec<StorePath> =
                    r.list().await?.into_iter().map(|m| m.location).collect();
                // Markers first: a removal cut short must not leave part of a result marked
                // complete.
                paths.sort_by_key(|p| p.filename() != Some(SUCCESS));
                for path in paths {
                    match r.store.delete(&path).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(r.failed(&path)(e)),
                    }
                }
                Ok(())
            }
        }
    }

    /// Moves this directory to `to` (replaced), so that `to` appears complete: a rename on
    /// disk; on an object store a copy of every object, then `_SUCCESS` written into `to`,
    /// then this prefix deleted.
    pub async fn move_to(&self, to: &Location) -> Result<(), JobError> {
        to.remove().await?;
        match (self, to) {
            (Location::Local(from), Location::Local(dir)) => {
                std::fs::rename(from, dir).map_err(|source| JobError::Io {
                    path: dir.clone(),
                    source,
                })
            }
            (Location::Remote(from), Location::Remote(dest)) => {
                for object in from.list().await? {
                    let path = object.location;
                    let target = dest.child(&from.relative(&path));
                    from.store
                        .copy(&path, &target)
                        .await
                        .map_err(from.failed(&path))?;
                }
                dest.write(SUCCESS, Vec::new()).await?;
                // The result is in place; a temporary copy left behind is only litter.
                if let Err(e) = self.remove().await {
                    tracing::warn!(error = %e, "a temporary result was not removed");
                }
                Ok(())
            }
            _ => Err(JobError::Location {
                location: to.display().display().to_string(),
                what: format!(
                    "cannot move {} there: one is a directory, the other an object store",
                    self.display().display()
                ),
            }),
        }
    }
}

impl Remote {
    /// The bytes of object `name` under the prefix, `None` if there is none.
    pub async fn read(&self, name: &str) -> Result<Option<Vec<u8>>, JobError> {
        let path = self.child(name);
        match self.store.get(&path).await {
            Ok(got) => Ok(Some(
                got.bytes().await.map_err(self.failed(&path))?.to_vec(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failed(&path)(e)),
        }
    }

    /// Writes object `name` under the prefix (replacing it).
    pub async fn write(&self, name: &str, bytes: Vec<u8>) -> Result<(), JobError> {
        let path = self.child(name);
        self.store
            .put(&path, bytes.into())
            .await
            .map(|_| ())
            .map_err(self.failed(&path))
    }

    /// Every object under the prefix with its size, by its path relative to the prefix.
    pub async fn sizes(&self) -> Result<BTreeMap<String, u64>, JobError> {
        Ok(self
            .list()
            .await?
            .into_iter()
            .map(|m| (self.relative(&m.location), m.size))
            .collect())
    }

    /// The key-value metadata in the footer of Parquet object `name` (of `size` bytes): the
    /// file's tail is read, more of it if the footer is longer.
    pub async fn parquet_metadata(&self, name: &str, size: u64) -> Result<Vec<KeyValue>, JobError> {
        let path = self.child(name);
        let bad = |what: String| JobError::Location {
            location: self.url(&path),
            what,
        };
        let mut tail = size.min(64 * 1024);
        loop {
            let bytes = self
                .store
                .get_range(&path, size - tail..size)
                .await
                .map_err(self.failed(&path))?;
            let mut reader = ParquetMetaDataReader::new();
            match reader.try_parse_sized(&bytes, size) {
                Ok(()) => {
                    let footer = reader.finish().map_err(|e| bad(e.to_string()))?;
                    let kv = footer.file_metadata().key_value_metadata();
                    return Ok(kv.cloned().unwrap_or_default());
                }
                Err(ParquetError::NeedMoreData(n)) if (n as u64) > tail && n as u64 <= size => {
                    tail = n as u64;
                }
                Err(e) => return Err(bad(format!("not a readable Parquet file: {e}"))),
            }
        }
    }

    fn url(&self, path: &StorePath) -> String {
        let bucket = self.bucket.as_str().trim_end_matches('/');
        if path.as_ref().is_empty() {
            bucket.to_string()
        } else {
            format!("{bucket}/{path}")
        }
    }

    fn child(&self, name: &str) -> StorePath {
        let mut path = self.prefix.clone();
        for part in name.split('/').filter(|p| !p.is_empty()) {
            path = path.join(part);
        }
        path
    }

    /// Every object under the prefix (as a directory: `prefix/…`).
    async fn list(&self) -> Result<Vec<ObjectMeta>, JobError> {
        self.store
            .list(Some(&self.prefix))
            .try_collect()
            .await
            .map_err(self.failed(&self.prefix))
    }

    /// `path`'s parts below the prefix, `/`-joined (a listed object is always below it).
    fn relative(&self, path: &StorePath) -> String {
        let parts: Vec<String> = path
            .prefix_match(&self.prefix)
            .map(|parts| parts.map(|p| p.as_ref().to_string()).collect())
            .unwrap_or_default();
        parts.join("/")
    }

    fn failed(&self, path: &StorePath) -> impl Fn(object_store::Error) -> JobError + use<> {
        let url = self.url(path);
        move |e| JobError::Location {
            location: url.clone(),
            what: tracehound_core::error_chain(&e),
        }
    }
}

/// The object store of S3 bucket `bucket`, configured from the environment.
#[cfg(feature = "s3")]
pub fn s3_store(bucket: &str) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    let store = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .build()?;
    Ok(Arc::new(store))
}

/// Without feature `s3` there is no S3 client in this build.
#[cfg(not(feature = "s3"))]
pub fn s3_store(_bucket: &str) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    Err(object_store::Error::NotSupported {
        source: "this build has no S3 client: build tracehound with feature s3".into(),
    })
}

/// An object store registry for a cluster's scheduler and executors: `s3://` buckets are
/// opened on first use from the process's environment (see the module docs) and kept;
/// everything else is DataFusion's default (local files).
#[derive(Debug, Default)]
pub struct ObjectStores {
    default: DefaultObjectStoreRegistry,
    buckets: Mutex<std::collections::HashMap<String, Arc<dyn ObjectStore>>>,
}

impl ObjectStoreRegistry for ObjectStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.default.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        self.default.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        if url.scheme() != "s3" {
            return self.default.get_store(url);
        }
        let bucket = url.host_str().unwrap_or_default().to_string();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(store) = buckets.get(&bucket) {
            return Ok(Arc::clone(store));
        }
        let store = s3_store(&bucket)?;
        buckets.insert(bucket, Arc::clone(&store));
        Ok(store)
    }
}
