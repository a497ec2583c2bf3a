//! Realistic Bitcoin-Core-format block files of any size, for demos, tests and benchmarks.
//!
//! [`write_blk_dir`] writes `blk00000.dat`, `blk00001.dat`, … as Core does (records
//! `magic | length u32 LE | block`, files cut at [`SynthConfig::max_file_bytes`], optionally
//! XOR-obfuscated with an `xor.dat` key as Core 28+ does), starting from the chain's real
//! genesis block. Every block links to its parent, has a correct merkle root (and a witness
//! commitment when it holds segwit transactions), a timestamp about 600 s after its parent and
//! the genesis difficulty bits; optional stale siblings lose to the best chain, which keeps
//! growing past them.
//!
//! The transactions follow the shapes seen on mainnet in 2021–2024, deterministically from
//! [`SynthConfig::seed`]: a coinbase paying subsidy plus fees to one of a few pool addresses
//! (with a BIP34 height and a witness commitment), payments spending 1–3 earlier outputs
//! (mostly recent, some old) into a payment and a change output with a realistic fee,
//! exchange withdrawals fanning out to 10–200 outputs, pool payouts, consolidations of 20–100
//! inputs, peel chains, `OP_RETURN` outputs, a little P2PK and bare multisig, and a script mix
//! of P2PKH, P2SH (wrapped segwit and multisig), P2WPKH, P2WSH and P2TR. Some users reuse
//! addresses. Inputs carry scriptSigs and witness stacks of real sizes whose public keys hash
//! to the address they spend (signatures are random bytes of the right shape: nothing here
//! checks them, and the proof of work is not real either).
//!
//! Every input spends an unspent output of the best chain, created earlier (in an earlier
//! block, or earlier in the same block), and coinbase outputs only after 100 blocks. The set
//! of unspent outputs is held in memory, capped by [`SynthConfig::max_utxos`]: near the cap
//! the generator consolidates more. Blocks are streamed to the files as they are made, by a
//! second thread that serializes, obfuscates and writes them.
//!
//! ```no_run
//! use tracehound_btc::synth::{SynthConfig, write_blk_dir};
//! let cfg = SynthConfig { blocks: 1_000, txs_per_block: 200, ..SynthConfig::default() };
//! let summary = write_blk_dir(std::path::Path::new("/tmp/blocks"), &cfg)?;
//! println!("{} txs in {} files", summary.txs, summary.files);
//! # Ok::<(), tracehound_btc::synth::SynthError>(())
//! ```

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::blockdata::constants::genesis_block;
use bitcoin::consensus::Encodable;
use bitcoin::hashes::{Hash, hash160};
use bitcoin::opcodes::all::{
    OP_CHECKMULTISIG, OP_CHECKSIG, OP_PUSHBYTES_0, OP_PUSHNUM_1, OP_PUSHNUM_2, OP_PUSHNUM_3,
};
use bitcoin::script::{Builder, PushBytes};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, Network, OutPoint, PubkeyHash, ScriptBuf, Sequence,
    Transaction, TxIn, TxMerkleNode, TxOut, Txid, WPubkeyHash, Witness, WitnessMerkleNode,
    WitnessProgram, WitnessVersion, Wtxid,
};
use tracehound_core::{Chain, Hash32};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthConfig {
    /// The chain whose magic frames the records and whose genesis starts the chain: Bitcoin
    /// (mainnet, testnet3, testnet4, signet, regtest) or Litecoin (mainnet, testnet4, regtest).
    pub chain: Chain,
    /// Blocks on the best chain, genesis included (heights `0..blocks`).
    pub blocks: u32,
    /// Average non-coinbase transactions per block; each block varies around it (a few are
    /// nearly empty). Early blocks have fewer: only coinbase outputs exist to spend at first,
    /// and they mature after 100 blocks.
    pub txs_per_block: u32,
    /// Seed of everything random: the same config writes byte-identical files.
    pub seed: u64,
    /// Obfuscate the files with this key and write it to `xor.dat`, as Core 28+ does.
    pub xor_key: Option<[u8; 8]>,
    /// Start a new file when a record would make the current one larger (Core: 128 MiB).
    pub max_file_bytes: u64,
    /// Store blocks in a shuffled order within a sliding window, as headers-first sync does
    /// (every block's parent is stored eventually; genesis is always first).
    pub out_of_order: bool,
    /// Every N blocks, also store a stale sibling (another miner's block at the same height
    /// that lost the race). Never at the tip, so the best chain is never ambiguous.
    pub stale_every: Option<u32>,
    /// Cap of the in-memory set of unspent outputs (about 64 bytes each): near it the
    /// generator spends more inputs per transaction and consolidates more.
    pub max_utxos: usize,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            chain: Chain::BitcoinMainnet,
            blocks: 1_000,
            txs_per_block: 250,
            seed: 1,
            xor_key: None,
            max_file_bytes: 128 * 1024 * 1024,
            out_of_order: false,
            stale_every: None,
            max_utxos: 1_000_000,
        }
    }
}

/// What was written. Block, transaction, input and output counts are of the best chain only;
/// inputs do not count coinbase inputs (as [`tracehound_core::UtxoTx::inputs`] does not).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SynthSummary {
    /// Blocks on the best chain, genesis included.
    pub blocks: u64,
    /// Transactions on the best chain, coinbases included.
    pub txs: u64,
    /// Inputs of non-coinbase transactions on the best chain.
    pub inputs: u64,
    /// Outputs on the best chain (`OP_RETURN` and witness commitments included).
    pub outputs: u64,
    /// Bytes of all `blk*.dat` files written (stale blocks and record framing included).
    pub bytes: u64,
    /// Number of `blk*.dat` files written.
    pub files: u32,
    /// Stale sibling blocks written besides the best chain.
    pub stale_blocks: u32,
    /// Unspent outputs at the tip, `OP_RETURN` outputs not counted: the UTXO set a reader of
    /// these files ends up holding (the unspendable genesis output counted, as most do).
    pub unspent: u64,
    /// Display-order hash of the best chain's tip.
    pub tip: Hash32,
}

/// Why block files could not be generated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SynthError {
    /// The generator knows no genesis block for this chain.
    #[error("cannot generate blocks of {0}: only Bitcoin and Litecoin chains are supported")]
    UnsupportedChain(Chain),
    /// The configuration cannot be generated.
    #[error("invalid synth config: {0}")]
    Config(String),
    /// The directory already holds block files (they would mix with the new ones).
    #[error(
        "{dir} already holds block files (blk*.dat or xor.dat); generate into an empty directory"
    )]
    NotEmpty {
        /// The directory.
        dir: PathBuf,
    },
    /// A file or directory could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Writes a blocks directory as described in the module docs.
pub fn write_blk_dir(dir: &Path, cfg: &SynthConfig) -> Result<SynthSummary, SynthError> {
    write_blk_dir_with_progress(dir, cfg, |_| {})
}

