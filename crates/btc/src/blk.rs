//! Bitcoin Core's block files (`blocks/blk?????.dat`), read directly.
//!
//! Core appends each block it receives as a record `magic | length (u32 LE) | block`, in the
//! order blocks arrive: with headers-first sync that is not height order, and stale blocks that
//! lost a race stay in the files. So [`BlkReader::scan`] first indexes every record's header
//! (reading 88 bytes and seeking past the body), then [`BlockIndex::best_chain`] links headers
//! by parent hash from genesis and picks the tip with the most cumulative work, as Core does
//! (ties go to the block stored first, as Core keeps the first-seen tip).
//!
//! Since Core 28 the files are XOR-obfuscated with the 8-byte key in `blocks/xor.dat`
//! (byte `i` of a file is XORed with `key[i % 8]`); a key of zeros, or no key file, means plain.
//! Core preallocates files, so a file may end in zeros; and a crash can leave the newest file
//! with a record cut short. Both end that file's data quietly. Anything else that is not a
//! record (a wrong magic, a record cut short in an older file, a body that does not decode) is an
//! error naming the file and byte offset.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use bitcoin::Work;
use bitcoin::block::Header;
use bitcoin::consensus::Decodable;
use bitcoin::hashes::Hash;
use tracehound_core::{Chain, Hash32, UtxoBlock};

use crate::decode::{self, DecodeError};

/// Why block files could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlkError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The directory holds no `blk*.dat` files.
    #[error("no blk?????.dat files in {dir}")]
    NoFiles {
        /// The directory.
        dir: PathBuf,
    },
    /// `xor.dat` is not an 8-byte key.
    #[error("{path}: obfuscation key must be 8 bytes, found {len}")]
    BadXorKey {
        /// The key file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// A record does not start with the chain's magic.
    #[error(
        "{path} at byte {offset}: expected {chain} magic {expected}, found {found} (wrong --network, or a corrupt file)"
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// Offset of the record.
        offset: u64,
        /// The chain being read.
        chain: Chain,
        /// Its magic, hex.
        expected: String,
        /// What was there, hex.
        found: String,
    },
    /// A record is cut short in a file that is not the newest.
    #[error(
        "{path} at byte {offset}: block record of {needed} bytes is cut short ({available} bytes left in the file)"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Offset of the record.
        offset: u64,
        /// Bytes the record claims.
        needed: u64,
        /// Bytes there are.
        available: u64,
    },
    /// A block does not decode.
    #[error("{path} at byte {offset}: {source}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// Offset of the block bytes.
        offset: u64,
        /// What the decoder said.
        source: Box<DecodeError>,
    },
    /// The block at a location is not the block the index recorded there (the file changed).
    #[error(
        "{path} at byte {offset}: expected block {expected}, found {found} (did the files change since the scan?)"
    )]
    Changed {
        /// The file.
        path: PathBuf,
        /// Offset of the block bytes.
        offset: u64,
        /// The indexed hash.
        expected: Hash32,
        /// What is there now.
        found: Hash32,
    },
    /// A block record claims a length no block can have.
    #[error("{path} at byte {offset}: block length {len} is not plausible")]
    BadLength {
        /// The file.
        path: PathBuf,
        /// Offset of the record.
        offset: u64,
        /// The claimed length.
        len: u32,
    },
}

/// Largest block record accepted (Litecoin's MWEB blocks may exceed Bitcoin's 4 MB weight).
const MAX_BLOCK_BYTES: u32 = 32 * 1024 * 1024;

/// Where one block record sits.
#[derive(Debug, Clone)]
pub struct BlockLocation {
    /// Index into [`BlkReader::files`].
    pub file: u32,
    /// Byte offset of the block bytes (after magic and length).
    pub offset: u64,
    /// Length of the block bytes.
    pub len: u32,
    /// Its header.
    pub header: Header,
    /// Its display-order hash.
    pub hash: Hash32,
}

/// Something unusual the scan saw that is not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanNote {
    /// The newest file ends in a record cut short (Core was writing when it stopped).
    PartialLastRecord {
        /// The file.
        path: PathBuf,
        /// Offset of the partial record.
        offset: u64,
    },
    /// The same block is stored twice; the first copy is used.
    Duplicate {
        /// The block.
        hash: Hash32,
    },
}

