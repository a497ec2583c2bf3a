//! Append-only files whose committed length lives in redb: the building block of the bulk
//! layout planned in `docs/bulk-ingest-plan.md`.
//!
//! Bulk data (tx records, adjacency, indexes) is appended to plain files with large buffered
//! writes, far cheaper than B-tree inserts. Crash safety comes from one rule: a file's bytes
//! count only up to the length recorded in the `segments` table, and that length is written in
//! the same redb transaction as the batch's block headers, after the file was synced. So:
//! - a crash before the redb commit leaves extra bytes past the committed length, which
//!   [`AppendFile::open`] cuts off: the batch never happened;
//! - a crash after it leaves both in agreement;
//! - a file shorter than its committed length is damage, and is reported as such.
//!
//! Unwinding a reorg truncates to the length a block recorded when it was connected.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use crate::StoreError;

/// (chain, file name) → committed length in bytes.
pub const SEGMENTS: TableDefinition<'_, (u32, &str), u64> = TableDefinition::new("segments");

/// Bytes buffered before a write reaches the file.
const BUFFER_BYTES: usize = 8 << 20;

fn io(path: &Path, what: &str, e: std::io::Error) -> StoreError {
    StoreError::Segment {
        path: path.to_path_buf(),
        reason: format!("{what}: {e}"),
    }
}

/// Alignment of direct writes: a multiple of every device's logical block size.
const ALIGN: usize = 4096;

/// An append-only file with a committed length.
///
/// Writes go through `O_DIRECT` where the file system allows it: this VM charges about 2.5 µs
/// of kernel time for every 4 KiB page-cache page a buffered write allocates, which made
/// buffered appends the largest single cost of ingest. Direct writes must be block-aligned, so
/// the partial last block is kept in RAM (`carry`) and rewritten, zero-padded, with the next
/// write; the file is then cut back to its logical length. Reads use an ordinary descriptor.
#[derive(Debug)]
pub struct AppendFile {
    path: PathBuf,
    file: File,
    /// The same file opened with `O_DIRECT`, when the file system supports it.
    direct: Option<File>,
    /// Bytes on disk (written, maybe not yet committed).
    on_disk: u64,
    /// Bytes appended but not yet written.
    buffer: Vec<u8>,
    /// The bytes of the partial last block on disk (`on_disk % ALIGN` of them), direct mode.
    carry: Vec<u8>,
    /// Staging memory for direct writes; the aligned window inside it is used.
    stage: Vec<u8>,
    /// A read-only map of the bytes on disk, so random reads (a trace reads a record per
    /// hop) cost a copy, not a system call. Remapped as the file grows; dropped before it is
    /// cut, so no map ever reaches past the file's end.
    map: Option<memmap2::Mmap>,
}

fn open_direct(path: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    if std::env::var_os("TRACEHOUND_NO_DIRECT_IO").is_some() {
        return None;
    }
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .ok()
}