/// [`write_blk_dir`], calling `progress` with each best-chain height once it is generated.
pub fn write_blk_dir_with_progress(
    dir: &Path,
    cfg: &SynthConfig,
    mut progress: impl FnMut(u32),
) -> Result<SynthSummary, SynthError> {
    if cfg.blocks == 0 {
        return Err(SynthError::Config(
            "blocks must be at least 1 (the genesis block)".into(),
        ));
    }
    if cfg.stale_every == Some(0) {
        return Err(SynthError::Config("stale_every must be at least 1".into()));
    }
    let params = cfg
        .chain
        .utxo_params()
        .ok_or(SynthError::UnsupportedChain(cfg.chain))?;
    let genesis = genesis(cfg.chain)?;
    prepare_dir(dir)?;
    if let Some(key) = cfg.xor_key {
        let path = dir.join("xor.dat");
        std::fs::write(&path, key).map_err(|source| SynthError::Io { path, source })?;
    }

    let (send, recv) = mpsc::sync_channel::<(u32, Block)>(32);
    let writer = BlkWriter::new(dir, params.magic, cfg);
    std::thread::scope(|scope| {
        let handle = scope.spawn(move || writer.run(recv));
        let generated = generate(cfg, genesis, &send, &mut progress);
        drop(send);
        let written = handle.join().unwrap_or_else(|_| {
            Err(SynthError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::other("writer thread panicked"),
            })
        });
        // A write error stops the writer, which makes the generator's sends fail: report the cause.
        let (bytes, files) = written?;
        let mut summary = generated?;
        summary.bytes = bytes;
        summary.files = files;
        Ok(summary)
    })
}