/// A reader of one chain's blk files.
#[derive(Debug, Clone)]
pub struct BlkReader {
    chain: Chain,
    files: Vec<PathBuf>,
    xor_key: Option<[u8; 8]>,
}

/// All block records found, by hash.
#[derive(Debug, Default)]
pub struct BlockIndex {
    /// Every record, in file order.
    pub blocks: Vec<BlockLocation>,
    by_hash: HashMap<Hash32, usize>,
    /// Unusual things seen while scanning.
    pub notes: Vec<ScanNote>,
}

/// The best chain found in the files.
#[derive(Debug, Clone)]
pub struct BestChain {
    /// Height of the first block in `blocks` (0 when the chain starts at genesis).
    pub start_height: u32,
    /// Locations from `start_height` (index 0) to the tip.
    pub blocks: Vec<BlockLocation>,
    /// Cumulative work of each block in `blocks` (big-endian 256-bit), counted from genesis,
    /// or for an anchored chain from its first block (see [`BestChain::total_chainwork`]).
    pub chainwork: Vec<[u8; 32]>,
    /// Blocks whose parent is not in the files (an incomplete download); they are not used.
    pub detached: Vec<Hash32>,
    /// Blocks on stale branches (linked, but not on the best chain).
    pub stale: usize,
}

impl BestChain {
    /// Each block's total chain work: `chainwork` itself for a chain from genesis; for an
    /// anchored chain, the anchor's total (`anchor_work`) plus the work above it, or `None`
    /// when the anchor's total is not known.
    pub fn total_chainwork(&self, anchor_work: Option<[u8; 32]>) -> Option<Vec<[u8; 32]>> {
        if self.start_height == 0 {
            return Some(self.chainwork.clone());
        }
        let base = Work::from_be_bytes(anchor_work?);
        Some(
            self.chainwork
                .iter()
                .map(|w| (base + Work::from_be_bytes(*w)).to_be_bytes())
                .collect(),
        )
    }
}

impl BlkReader {
    /// Opens a blocks directory of `chain`: lists `blk?????.dat` in number order and reads
    /// `xor.dat` if present.
    pub fn open(dir: &Path, chain: Chain) -> Result<BlkReader, BlkError> {
        let io = |source| BlkError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut numbered = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name
                .strip_prefix("blk")
                .and_then(|r| r.strip_suffix(".dat"))
                && let Ok(n) = n.parse::<u32>()
            {
                numbered.push((n, entry.path()));
            }
        }
        if numbered.is_empty() {
            return Err(BlkError::NoFiles {
                dir: dir.to_path_buf(),
            });
        }
        numbered.sort();
        let xor_path = dir.join("xor.dat");
        let xor_key = match std::fs::read(&xor_path) {
            Ok(bytes) => {
                let key: [u8; 8] =
                    bytes
                        .as_slice()
                        .try_into()
                        .map_err(|_| BlkError::BadXorKey {
                            path: xor_path.clone(),
                            len: bytes.len() as u64,
                        })?;
                (key != [0; 8]).then_some(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(BlkError::Io {
                    path: xor_path,
                    source,
                });
            }
        };
        Ok(BlkReader {
            chain,
            files: numbered.into_iter().map(|(_, p)| p).collect(),
            xor_key,
        })
    }

    /// The chain being read.
    pub fn chain(&self) -> Chain {
        self.chain
    }

    /// The block files, in number order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Whether the files are obfuscated.
    pub fn xor_key(&self) -> Option<[u8; 8]> {
        self.xor_key
    }

    fn unxor(&self, buf: &mut [u8], file_offset: u64) {
        if let Some(key) = self.xor_key {
            // The key as it lines up with `buf`: byte i takes key[(offset + i) % 8].
            let mut aligned = key;
            aligned.rotate_left((file_offset % 8) as usize);
            let word = u64::from_ne_bytes(aligned);
            let mut chunks = buf.chunks_exact_mut(8);
            for chunk in &mut chunks {
                let mut w = [0u8; 8];
                w.copy_from_slice(chunk);
                chunk.copy_from_slice(&(u64::from_ne_bytes(w) ^ word).to_ne_bytes());
            }
            for (b, k) in chunks.into_remainder().iter_mut().zip(aligned) {
                *b ^= k;
            }
        }
    }