impl AppendFile {
    /// Opens `path` (creating it if missing) and cuts it back to `committed` bytes.
    pub fn open(path: &Path, committed: u64) -> Result<AppendFile, StoreError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| io(path, "open", e))?;
        let actual = file.metadata().map_err(|e| io(path, "stat", e))?.len();
        if actual < committed {
            return Err(StoreError::Segment {
                path: path.to_path_buf(),
                reason: format!(
                    "holds {actual} bytes but {committed} were committed: the file was damaged or replaced"
                ),
            });
        }
        if actual > committed {
            // The tail of a batch whose commit never happened.
            file.set_len(committed)
                .map_err(|e| io(path, "truncate", e))?;
            file.sync_data().map_err(|e| io(path, "sync", e))?;
        }
        let mut f = AppendFile {
            path: path.to_path_buf(),
            direct: open_direct(path),
            file,
            on_disk: committed,
            buffer: Vec::new(),
            carry: Vec::new(),
            stage: Vec::new(),
            map: None,
        };
        f.load_carry()?;
        f.remap();
        Ok(f)
    }

    /// Reads the partial last block back into `carry` (direct mode).
    fn load_carry(&mut self) -> Result<(), StoreError> {
        self.carry.clear();
        if self.direct.is_some() {
            let partial = (self.on_disk % ALIGN as u64) as usize;
            self.carry.resize(partial, 0);
            let at = self.on_disk - partial as u64;
            self.file
                .read_exact_at(&mut self.carry, at)
                .map_err(|e| io(&self.path, "read the last block", e))?;
        }
        Ok(())
    }

    /// Writes `carry + buffer`, zero-padded to whole blocks, at the last aligned offset.
    fn write_direct(&mut self) -> Result<bool, StoreError> {
        let Some(direct) = &self.direct else {
            return Ok(false);
        };
        let data = self.carry.len() + self.buffer.len();
        let padded = data.div_ceil(ALIGN) * ALIGN;
        if self.stage.len() < padded + ALIGN {
            self.stage = vec![0u8; padded.max(BUFFER_BYTES) + 2 * ALIGN];
        }
        let skew = self.stage.as_ptr().align_offset(ALIGN);
        let window =
            self.stage
                .get_mut(skew..skew + padded)
                .ok_or_else(|| StoreError::Segment {
                    path: self.path.clone(),
                    reason: "direct-write staging buffer too small".into(),
                })?;
        let (head, rest) = window.split_at_mut(self.carry.len());
        head.copy_from_slice(&self.carry);
        let (body, pad) = rest.split_at_mut(self.buffer.len());
        body.copy_from_slice(&self.buffer);
        pad.fill(0);
        let at = self.on_disk - self.carry.len() as u64;
        direct
            .write_all_at(window, at)
            .map_err(|e| io(&self.path, "write", e))?;
        let end = self.on_disk + self.buffer.len() as u64;
        if padded as u64 + at != end {
            self.file
                .set_len(end)
                .map_err(|e| io(&self.path, "cut padding", e))?;
        }
        let keep = (end % ALIGN as u64) as usize;
        let tail_from = window.len() - (padded - data) - keep;
        self.carry.clear();
        self.carry
            .extend_from_slice(window.get(tail_from..tail_from + keep).unwrap_or_default());
        Ok(true)
    }

    /// Maps the bytes on disk for reading. Without a map (the system refused one) reads use
    /// `pread`, as they would anyway past the mapped length.
    fn remap(&mut self) {
        if self.map.as_ref().map_or(0, |m| m.len() as u64) == self.on_disk {
            return;
        }
        self.map = None;
        let Ok(len) = usize::try_from(self.on_disk) else {
            return;
        };
        if len == 0 {
            return;
        }
        // SAFETY: the map is read-only and covers only bytes already on disk. This store is its
        // files' one writer (the store directory is locked); it never rewrites those bytes
        // with different content (appends go past them; the partial last block is rewritten
        // with the same bytes), and it drops the map before cutting the file.
        self.map = unsafe { memmap2::MmapOptions::new().len(len).map(&self.file) }.ok();
    }

    /// Drops the read map: before something else cuts this file (a reopen of the same
    /// path), so no map reaches past its end.
    pub fn unmap(&mut self) {
        self.map = None;
    }

    /// Logical length: everything appended so far.
    pub fn len(&self) -> u64 {
        self.on_disk + self.buffer.len() as u64
    }

    /// Whether nothing was ever appended.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `bytes`, returning the offset they start at.
    pub fn append(&mut self, bytes: &[u8]) -> Result<u64, StoreError> {
        let at = self.len();
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= BUFFER_BYTES {
            self.write_buffer()?;
        }
        Ok(at)
    }

    fn write_buffer(&mut self) -> Result<(), StoreError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        if !self.write_direct()? {
            self.file
                .write_all_at(&self.buffer, self.on_disk)
                .map_err(|e| io(&self.path, "write", e))?;
        }
        self.on_disk += self.buffer.len() as u64;
        self.buffer.clear();
        Ok(())
    }

    /// Writes what is buffered and syncs it; returns the length to commit.
    pub fn sync(&mut self) -> Result<u64, StoreError> {
        self.write_buffer()?;
        self.file
            .sync_data()
            .map_err(|e| io(&self.path, "sync", e))?;
        self.remap();
        Ok(self.on_disk)
    }

    /// Reads `buf.len()` bytes at `offset`, buffered bytes included.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StoreError> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= self.len())
            .ok_or_else(|| StoreError::Segment {
                path: self.path.clone(),
                reason: format!(
                    "read of {} bytes at {offset} is past the end ({})",
                    buf.len(),
                    self.len()
                ),
            })?;
        if let Some(src) = self
            .map
            .as_ref()
            .and_then(|m| m.get(usize::try_from(offset).ok()?..usize::try_from(end).ok()?))
        {
            buf.copy_from_slice(src);
            return Ok(());
        }
        let from_disk = usize::try_from(self.on_disk.saturating_sub(offset).min(buf.len() as u64))
            .unwrap_or(buf.len());
        let (disk_part, buffered_part) = buf.split_at_mut(from_disk);
        if !disk_part.is_empty() {
            self.file
                .read_exact_at(disk_part, offset)
                .map_err(|e| io(&self.path, "read", e))?;
        }
        if !buffered_part.is_empty() {
            let start =
                usize::try_from(offset.max(self.on_disk) - self.on_disk).unwrap_or(usize::MAX);
            let src = self
                .buffer
                .get(start..start + buffered_part.len())
                .ok_or_else(|| StoreError::Segment {
                    path: self.path.clone(),
                    reason: format!("read up to {end} is past the buffered data"),
                })?;
            buffered_part.copy_from_slice(src);
        }
        Ok(())
    }

    /// Cuts the file back to `len` bytes (unwinding), dropping anything buffered beyond it.
    pub fn truncate(&mut self, len: u64) -> Result<(), StoreError> {
        if len >= self.on_disk {
            let keep = usize::try_from(len - self.on_disk)
                .unwrap_or(usize::MAX)
                .min(self.buffer.len());
            self.buffer.truncate(keep);
            return Ok(());
        }
        self.buffer.clear();
        self.map = None;
        self.file
            .set_len(len)
            .map_err(|e| io(&self.path, "truncate", e))?;
        self.file.flush().map_err(|e| io(&self.path, "flush", e))?;
        self.on_disk = len;
        self.load_carry()?;
        self.remap();
        Ok(())
    }
}