fn prepare_dir(dir: &Path) -> Result<(), SynthError> {
    let io = |source| SynthError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let name = entry.map_err(io)?.file_name();
        let name = name.to_string_lossy();
        if name == "xor.dat" || (name.starts_with("blk") && name.ends_with(".dat")) {
            return Err(SynthError::NotEmpty {
                dir: dir.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Writes blocks made elsewhere (the heist simulator's file mode) into a fresh blocks
/// directory as Core lays them out: `magic | length | block` records, files cut at a size.
///
/// ```no_run
/// use tracehound_btc::synth::{BlkFileWriter, genesis_of};
/// use tracehound_core::Chain;
/// let mut w = BlkFileWriter::create(std::path::Path::new("/tmp/blocks"), Chain::LitecoinRegtest, 128 << 20)?;
/// w.write(&genesis_of(Chain::LitecoinRegtest)?)?;
/// let (bytes, files) = w.finish()?;
/// # Ok::<(), tracehound_btc::synth::SynthError>(())
/// ```
pub struct BlkFileWriter(BlkWriter);

impl BlkFileWriter {
    /// Prepares `dir` (created if missing; it must hold no block files yet).
    pub fn create(dir: &Path, chain: Chain, max_file_bytes: u64) -> Result<Self, SynthError> {
        let params = chain
            .utxo_params()
            .ok_or(SynthError::UnsupportedChain(chain))?;
        prepare_dir(dir)?;
        let cfg = SynthConfig {
            chain,
            max_file_bytes,
            ..SynthConfig::default()
        };
        Ok(BlkFileWriter(BlkWriter::new(dir, params.magic, &cfg)))
    }

    /// Appends one block.
    pub fn write(&mut self, block: &Block) -> Result<(), SynthError> {
        let record = self.0.record(block);
        self.0.write_record(record)
    }

    /// Flushes the last file; returns (bytes, files) written.
    pub fn finish(mut self) -> Result<(u64, u32), SynthError> {
        if let Some((path, mut file)) = self.0.file.take() {
            file.flush()
                .map_err(|source| SynthError::Io { path, source })?;
        }
        Ok((self.0.total, self.0.file_no))
    }
}

/// The real genesis block of a Bitcoin or Litecoin chain.
pub fn genesis_of(chain: Chain) -> Result<Block, SynthError> {
    genesis(chain)
}

/// The chain's real genesis block, checked against its known hash.
fn genesis(chain: Chain) -> Result<Block, SynthError> {
    let block = match chain {
        Chain::BitcoinMainnet => genesis_block(Network::Bitcoin),
        Chain::BitcoinTestnet => genesis_block(Network::Testnet),
        Chain::BitcoinTestnet4 => genesis_block(Network::Testnet4),
        Chain::BitcoinSignet => genesis_block(Network::Signet),
        Chain::BitcoinRegtest => genesis_block(Network::Regtest),
        Chain::LitecoinMainnet => litecoin_genesis(1_317_972_665, 2_084_524_493, 0x1e0f_fff0),
        Chain::LitecoinTestnet => litecoin_genesis(1_486_949_366, 293_345, 0x1e0f_fff0),
        Chain::LitecoinRegtest => litecoin_genesis(1_296_688_602, 0, 0x207f_ffff),
        _ => return Err(SynthError::UnsupportedChain(chain)),
    };
    let expected = chain.utxo_params().map(|p| p.genesis).unwrap_or_default();
    if block_hash(&block.header).to_string() != expected {
        return Err(SynthError::UnsupportedChain(chain));
    }
    Ok(block)
}

/// Litecoin's genesis: Bitcoin's layout with its own message, key, time, nonce and bits.
/// A coinbase: the null prevout with `script_sig`, paying `value` to `payout`.
fn coinbase_tx(
    version: Version,
    script_sig: ScriptBuf,
    value: Amount,
    payout: ScriptBuf,
) -> Transaction {
    Transaction {
        version,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig,
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value,
            script_pubkey: payout,
        }],
    }
}

fn litecoin_genesis(time: u32, nonce: u32, bits: u32) -> Block {
    const MESSAGE: &[u8] =
        "NY Times 05/Oct/2011 Steve Jobs, Apple’s Visionary, Dies at 56".as_bytes();
    const KEY: &str = "040184710fa689ad5023690c80f3a49c8f13f8d45b8c857fbcbc8bc4a8e4d3eb4b10f4d4604fa08dce601aaf0f470216fe1b51850b4acf21b179c45070ac7b03a9";
    let mut key = [0u8; 65];
    // A constant of the right length: decoding cannot fail.
    let _ = hex::decode_to_slice(KEY, &mut key);
    let script_sig = push(
        Builder::new()
            .push_slice([0xff, 0xff, 0x00, 0x1d])
            .push_slice([4u8]),
        MESSAGE,
    )
    .into_script();
    let payout = Builder::new()
        .push_slice(key)
        .push_opcode(OP_CHECKSIG)
        .into_script();
    let coinbase = coinbase_tx(
        Version::ONE,
        script_sig,
        Amount::from_sat(50 * 100_000_000),
        payout,
    );
    let merkle_root = TxMerkleNode::from_raw_hash(coinbase.compute_txid().to_raw_hash());
    Block {
        header: Header {
            version: BlockVersion::ONE,
            prev_blockhash: BlockHash::all_zeros(),
            merkle_root,
            time,
            bits: CompactTarget::from_consensus(bits),
            nonce,
        },
        txdata: vec![coinbase],
    }
}

fn block_hash(header: &Header) -> Hash32 {
    Hash32::from_internal(header.block_hash().to_byte_array())
}

fn push(builder: Builder, data: &[u8]) -> Builder {
    // Every push here is far below the 4 GiB limit `PushBytes` checks.
    match <&PushBytes>::try_from(data) {
        Ok(bytes) => builder.push_slice(bytes),
        Err(_) => builder,
    }
}

// ----------------------------------------------------------------------------------------------
// The writer thread: serialize, frame, reorder, obfuscate, cut into files.

/// Blocks held back to be stored shuffled, when `out_of_order` is set.
const REORDER_WINDOW: usize = 24;

struct BlkWriter {
    dir: PathBuf,
    magic: [u8; 4],
    xor_key: Option<[u8; 8]>,
    max_file_bytes: u64,
    out_of_order: bool,
    rng: fastrand::Rng,
    file: Option<(PathBuf, std::io::BufWriter<File>)>,
    file_no: u32,
    file_len: u64,
    total: u64,
    pending: Vec<Vec<u8>>,
}

impl BlkWriter {
    fn new(dir: &Path, magic: [u8; 4], cfg: &SynthConfig) -> Self {
        BlkWriter {
            dir: dir.to_path_buf(),
            magic,
            xor_key: cfg.xor_key,
            max_file_bytes: cfg.max_file_bytes,
            out_of_order: cfg.out_of_order,
            rng: fastrand::Rng::with_seed(cfg.seed ^ 0x5772_6974_6572_0001),
            file: None,
            file_no: 0,
            file_len: 0,
            total: 0,
            pending: Vec::new(),
        }
    }

    /// Writes every block received; returns (bytes, files).
    fn run(mut self, recv: mpsc::Receiver<(u32, Block)>) -> Result<(u64, u32), SynthError> {
        for (height, block) in recv {
            let record = self.record(&block);
            drop(block);
            if !self.out_of_order || height == 0 {
                self.write_record(record)?;
                continue;
            }
            self.pending.push(record);
            if self.pending.len() > REORDER_WINDOW {
                let pick = self.rng.usize(..self.pending.len());
                let record = self.pending.swap_remove(pick);
                self.write_record(record)?;
            }
        }
        while !self.pending.is_empty() {
            let pick = self.rng.usize(..self.pending.len());
            let record = self.pending.swap_remove(pick);
            self.write_record(record)?;
        }
        if let Some((path, mut file)) = self.file.take() {
            file.flush()
                .map_err(|source| SynthError::Io { path, source })?;
        }
        Ok((self.total, self.file_no))
    }

    /// `magic | length u32 LE | block`.
    fn record(&self, block: &Block) -> Vec<u8> {
        let mut record = Vec::with_capacity(block.txdata.len() * 400 + 96);
        record.extend_from_slice(&self.magic);
        record.extend_from_slice(&[0; 4]);
        // Writing into a Vec cannot fail.
        let _ = block.consensus_encode(&mut record);
        let len = u32::try_from(record.len() - 8).unwrap_or(u32::MAX);
        if let Some(slot) = record.get_mut(4..8) {
            slot.copy_from_slice(&len.to_le_bytes());
        }
        record
    }

    fn write_record(&mut self, mut record: Vec<u8>) -> Result<(), SynthError> {
        let len = record.len() as u64;
        if self.file.is_none() || (self.file_len > 0 && self.file_len + len > self.max_file_bytes) {
            if let Some((path, mut file)) = self.file.take() {
                file.flush()
                    .map_err(|source| SynthError::Io { path, source })?;
            }
            let path = self.dir.join(format!("blk{:05}.dat", self.file_no));
            let file = File::create(&path).map_err(|source| SynthError::Io {
                path: path.clone(),
                source,
            })?;
            self.file = Some((path, std::io::BufWriter::with_capacity(1 << 20, file)));
            self.file_no += 1;
            self.file_len = 0;
        }
        if let Some(key) = self.xor_key {
            let start = (self.file_len % 8) as usize;
            for (b, k) in record.iter_mut().zip(key.iter().cycle().skip(start)) {
                *b ^= k;
            }
        }
        if let Some((path, file)) = self.file.as_mut() {
            file.write_all(&record).map_err(|source| SynthError::Io {
                path: path.clone(),
                source,
            })?;
        }
        self.file_len += len;
        self.total += len;
        Ok(())
    }
}

// ----------------------------------------------------------------------------------------------
// The generator.

/// Output templates, with how their owners spend them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    P2pkh,
    /// P2SH-wrapped P2WPKH.
    P2shWpkh,
    /// P2SH 2-of-3 multisig.
    P2shMultisig,
    P2wpkh,
    /// P2WSH 2-of-3 multisig.
    P2wsh,
    P2tr,
    P2pk,
    /// Bare 1-of-2 multisig.
    BareMultisig,
}

/// Output script mix (per mille), roughly mainnet's in 2021–2024.
const KIND_MIX: [(Kind, u32); 8] = [
    (Kind::P2wpkh, 440),
    (Kind::P2pkh, 150),
    (Kind::P2tr, 150),
    (Kind::P2shWpkh, 110),
    (Kind::P2wsh, 80),
    (Kind::P2shMultisig, 60),
    (Kind::P2pk, 5),
    (Kind::BareMultisig, 5),
];

/// An unspent output.
#[derive(Clone, Copy, Debug)]
struct Coin {
    txid: Txid,
    value: u64,
    owner: u64,
    vout: u32,
    height: u32,
    kind: Kind,
}

/// Where an output goes.
#[derive(Clone, Copy)]
enum Dest {
    Pay(Kind, u64),
    OpReturn(usize),
}

/// A non-change output: a share of what the inputs hold after the fee.
struct OutSpec {
    dest: Dest,
    share: f64,
    round: bool,
}

/// An active peel chain: a large coin that pays a little away at each hop.
struct Peel {
    coin: Coin,
    hops_left: u32,
}

const COIN: u64 = 100_000_000;
const DUST: u64 = 546;
const COINBASE_MATURITY: u32 = 100;
const MAX_BLOCK_WEIGHT: u64 = 4_000_000;
/// Owners that receive many payments (exchanges first, then merchants and heavy users).
const REUSED_OWNERS: usize = 2_000;
const EXCHANGES: usize = 24;
const POOLS: [&str; 12] = [
    "/Foundry USA Pool #dropgold/",
    "/AntPool/",
    "/F2Pool/",
    "/ViaBTC/",
    "/binance/",
    "/MARA Pool/",
    "/SpiderPool/",
    "/Luxor/",
    "/BTC.com/",
    "/SBICrypto.com Pool/",
    "/Braiins Pool/",
    "/Ocean.xyz/",
];

struct Gen<'a> {
    cfg: &'a SynthConfig,
    rng: fastrand::Rng,
    key_seed: u64,
    next_owner: u64,
    height: u32,
    /// Unspent outputs of the last blocks, newest at the back.
    recent: VecDeque<Coin>,
    recent_cap: usize,
    /// Older unspent outputs.
    old: Vec<Coin>,
    /// Outputs made in the block being built.
    fresh: Vec<Coin>,
    /// Coinbase outputs waiting to mature, by height.
    immature: VecDeque<Coin>,
    peels: Vec<Peel>,
    reused: Vec<(Kind, u64)>,
    pools: Vec<(Kind, u64)>,
    fee_base: f64,
    // The block being built (coinbase excluded).
    txs: Vec<Transaction>,
    txids: Vec<Txid>,
    fees: u64,
    weight: u64,
    segwit: bool,
    // Best-chain totals.
    total_txs: u64,
    total_inputs: u64,
    total_outputs: u64,
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn generate(
    cfg: &SynthConfig,
    genesis: Block,
    send: &mpsc::SyncSender<(u32, Block)>,
    progress: &mut impl FnMut(u32),
) -> Result<SynthSummary, SynthError> {
    let mut g = Gen::new(cfg);
    let closed = || SynthError::Io {
        path: PathBuf::new(),
        source: std::io::Error::other("block writer stopped"),
    };
    let mut prev = genesis.header;
    g.total_txs = 1;
    g.total_outputs = genesis.txdata.iter().map(|t| t.output.len() as u64).sum();
    send.send((0, genesis)).map_err(|_| closed())?;
    progress(0);
    let mut stale_blocks = 0;
    for height in 1..cfg.blocks {
        g.height = height;
        let (block, stale) = g.block(
            &prev,
            cfg.stale_every
                .is_some_and(|n| height % n == 0 && height + 1 < cfg.blocks),
        );
        prev = block.header;
        let stale_first = g.rng.bool();
        if let (Some(stale), true) = (&stale, stale_first) {
            send.send((height, stale.clone())).map_err(|_| closed())?;
        }
        send.send((height, block)).map_err(|_| closed())?;
        if let (Some(stale), false) = (stale, stale_first) {
            send.send((height, stale)).map_err(|_| closed())?;
        }
        if cfg
            .stale_every
            .is_some_and(|n| height % n == 0 && height + 1 < cfg.blocks)
        {
            stale_blocks += 1;
        }
        progress(height);
    }
    Ok(SynthSummary {
        blocks: u64::from(cfg.blocks),
        txs: g.total_txs,
        inputs: g.total_inputs,
        outputs: g.total_outputs,
        bytes: 0,
        files: 0,
        stale_blocks,
        unspent: g.utxos() as u64 + u64::from(cfg.blocks > 0),
        tip: block_hash(&prev),
    })
}

impl<'a> Gen<'a> {
    fn new(cfg: &'a SynthConfig) -> Self {
        let mut rng = fastrand::Rng::with_seed(cfg.seed);
        let key_seed = rng.u64(..);
        let mut next_owner = 1u64;
        let mut owner = |rng: &mut fastrand::Rng| {
            next_owner += 1;
            (pick_kind(rng), next_owner)
        };
        let reused = (0..REUSED_OWNERS).map(|_| owner(&mut rng)).collect();
        let pools = POOLS.iter().map(|_| owner(&mut rng)).collect();
        let recent_cap = (cfg.txs_per_block as usize)
            .saturating_mul(2 * 40)
            .clamp(2_000, 400_000);
        Gen {
            cfg,
            rng,
            key_seed,
            next_owner,
            height: 0,
            recent: VecDeque::with_capacity(recent_cap + 1024),
            recent_cap,
            old: Vec::new(),
            fresh: Vec::new(),
            immature: VecDeque::new(),
            peels: Vec::new(),
            reused,
            pools,
            fee_base: 8.0,
            txs: Vec::new(),
            txids: Vec::new(),
            fees: 0,
            weight: 0,
            segwit: false,
            total_txs: 0,
            total_inputs: 0,
            total_outputs: 0,
        }
    }

    fn utxos(&self) -> usize {
        self.recent.len()
            + self.old.len()
            + self.fresh.len()
            + self.immature.len()
            + self.peels.len()
    }

    /// 0 well below the UTXO cap, rising to 1 at the cap and beyond.
    fn pressure(&self) -> f64 {
        let fill = self.utxos() as f64 / self.cfg.max_utxos.max(1) as f64;
        ((fill - 0.8) / 0.2).clamp(0.0, 2.0)
    }

    fn fresh_owner(&mut self) -> u64 {
        self.next_owner += 1;
        self.next_owner
    }

    /// A payee: often a fresh address, sometimes a popular reused one.
    fn payee(&mut self) -> (Kind, u64) {
        if self.rng.u32(..100) < 18 {
            // Popularity falls off steeply: a few owners get most reused payments.
            let x = self.rng.f64();
            let i = ((x * x * x) * REUSED_OWNERS as f64) as usize;
            if let Some(&(kind, owner)) = self.reused.get(i) {
                return (kind, owner);
            }
        }
        let kind = pick_kind(&mut self.rng);
        (kind, self.fresh_owner())
    }

    fn fee_rate(&mut self) -> f64 {
        (self.fee_base * (0.3 + 1.4 * self.rng.f64())).clamp(1.0, 50.0)
    }

    // -- the unspent pool ------------------------------------------------------------------

    /// Takes a coin to spend: mostly recent, some old, a few made earlier in this block.
    fn take(&mut self) -> Option<Coin> {
        let roll = self.rng.u32(..100);
        if roll < 3 && !self.fresh.is_empty() {
            let i = self.rng.usize(..self.fresh.len());
            return Some(self.fresh.swap_remove(i));
        }
        if (roll < 75 || self.old.is_empty()) && !self.recent.is_empty() {
            // Newer coins are spent sooner.
            let x = self.rng.f64();
            let back = ((x * x) * self.recent.len() as f64) as usize;
            let i = self.recent.len().saturating_sub(1 + back);
            return self.recent.swap_remove_back(i);
        }
        if !self.old.is_empty() {
            let i = self.rng.usize(..self.old.len());
            return Some(self.old.swap_remove(i));
        }
        if !self.fresh.is_empty() {
            let i = self.rng.usize(..self.fresh.len());
            return Some(self.fresh.swap_remove(i));
        }
        None
    }

    fn take_old(&mut self) -> Option<Coin> {
        if self.old.is_empty() {
            return self.take();
        }
        let i = self.rng.usize(..self.old.len());
        Some(self.old.swap_remove(i))
    }

    fn take_n(&mut self, n: usize, old: bool) -> Vec<Coin> {
        let mut coins = Vec::with_capacity(n);
        for _ in 0..n {
            match if old { self.take_old() } else { self.take() } {
                Some(c) => coins.push(c),
                None => break,
            }
        }
        coins
    }

    /// Puts back coins a transaction could not use.
    fn put_back(&mut self, coins: Vec<Coin>) {
        self.old.extend(coins);
    }

    fn end_block_pool(&mut self) {
        self.recent.extend(self.fresh.drain(..));
        while self.recent.len() > self.recent_cap {
            match self.recent.pop_front() {
                Some(c) => self.old.push(c),
                None => break,
            }
        }
    }

    // -- keys and scripts ------------------------------------------------------------------

    fn key32(&self, owner: u64, k: u64) -> [u8; 32] {
        let base = mix(self.key_seed ^ mix(owner.wrapping_mul(8).wrapping_add(k)));
        let mut out = [0u8; 32];
        for (i, chunk) in out.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(&mix(base.wrapping_add(i as u64)).to_le_bytes());
        }
        out
    }

    fn pubkey(&self, owner: u64, k: u64) -> [u8; 33] {
        let key = self.key32(owner, k);
        let mut pk = [0u8; 33];
        pk[0] = 0x02 | (key[31] & 1);
        pk[1..].copy_from_slice(&key);
        pk
    }

    /// Early P2PK outputs used uncompressed keys; some owners still do.
    fn p2pk_key(&self, owner: u64) -> Vec<u8> {
        if owner.is_multiple_of(2) {
            let mut pk = Vec::with_capacity(65);
            pk.push(0x04);
            pk.extend_from_slice(&self.key32(owner, 0));
            pk.extend_from_slice(&self.key32(owner, 1));
            pk
        } else {
            self.pubkey(owner, 0).to_vec()
        }
    }

    fn multisig(&self, owner: u64) -> ScriptBuf {
        Builder::new()
            .push_opcode(OP_PUSHNUM_2)
            .push_slice(self.pubkey(owner, 0))
            .push_slice(self.pubkey(owner, 1))
            .push_slice(self.pubkey(owner, 2))
            .push_opcode(OP_PUSHNUM_3)
            .push_opcode(OP_CHECKMULTISIG)
            .into_script()
    }

    fn wpkh(&self, owner: u64) -> WPubkeyHash {
        WPubkeyHash::from_byte_array(hash160::Hash::hash(&self.pubkey(owner, 0)).to_byte_array())
    }

    fn script_pubkey(&self, kind: Kind, owner: u64) -> ScriptBuf {
        match kind {
            Kind::P2pkh => ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array(
                hash160::Hash::hash(&self.pubkey(owner, 0)).to_byte_array(),
            )),
            Kind::P2shWpkh => {
                ScriptBuf::new_p2sh(&ScriptBuf::new_p2wpkh(&self.wpkh(owner)).script_hash())
            }
            Kind::P2shMultisig => ScriptBuf::new_p2sh(&self.multisig(owner).script_hash()),
            Kind::P2wpkh => ScriptBuf::new_p2wpkh(&self.wpkh(owner)),
            Kind::P2wsh => ScriptBuf::new_p2wsh(&self.multisig(owner).wscript_hash()),
            Kind::P2tr => match WitnessProgram::new(WitnessVersion::V1, &self.key32(owner, 7)) {
                Ok(program) => ScriptBuf::new_witness_program(&program),
                Err(_) => ScriptBuf::new_p2wpkh(&self.wpkh(owner)),
            },
            Kind::P2pk => push(Builder::new(), &self.p2pk_key(owner))
                .push_opcode(OP_CHECKSIG)
                .into_script(),
            Kind::BareMultisig => Builder::new()
                .push_opcode(OP_PUSHNUM_1)
                .push_slice(self.pubkey(owner, 0))
                .push_slice(self.pubkey(owner, 1))
                .push_opcode(OP_PUSHNUM_2)
                .push_opcode(OP_CHECKMULTISIG)
                .into_script(),
        }
    }

    /// A DER-encoded ECDSA signature of random value with SIGHASH_ALL (71–73 bytes).
    fn ecdsa_sig(&mut self) -> ([u8; 73], usize) {
        let mut out = [0u8; 73];
        let mut r = [0u8; 32];
        let mut s = [0u8; 32];
        self.rng.fill(&mut r);
        self.rng.fill(&mut s);
        s[0] &= 0x7f; // low-S
        if s[0] == 0 {
            s[0] = 1;
        }
        r[0] |= (r[0] == 0) as u8;
        let r_pad = usize::from(r[0] >= 0x80);
        let r_len = 32 + r_pad;
        let mut pos = 0;
        for b in [0x30, (4 + r_len + 32) as u8, 0x02, r_len as u8] {
            out[pos] = b;
            pos += 1;
        }
        pos += r_pad; // the zero byte that keeps r positive
        out[pos..pos + 32].copy_from_slice(&r);
        pos += 32;
        out[pos] = 0x02;
        out[pos + 1] = 32;
        pos += 2;
        out[pos..pos + 32].copy_from_slice(&s);
        pos += 32;
        out[pos] = 0x01;
        (out, pos + 1)
    }

    fn txin(&mut self, coin: &Coin, sequence: Sequence) -> TxIn {
        let mut witness = Witness::new();
        let script_sig = match coin.kind {
            Kind::P2pkh => {
                let (sig, n) = self.ecdsa_sig();
                push(push(Builder::new(), &sig[..n]), &self.pubkey(coin.owner, 0)).into_script()
            }
            Kind::P2shWpkh => {
                let (sig, n) = self.ecdsa_sig();
                witness.push(&sig[..n]);
                witness.push(self.pubkey(coin.owner, 0));
                let redeem = ScriptBuf::new_p2wpkh(&self.wpkh(coin.owner));
                push(Builder::new(), redeem.as_bytes()).into_script()
            }
            Kind::P2shMultisig => {
                let (a, na) = self.ecdsa_sig();
                let (b, nb) = self.ecdsa_sig();
                let redeem = self.multisig(coin.owner);
                let builder = push(
                    push(Builder::new().push_opcode(OP_PUSHBYTES_0), &a[..na]),
                    &b[..nb],
                );
                push(builder, redeem.as_bytes()).into_script()
            }
            Kind::P2wpkh => {
                let (sig, n) = self.ecdsa_sig();
                witness.push(&sig[..n]);
                witness.push(self.pubkey(coin.owner, 0));
                ScriptBuf::new()
            }
            Kind::P2wsh => {
                let (a, na) = self.ecdsa_sig();
                let (b, nb) = self.ecdsa_sig();
                witness.push([]);
                witness.push(&a[..na]);
                witness.push(&b[..nb]);
                witness.push(self.multisig(coin.owner).as_bytes());
                ScriptBuf::new()
            }
            Kind::P2tr => {
                let mut sig = [0u8; 65];
                self.rng.fill(&mut sig);
                // Mostly key-path spends with the default sighash (64 bytes); a few say
                // SIGHASH_ALL explicitly, and a few spend by a script leaf.
                let roll = self.rng.u32(..100);
                if roll < 3 {
                    witness.push(&sig[..64]);
                    let leaf = Builder::new()
                        .push_slice(self.key32(coin.owner, 8))
                        .push_opcode(OP_CHECKSIG)
                        .into_script();
                    witness.push(leaf.as_bytes());
                    let mut control = vec![0xc0 | (sig[0] & 1)];
                    control.extend_from_slice(&self.key32(coin.owner, 9));
                    for _ in 0..self.rng.usize(0..3) {
                        control
                            .extend_from_slice(&self.key32(coin.owner, 10 + control.len() as u64));
                    }
                    witness.push(control);
                } else if roll < 8 {
                    sig[64] = 0x01;
                    witness.push(sig);
                } else {
                    witness.push(&sig[..64]);
                }
                ScriptBuf::new()
            }
            Kind::P2pk => {
                let (sig, n) = self.ecdsa_sig();
                push(Builder::new(), &sig[..n]).into_script()
            }
            Kind::BareMultisig => {
                let (sig, n) = self.ecdsa_sig();
                push(Builder::new().push_opcode(OP_PUSHBYTES_0), &sig[..n]).into_script()
            }
        };
        TxIn {
            previous_output: OutPoint {
                txid: coin.txid,
                vout: coin.vout,
            },
            script_sig,
            sequence,
            witness,
        }
    }

    // -- transactions ----------------------------------------------------------------------

    /// Builds a transaction spending `inputs` into `outs` and (unless dust) a change output,
    /// pays a fee of `rate` sat/vB, adds it to the block. Returns the paying outputs' coins
    /// (without `OP_RETURN`) and the change coin; on failure puts the inputs back.
    fn emit(
        &mut self,
        inputs: Vec<Coin>,
        outs: &[OutSpec],
        change: Option<(Kind, u64)>,
        rate: f64,
    ) -> Option<(Vec<Coin>, Option<Coin>)> {
        if inputs.is_empty() || (outs.is_empty() && change.is_none()) {
            self.put_back(inputs);
            return None;
        }
        let (version, sequence, lock_time) = {
            let version = if self.rng.u32(..100) < 82 {
                Version::TWO
            } else {
                Version::ONE
            };
            let roll = self.rng.u32(..100);
            let sequence = match roll {
                0..35 => Sequence::ENABLE_RBF_NO_LOCKTIME,
                35..80 => Sequence::ENABLE_LOCKTIME_NO_RBF,
                _ => Sequence::MAX,
            };
            let lock_time = if sequence != Sequence::MAX && self.rng.bool() {
                LockTime::from_height(self.height.saturating_sub(1)).unwrap_or(LockTime::ZERO)
            } else {
                LockTime::ZERO
            };
            (version, sequence, lock_time)
        };
        let input: Vec<TxIn> = inputs.iter().map(|c| self.txin(c, sequence)).collect();
        let mut output = Vec::with_capacity(outs.len() + 1);
        for spec in outs {
            let script_pubkey = match spec.dest {
                Dest::Pay(kind, owner) => self.script_pubkey(kind, owner),
                Dest::OpReturn(len) => {
                    let mut data = vec![0u8; len.clamp(1, 80)];
                    self.rng.fill(&mut data);
                    if len >= 20 && self.rng.u32(..4) == 0 {
                        data[..4].copy_from_slice(b"omni");
                    }
                    match <&PushBytes>::try_from(data.as_slice()) {
                        Ok(bytes) => ScriptBuf::new_op_return(bytes),
                        Err(_) => ScriptBuf::new_op_return([]),
                    }
                }
            };
            output.push(TxOut {
                value: Amount::ZERO,
                script_pubkey,
            });
        }
        let change_at = change.map(|(kind, owner)| {
            let at = self.rng.usize(..=output.len());
            output.insert(
                at,
                TxOut {
                    value: Amount::ZERO,
                    script_pubkey: self.script_pubkey(kind, owner),
                },
            );
            at
        });
        let mut tx = Transaction {
            version,
            lock_time,
            input,
            output,
        };
        let total: u64 = inputs.iter().map(|c| c.value).sum();
        let vsize = tx.vsize() as u64;
        let fee = (rate * vsize as f64) as u64 + self.rng.u64(..=vsize / 8);
        let Some(avail) = total.checked_sub(fee).filter(|&a| a >= DUST) else {
            self.put_back(inputs);
            return None;
        };
        // Values of the paying outputs, in `outs` order.
        let mut values = Vec::with_capacity(outs.len());
        for spec in outs {
            let v = match spec.dest {
                Dest::OpReturn(_) => 0,
                Dest::Pay(..) => {
                    let v = (avail as f64 * spec.share) as u64;
                    let v = if spec.round { round_amount(v) } else { v };
                    v.max(DUST)
                }
            };
            values.push(v);
        }
        let paid: u64 = values.iter().sum();
        let Some(rest) = avail.checked_sub(paid) else {
            self.put_back(inputs);
            return None;
        };
        let mut fee = fee;
        let mut change_at = change_at;
        if let Some(at) = change_at {
            if rest < DUST {
                // Dust change goes to the miner.
                tx.output.remove(at);
                change_at = None;
                fee += rest;
            }
        } else {
            fee += rest;
        }
        let mut spec_values = values.iter();
        for (i, out) in tx.output.iter_mut().enumerate() {
            let v = if Some(i) == change_at {
                rest
            } else {
                spec_values.next().copied().unwrap_or(0)
            };
            out.value = Amount::from_sat(v);
        }

        let txid = tx.compute_txid();
        let mut coins = Vec::with_capacity(outs.len());
        let mut change_coin = None;
        let mut spec_iter = outs.iter();
        for (vout, out) in tx.output.iter().enumerate() {
            let is_change = Some(vout) == change_at;
            let dest = if is_change {
                change.map(|(k, o)| Dest::Pay(k, o))
            } else {
                spec_iter.next().map(|s| s.dest)
            };
            if let Some(Dest::Pay(kind, owner)) = dest {
                let coin = Coin {
                    txid,
                    value: out.value.to_sat(),
                    owner,
                    vout: u32::try_from(vout).unwrap_or(u32::MAX),
                    height: self.height,
                    kind,
                };
                if is_change {
                    change_coin = Some(coin);
                } else {
                    coins.push(coin);
                }
            }
        }
        self.fees += fee;
        self.weight += tx.weight().to_wu();
        self.segwit |= tx.input.iter().any(|i| !i.witness.is_empty());
        self.total_inputs += tx.input.len() as u64;
        self.total_outputs += tx.output.len() as u64;
        self.txs.push(tx);
        self.txids.push(txid);
        Some((coins, change_coin))
    }

    fn change_for(&mut self, first: &Coin) -> (Kind, u64) {
        let kind = if self.rng.u32(..100) < 85 {
            match first.kind {
                Kind::P2pk | Kind::BareMultisig => Kind::P2pkh,
                k => k,
            }
        } else {
            pick_kind(&mut self.rng)
        };
        // Some wallets send change back to the address they spend from.
        let owner = if self.rng.u32(..100) < 12 {
            first.owner
        } else {
            self.fresh_owner()
        };
        (kind, owner)
    }

    /// An ordinary payment: 1–3 inputs, a payment and change, sometimes an `OP_RETURN`.
    fn payment(&mut self) -> bool {
        let roll = self.rng.u32(..100);
        let mut n = match roll {
            0..60 => 1,
            60..88 => 2,
            _ => 3,
        };
        let pressure = self.pressure();
        if pressure > 0.0 {
            n += self.rng.usize(0..=(2.0 * pressure) as usize + 1);
        }
        let inputs = self.take_n(n, false);
        let Some(first) = inputs.first().copied() else {
            return false;
        };
        let mut outs = Vec::with_capacity(2);
        let (kind, owner) = self.payee();
        let x = self.rng.f64();
        outs.push(OutSpec {
            dest: Dest::Pay(kind, owner),
            share: 0.03 + 0.94 * x * x,
            round: self.rng.u32(..100) < 15,
        });
        if self.rng.u32(..1000) < 30 {
            let len = self.rng.usize(8..=80);
            outs.push(OutSpec {
                dest: Dest::OpReturn(len),
                share: 0.0,
                round: false,
            });
        }
        // A few pay everything to one output (sweeps, exact-amount coin selection).
        let change = if self.rng.u32(..100) < 8 {
            if let Some(o) = outs.first_mut() {
                o.share = 1.0;
                o.round = false;
            }
            None
        } else {
            Some(self.change_for(&first))
        };
        let rate = self.fee_rate();
        match self.emit(inputs, &outs, change, rate) {
            Some((coins, change)) => {
                self.fresh.extend(coins);
                self.fresh.extend(change);
                true
            }
            None => false,
        }
    }

    /// A batch payment (exchange withdrawal or pool payout): few inputs, 10–200 outputs.
    fn fan_out(&mut self, mut inputs: Vec<Coin>, payer: (Kind, u64), change: bool) -> bool {
        let outputs = match self.rng.u32(..100) {
            0..70 => self.rng.usize(10..=40),
            70..92 => self.rng.usize(40..=100),
            _ => self.rng.usize(100..=200),
        };
        // Enough funds for the outputs to be worth something.
        let want = outputs as u64 * 200_000;
        while inputs.iter().map(|c| c.value).sum::<u64>() < want && inputs.len() < 12 {
            match self.take() {
                Some(c) => inputs.push(c),
                None => break,
            }
        }
        let paid_share = if change {
            0.4 + 0.55 * self.rng.f64()
        } else {
            1.0
        };
        let weights: Vec<f64> = (0..outputs)
            .map(|_| {
                let x = self.rng.f64();
                0.02 + x * x * x
            })
            .collect();
        let sum: f64 = weights.iter().sum();
        // Without change every output is exact (a round amount would leave the rest as fee).
        let (scale, round_pct) = if change { (0.999, 10) } else { (0.99999, 0) };
        let mut outs = Vec::with_capacity(outputs);
        for w in weights {
            let (kind, owner) = self.payee();
            let round = self.rng.u32(..100) < round_pct;
            outs.push(OutSpec {
                dest: Dest::Pay(kind, owner),
                share: paid_share * w / sum * scale,
                round,
            });
        }
        let change = change.then_some(payer);
        let rate = self.fee_rate();
        match self.emit(inputs, &outs, change, rate) {
            Some((coins, change)) => {
                self.fresh.extend(coins);
                self.fresh.extend(change);
                true
            }
            None => false,
        }
    }

    fn withdrawal(&mut self) -> bool {
        let exchange = self.rng.usize(..EXCHANGES);
        let Some(&payer) = self.reused.get(exchange) else {
            return false;
        };
        let n = self.rng.usize(1..=5);
        let inputs = self.take_n(n, false);
        if inputs.is_empty() {
            return false;
        }
        self.fan_out(inputs, payer, true)
    }

    /// Sweeps many small old outputs into one, at a low fee rate.
    fn consolidation(&mut self) -> bool {
        let n = self.rng.usize(20..=100);
        let inputs = self.take_n(n, true);
        if inputs.len() < 2 {
            self.put_back(inputs);
            return false;
        }
        let to = if self.rng.bool() {
            let exchange = self.rng.usize(..EXCHANGES);
            self.reused
                .get(exchange)
                .copied()
                .unwrap_or((Kind::P2wpkh, 1))
        } else {
            let kind = inputs.first().map(|c| c.kind).unwrap_or(Kind::P2wpkh);
            let kind = if matches!(kind, Kind::P2pk | Kind::BareMultisig) {
                Kind::P2pkh
            } else {
                kind
            };
            (kind, self.fresh_owner())
        };
        let rate = 1.0 + 4.0 * self.rng.f64();
        let outs = [OutSpec {
            dest: Dest::Pay(to.0, to.1),
            share: 1.0,
            round: false,
        }];
        match self.emit(inputs, &outs, None, rate) {
            Some((coins, _)) => {
                self.fresh.extend(coins);
                true
            }
            None => false,
        }
    }

    /// Moves the active peel chains one hop each (most of them), starting new ones now and then.
    fn peel_hops(&mut self) {
        if self.peels.len() < 8 && self.rng.u32(..100) < 6 {
            // A large coin starts a chain: look at a few and take the largest.
            let mut best: Option<Coin> = None;
            for _ in 0..8 {
                if let Some(c) = self.take() {
                    match best {
                        Some(b) if b.value >= c.value => self.old.push(c),
                        _ => {
                            if let Some(b) = best.replace(c) {
                                self.old.push(b);
                            }
                        }
                    }
                }
            }
            if let Some(coin) = best {
                if coin.value >= COIN / 2 {
                    let hops_left = self.rng.u32(5..=60);
                    self.peels.push(Peel { coin, hops_left });
                } else {
                    self.old.push(coin);
                }
            }
        }
        let mut peels = std::mem::take(&mut self.peels);
        peels.retain_mut(|peel| {
            if self.rng.u32(..100) >= 70 {
                return true;
            }
            let payee = if self.rng.u32(..100) < 40 {
                self.reused
                    .get(self.rng.usize(..EXCHANGES))
                    .copied()
                    .unwrap_or((Kind::P2wpkh, 1))
            } else {
                let kind = pick_kind(&mut self.rng);
                (kind, self.fresh_owner())
            };
            let share = 0.005 + 0.08 * self.rng.f64();
            let outs = [OutSpec {
                dest: Dest::Pay(payee.0, payee.1),
                share,
                round: self.rng.u32(..100) < 30,
            }];
            let remainder = (peel.coin.kind, self.fresh_owner());
            let rate = self.fee_rate();
            match self.emit(vec![peel.coin], &outs, Some(remainder), rate) {
                Some((coins, Some(rest))) => {
                    self.fresh.extend(coins);
                    peel.hops_left = peel.hops_left.saturating_sub(1);
                    if peel.hops_left == 0 || rest.value < COIN / 100 {
                        self.fresh.push(rest);
                        false
                    } else {
                        peel.coin = rest;
                        true
                    }
                }
                Some((coins, None)) => {
                    self.fresh.extend(coins);
                    false
                }
                // `emit` put the coin back into the pool.
                None => false,
            }
        });
        self.peels.append(&mut peels);
    }

    // -- blocks ----------------------------------------------------------------------------

    fn target_txs(&mut self) -> usize {
        let avg = f64::from(self.cfg.txs_per_block);
        let roll = self.rng.u32(..1000);
        if roll < 15 {
            // Blocks found right after the previous one, before the template filled up.
            return self.rng.usize(0..=(avg * 0.05) as usize);
        }
        // Otherwise spread around the average (mean of 0.4 + 1.2u is 1; lifted for the empties).
        let x = (0.4 + 1.2 * self.rng.f64()) / 0.985;
        (avg * x).round() as usize
    }

    /// Builds the block at `self.height` on `prev`, and optionally a stale sibling.
    fn block(&mut self, prev: &Header, with_stale: bool) -> (Block, Option<Block>) {
        self.txs.clear();
        self.txids.clear();
        self.fees = 0;
        self.weight = 4 * 1000;
        self.segwit = false;
        // Fee pressure wanders (mempool waves) and returns toward ~10 sat/vB.
        let log_base = self.fee_base.ln();
        let log_base = log_base + 0.05 * (10f64.ln() - log_base) + 0.6 * (self.rng.f64() - 0.5);
        self.fee_base = log_base.exp().clamp(1.0, 45.0);

        // Matured coinbases: pools pay out most of them at once.
        while self
            .immature
            .front()
            .is_some_and(|c| c.height + COINBASE_MATURITY <= self.height)
        {
            let Some(coin) = self.immature.pop_front() else {
                break;
            };
            if self.rng.u32(..100) < 70 && self.pressure() < 1.0 {
                let payer = (coin.kind, coin.owner);
                let change = self.rng.bool();
                self.fan_out(vec![coin], payer, change);
            } else {
                self.recent.push_back(coin);
            }
        }
        self.peel_hops();

        let target = self.target_txs();
        let max_weight = MAX_BLOCK_WEIGHT - 8_000;
        let mut attempts = 0;
        while self.txs.len() < target && attempts < target * 2 + 10 && self.weight < max_weight {
            attempts += 1;
            let pressure = self.pressure();
            let roll = self.rng.f64();
            let consolidate = 0.004 + 0.06 * pressure;
            let withdraw = 0.012 * (1.0 - 0.8 * pressure.min(1.0));
            let ok = if roll < consolidate {
                self.consolidation()
            } else if roll < consolidate + withdraw {
                self.withdrawal()
            } else {
                self.payment()
            };
            if !ok && self.recent.is_empty() && self.old.is_empty() && self.fresh.is_empty() {
                break;
            }
        }

        let pool = self.rng.usize(..POOLS.len());
        let (block, coin) = self.assemble(prev, pool, self.txs.len(), self.fees);
        self.total_txs += block.txdata.len() as u64;
        self.total_outputs += block
            .txdata
            .first()
            .map(|t| t.output.len() as u64)
            .unwrap_or(0);
        self.immature.push_back(coin);
        let stale = with_stale.then(|| {
            // Another pool's block at the same height, with a prefix of the same transactions
            // (a prefix keeps every in-block spend after the output it spends).
            let other = (pool + 1 + self.rng.usize(..POOLS.len() - 1)) % POOLS.len();
            let keep = self.txs.len() - self.txs.len() * self.rng.usize(0..50) / 100;
            (other, keep)
        });
        let stale = stale.map(|(other, keep)| {
            let fees_kept = self.fees.saturating_sub(
                self.fees * (self.txs.len() - keep) as u64 / self.txs.len().max(1) as u64,
            );
            self.assemble(prev, other, keep, fees_kept).0
        });
        self.end_block_pool();
        (block, stale)
    }

    /// Puts a coinbase paying `fees` to `pool` before the first `count` transactions of the
    /// block being built; returns the block and the coinbase's payout coin.
    fn assemble(&mut self, prev: &Header, pool: usize, count: usize, fees: u64) -> (Block, Coin) {
        let count = count.min(self.txs.len());
        let body = self.txs.get(..count).unwrap_or_default();
        let ids = self.txids.get(..count).unwrap_or_default();
        let segwit = body
            .iter()
            .any(|t| t.input.iter().any(|i| !i.witness.is_empty()));
        let (kind, owner) = self.pools.get(pool).copied().unwrap_or((Kind::P2wpkh, 1));
        let tag = POOLS.get(pool).copied().unwrap_or("/pool/");

        let halvings = self.height / 210_000;
        let subsidy = if halvings >= 64 {
            0
        } else {
            (50 * COIN) >> halvings
        };
        let mut extranonce = [0u8; 8];
        self.rng.fill(&mut extranonce);
        let script_sig = push(
            Builder::new()
                .push_int(i64::from(self.height))
                .push_slice(extranonce),
            tag.as_bytes(),
        )
        .into_script();
        let version = if self.rng.bool() {
            Version::ONE
        } else {
            Version::TWO
        };
        let payout = self.script_pubkey(kind, owner);
        let mut coinbase = coinbase_tx(
            version,
            script_sig,
            Amount::from_sat(subsidy + fees),
            payout,
        );
        if segwit {
            let reserved = [0u8; 32];
            let wtxids =
                std::iter::once(Wtxid::all_zeros()).chain(body.iter().map(|t| t.compute_wtxid()));
            let root = bitcoin::merkle_tree::calculate_root(wtxids)
                .map(|r| WitnessMerkleNode::from_raw_hash(r.to_raw_hash()))
                .unwrap_or_else(WitnessMerkleNode::all_zeros);
            let commitment = Block::compute_witness_commitment(&root, &reserved);
            let mut data = [0u8; 36];
            data[..4].copy_from_slice(&[0xaa, 0x21, 0xa9, 0xed]);
            data[4..].copy_from_slice(commitment.as_byte_array());
            coinbase.output.push(TxOut {
                value: Amount::ZERO,
                script_pubkey: ScriptBuf::new_op_return(data),
            });
            if let Some(input) = coinbase.input.first_mut() {
                input.witness.push(reserved);
            }
        }
        let cb_txid = coinbase.compute_txid();
        let root = bitcoin::merkle_tree::calculate_root(
            std::iter::once(cb_txid).chain(ids.iter().copied()),
        )
        .map(|r| TxMerkleNode::from_raw_hash(r.to_raw_hash()))
        .unwrap_or_else(TxMerkleNode::all_zeros);
        let jitter = self.rng.i64(-240..=420);
        let ideal = i64::from(prev.time) + 600 + jitter;
        let time = u32::try_from(ideal)
            .unwrap_or(u32::MAX)
            .max(prev.time.saturating_add(1));
        // BIP9 version bits, with the bits ASIC-boost miners roll.
        let version = 0x2000_0000
            | if self.rng.bool() {
                self.rng.i32(0..0x2000) << 13
            } else {
                0
            };
        let header = Header {
            version: BlockVersion::from_consensus(version),
            prev_blockhash: prev.block_hash(),
            merkle_root: root,
            time,
            bits: prev.bits,
            nonce: self.rng.u32(..),
        };
        let coin = Coin {
            txid: cb_txid,
            value: subsidy + fees,
            owner,
            vout: 0,
            height: self.height,
            kind,
        };
        let mut txdata = Vec::with_capacity(count + 1);
        txdata.push(coinbase);
        txdata.extend(body.iter().cloned());
        (Block { header, txdata }, coin)
    }
}