    /// Indexes every block record in every file. `progress` is called with each file's index
    /// after it is scanned.
    pub fn scan(&self, mut progress: impl FnMut(usize)) -> Result<BlockIndex, BlkError> {
        let magic = self
            .chain
            .utxo_params()
            .map(|p| p.magic)
            .unwrap_or_default();
        let mut index = BlockIndex::default();
        for (file_no, path) in self.files.iter().enumerate() {
            let is_last = file_no + 1 == self.files.len();
            let io = |source| BlkError::Io {
                path: path.clone(),
                source,
            };
            let file = File::open(path).map_err(io)?;
            let size = file.metadata().map_err(io)?.len();
            let mut reader = BufReader::with_capacity(1 << 16, file);
            let mut offset = 0u64;
            let mut head = [0u8; 88];
            while offset + 8 <= size {
                let want = usize::try_from((size - offset).min(88)).unwrap_or(88);
                let head = head.get_mut(..want).unwrap_or_default();
                reader.read_exact(head).map_err(io)?;
                // Core preallocates files with raw zeros that never pass through the XOR key, so
                // look for them before de-obfuscating (and after, for writers that XOR padding).
                let raw_zero = head.get(..4) == Some(&[0u8; 4][..]);
                self.unxor(head, offset);
                let (Some(found), Some(len)) = (head.get(..4), head.get(4..8)) else {
                    break;
                };
                if raw_zero || found == [0; 4] {
                    // Preallocated space: no more records in this file.
                    break;
                }
                if found != magic {
                    return Err(BlkError::BadMagic {
                        path: path.clone(),
                        offset,
                        chain: self.chain,
                        expected: hex::encode(magic),
                        found: hex::encode(found),
                    });
                }
                let len = u32::from_le_bytes(len.try_into().unwrap_or_default());
                if !(80..=MAX_BLOCK_BYTES).contains(&len) {
                    return Err(BlkError::BadLength {
                        path: path.clone(),
                        offset,
                        len,
                    });
                }
                let available = size - offset - 8;
                if u64::from(len) > available {
                    if is_last {
                        index.notes.push(ScanNote::PartialLastRecord {
                            path: path.clone(),
                            offset,
                        });
                        break;
                    }
                    return Err(BlkError::Truncated {
                        path: path.clone(),
                        offset,
                        needed: u64::from(len),
                        available,
                    });
                }
                let header = head
                    .get(8..88)
                    .and_then(|mut h| Header::consensus_decode(&mut h).ok())
                    .ok_or_else(|| BlkError::Decode {
                        path: path.clone(),
                        offset: offset + 8,
                        source: Box::new(DecodeError::Truncated {
                            what: "block header".into(),
                            offset: 0,
                            len: 0,
                        }),
                    })?;
                let hash = Hash32::from_internal(header.block_hash().to_byte_array());
                if index.by_hash.contains_key(&hash) {
                    index.notes.push(ScanNote::Duplicate { hash });
                } else {
                    index.by_hash.insert(hash, index.blocks.len());
                    index.blocks.push(BlockLocation {
                        file: u32::try_from(file_no).unwrap_or(u32::MAX),
                        offset: offset + 8,
                        len,
                        header,
                        hash,
                    });
                }
                offset += 8 + u64::from(len);
                reader.seek(SeekFrom::Start(offset)).map_err(io)?;
            }
            progress(file_no);
        }
        Ok(index)
    }

    /// Reads and decodes the block at `loc`, as height `height`.
    pub fn read_block(&self, loc: &BlockLocation, height: u32) -> Result<UtxoBlock, BlkError> {
        self.read_block_with(loc, height, &mut ReadBuffer::default())
    }

    /// [`BlkReader::read_block`] reusing `buf`'s memory and open file, as the readers of
    /// [`BlkReader::read_in_order`] do for every block they read.
    fn read_block_with(
        &self,
        loc: &BlockLocation,
        height: u32,
        buf: &mut ReadBuffer,
    ) -> Result<UtxoBlock, BlkError> {
        let path = self
            .files
            .get(loc.file as usize)
            .cloned()
            .unwrap_or_default();
        let bytes = self.read_into(loc, buf)?;
        let block = decode::decode_utxo_block(bytes, self.chain, height).map_err(|source| {
            BlkError::Decode {
                path: path.clone(),
                offset: loc.offset,
                source: Box::new(source),
            }
        })?;
        if block.block.hash != loc.hash {
            return Err(BlkError::Changed {
                path,
                offset: loc.offset,
                expected: loc.hash,
                found: block.block.hash,
            });
        }
        Ok(block)
    }