/// The committed length of `name` for chain `c` (0 if never committed).
pub fn committed_len(
    tables: &impl ReadableTable<(u32, &'static str), u64>,
    c: u32,
    name: &str,
) -> Result<u64, StoreError> {
    Ok(tables.get((c, name))?.map_or(0, |v| v.value()))
}

/// Records `len` as the committed length of `name` in `wtx`; call after [`AppendFile::sync`].
pub fn commit_len(wtx: &WriteTransaction, c: u32, name: &str, len: u64) -> Result<(), StoreError> {
    wtx.open_table(SEGMENTS)?.insert((c, name), len)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{Database, ReadableDatabase};

    fn committed(db: &Database, name: &str) -> u64 {
        let r = db.begin_read().unwrap();
        match r.open_table(SEGMENTS) {
            Ok(t) => committed_len(&t, 1, name).unwrap(),
            Err(_) => 0,
        }
    }

    #[test]
    fn uncommitted_tail_is_cut_and_committed_bytes_survive() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("db.redb")).unwrap();
        let path = dir.path().join("txs.log");

        let mut f = AppendFile::open(&path, committed(&db, "txs.log")).unwrap();
        assert_eq!(f.append(b"hello ").unwrap(), 0);
        assert_eq!(f.append(b"world").unwrap(), 6);
        let mut buf = [0u8; 5];
        f.read_at(6, &mut buf).unwrap();
        assert_eq!(&buf, b"world", "buffered bytes read back before any write");
        let len = f.sync().unwrap();
        let w = db.begin_write().unwrap();
        commit_len(&w, 1, "txs.log", len).unwrap();
        w.commit().unwrap();

        // A batch that was written and synced, but whose redb commit never happened.
        f.append(b" and more").unwrap();
        f.sync().unwrap();
        drop(f);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 20);

        let f = AppendFile::open(&path, committed(&db, "txs.log")).unwrap();
        assert_eq!(f.len(), 11);
        assert_eq!(std::fs::read(&path).unwrap(), b"hello world");
        let mut buf = [0u8; 11];
        f.read_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"hello world");
        assert!(
            f.read_at(5, &mut [0u8; 10]).is_err(),
            "reads past the end are errors"
        );
    }

    #[test]
    fn reads_span_disk_and_buffer_and_truncate_unwinds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("adj.log");
        let mut f = AppendFile::open(&path, 0).unwrap();
        f.append(&[1; 100]).unwrap();
        f.sync().unwrap();
        f.append(&[2; 100]).unwrap();
        let mut buf = [0u8; 20];
        f.read_at(90, &mut buf).unwrap();
        assert_eq!(&buf[..10], &[1; 10]);
        assert_eq!(&buf[10..], &[2; 10]);
        f.truncate(150).unwrap();
        assert_eq!(f.len(), 150);
        f.truncate(50).unwrap();
        assert_eq!(f.len(), 50);
        assert_eq!(f.sync().unwrap(), 50);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 50);
    }

    #[test]
    fn a_file_shorter_than_committed_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("txs.idx");
        std::fs::write(&path, [0u8; 10]).unwrap();
        let err = AppendFile::open(&path, 64).unwrap_err();
        assert!(err.to_string().contains("64 were committed"), "{err}");
        assert!(err.to_string().contains("txs.idx"), "{err}");
    }
}