fn pick_kind(rng: &mut fastrand::Rng) -> Kind {
    let mut roll = rng.u32(..1000);
    for (kind, weight) in KIND_MIX {
        if roll < weight {
            return kind;
        }
        roll -= weight;
    }
    Kind::P2wpkh
}

/// Rounds to two significant digits (0.015 BTC, 230 000 sat): what people type.
fn round_amount(v: u64) -> u64 {
    let mut unit = 1u64;
    while v / unit >= 100 {
        unit *= 10;
    }
    (v / unit) * unit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_blocks_match_the_chains_known_hashes() {
        for chain in Chain::UTXO {
            match genesis(chain) {
                Ok(block) => assert_eq!(
                    block_hash(&block.header).to_string(),
                    chain.utxo_params().unwrap().genesis
                ),
                Err(SynthError::UnsupportedChain(c)) => {
                    assert!(
                        matches!(
                            c,
                            Chain::DogecoinMainnet
                                | Chain::BitcoinCashMainnet
                                | Chain::ZcashMainnet
                        ),
                        "{c}"
                    )
                }
                Err(e) => panic!("{chain}: {e}"),
            }
        }
    }

    #[test]
    fn signatures_are_der_shaped() {
        let cfg = SynthConfig::default();
        let mut g = Gen::new(&cfg);
        for _ in 0..200 {
            let (sig, n) = g.ecdsa_sig();
            assert!((71..=73).contains(&n), "{n}");
            assert_eq!(sig[0], 0x30);
            assert_eq!(usize::from(sig[1]) + 3, n);
            assert_eq!(sig[n - 1], 0x01);
        }
        assert_eq!(round_amount(123_456_789), 120_000_000);
        assert_eq!(round_amount(57), 57);
    }
}