    /// Reads and decodes `locations` (the first at `first_height`, then one height each) with
    /// `threads` workers, handing each block to `each` strictly in height order. The first
    /// failure, of a read or of `each`, stops the run after every block before it was handed
    /// over.
    pub fn read_in_order<E: From<BlkError>>(
        &self,
        locations: &[BlockLocation],
        first_height: u32,
        threads: usize,
        mut each: impl FnMut(UtxoBlock) -> Result<(), E>,
    ) -> Result<(), E> {
        let next = AtomicUsize::new(0);
        let total = locations.len();
        let (tx, rx) = mpsc::sync_channel::<(usize, Result<UtxoBlock, BlkError>)>(64);
        std::thread::scope(|scope| {
            for _ in 0..threads.max(1) {
                let tx = tx.clone();
                let next = &next;
                scope.spawn(move || {
                    let mut buf = ReadBuffer::default();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(loc) = locations.get(i) else { return };
                        let height =
                            first_height.saturating_add(u32::try_from(i).unwrap_or(u32::MAX));
                        let block = self.read_block_with(loc, height, &mut buf);
                        if tx.send((i, block)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(tx);
            // Workers finish out of order; hand blocks over strictly in height order.
            let mut pending: BTreeMap<usize, Result<UtxoBlock, BlkError>> = BTreeMap::new();
            let mut want = 0;
            let result = (|| {
                for (i, item) in rx.iter() {
                    pending.insert(i, item);
                    while let Some(item) = pending.remove(&want) {
                        each(item?)?;
                        want += 1;
                    }
                }
                Ok(())
            })();
            if result.is_err() {
                // Stop the workers; they exit at their next send or fetch.
                next.store(total, Ordering::Relaxed);
            }
            drop(rx);
            result
        })
    }

    /// The raw (de-obfuscated) bytes of the block at `loc`.
    pub fn read_bytes(&self, loc: &BlockLocation) -> Result<Vec<u8>, BlkError> {
        let mut buf = ReadBuffer::default();
        self.read_into(loc, &mut buf)?;
        Ok(buf.bytes)
    }

    /// [`BlkReader::read_bytes`] into `buf`, keeping its memory and its file open.
    fn read_into<'b>(
        &self,
        loc: &BlockLocation,
        buf: &'b mut ReadBuffer,
    ) -> Result<&'b [u8], BlkError> {
        let path = self
            .files
            .get(loc.file as usize)
            .cloned()
            .unwrap_or_default();
        let io = |source| BlkError::Io {
            path: path.clone(),
            source,
        };
        let file = match &buf.file {
            Some((no, f)) if *no == loc.file => f,
            _ => {
                &buf.file
                    .insert((loc.file, File::open(&path).map_err(io)?))
                    .1
            }
        };
        buf.bytes.resize(loc.len as usize, 0);
        file.read_exact_at(&mut buf.bytes, loc.offset).map_err(io)?;
        self.unxor(&mut buf.bytes, loc.offset);
        Ok(&buf.bytes)
    }
}

/// A reader's block buffer and the blk file it read last, reused from block to block.
#[derive(Debug, Default)]
struct ReadBuffer {
    bytes: Vec<u8>,
    file: Option<(u32, File)>,
}

impl BlockIndex {
    /// The location of the block with this hash, if it is in the files.
    pub fn get(&self, hash: &Hash32) -> Option<&BlockLocation> {
        self.by_hash.get(hash).and_then(|&i| self.blocks.get(i))
    }

    /// Links headers and returns the chain to the tip with the most work.
    ///
    /// Chains start at `genesis` (height 0) or, only for a directory that no longer holds
    /// genesis (a pruned node), at a child of `anchor`: a block already stored, given as
    /// (hash, height). (Were the anchor used with genesis present, work counted from it would
    /// not compare fairly with branches counted from genesis.)
    pub fn best_chain(&self, genesis: Hash32, anchor: Option<(Hash32, u32)>) -> BestChain {
        let anchor = anchor.filter(|_| !self.by_hash.contains_key(&genesis));
        let parent_of =
            |loc: &BlockLocation| Hash32::from_internal(loc.header.prev_blockhash.to_byte_array());
        let root_height = |loc: &BlockLocation| {
            if loc.hash == genesis {
                return Some(0);
            }
            anchor.and_then(|(hash, height)| (parent_of(loc) == hash).then_some(height + 1))
        };
        // Cumulative work and height per block, filled iteratively (chains are too deep to recurse).
        let n = self.blocks.len();
        let mut work: Vec<Option<(Work, u32)>> = vec![None; n];
        let mut dead = vec![false; n];
        let mut detached = Vec::new();
        let mut stack = Vec::new();
        for start in 0..n {
            let mut cur = start;
            let mut linked = true;
            loop {
                if work.get(cur).is_some_and(Option::is_some) {
                    break;
                }
                if dead.get(cur).copied().unwrap_or(true) {
                    linked = false;
                    break;
                }
                stack.push(cur);
                let Some(loc) = self.blocks.get(cur) else {
                    break;
                };
                if root_height(loc).is_some() {
                    break;
                }
                match self.by_hash.get(&parent_of(loc)) {
                    Some(&p) => cur = p,
                    None => {
                        linked = false;
                        break;
                    }
                }
            }
            if !linked {
                for i in stack.drain(..) {
                    if let (Some(d), Some(b)) = (dead.get_mut(i), self.blocks.get(i)) {
                        *d = true;
                        detached.push(b.hash);
                    }
                }
            }
            while let Some(i) = stack.pop() {
                let Some(loc) = self.blocks.get(i) else {
                    continue;
                };
                let own = loc.header.work();
                let state = match root_height(loc) {
                    Some(h) => (own, h),
                    None => match self
                        .by_hash
                        .get(&parent_of(loc))
                        .and_then(|&p| work.get(p).copied().flatten())
                    {
                        Some((w, h)) => (w + own, h + 1),
                        None => continue,
                    },
                };
                if let Some(slot) = work.get_mut(i) {
                    *slot = Some(state);
                }
            }
        }
        // Most work wins; on a tie the block stored first (Core keeps its first-seen tip).
        let tip = work
            .iter()
            .enumerate()
            .filter_map(|(i, w)| w.map(|w| (i, w)))
            .fold(None::<(usize, (Work, u32))>, |best, cur| match best {
                Some(b) if b.1.0 >= cur.1.0 => Some(b),
                _ => Some(cur),
            });
        let mut chain = Vec::new();
        let mut chainwork = Vec::new();
        let mut cur = tip.map(|t| t.0);
        let mut start_height = 0;
        while let Some(i) = cur {
            let Some(loc) = self.blocks.get(i) else { break };
            chain.push(loc.clone());
            chainwork.push(
                work.get(i)
                    .copied()
                    .flatten()
                    .map_or([0; 32], |w| w.0.to_be_bytes()),
            );
            if let Some(h) = root_height(loc) {
                start_height = h;
                break;
            }
            cur = self.by_hash.get(&parent_of(loc)).copied();
        }
        chain.reverse();
        chainwork.reverse();
        let linked = work.iter().filter(|w| w.is_some()).count();
        BestChain {
            stale: linked - chain.len(),
            start_height,
            blocks: chain,
            chainwork,
            detached,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Word-at-a-time unxoring equals the definition (byte i of the file takes key[i % 8]) at
    /// every alignment and length.
    #[test]
    fn unxor_matches_the_byte_definition_at_every_offset() {
        let key = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
        let reader = BlkReader {
            chain: Chain::BitcoinMainnet,
            files: Vec::new(),
            xor_key: Some(key),
        };
        for offset in 0..17u64 {
            for len in 0..40usize {
                let plain: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let mut buf = plain.clone();
                reader.unxor(&mut buf, offset);
                for (i, (b, p)) in buf.iter().zip(&plain).enumerate() {
                    assert_eq!(
                        *b,
                        p ^ key[(offset as usize + i) % 8],
                        "offset {offset}, byte {i}"
                    );
                }
            }
        }
    }
}
