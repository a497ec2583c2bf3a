//! `evm-bench`: the EVM benchmark's chain generator, its cryo runner and its report.
//!
//! - `gen --out DIR [--blocks N] [--txs-per-block K] [--actors N] [--passive N] [--seed S]`
//!   starts anvil (through `tracehound_evm::testnode`, mining on demand only), deploys the
//!   evm crate's test contracts (ERC-20, WETH9, the value forwarder, a reverter, ERC-721,
//!   ERC-1155), then mines N blocks of a seeded mix of txs from many accounts, checks every tx
//!   ended as the model expected, and saves the chain as anvil state (`DIR/state.json`, for
//!   `anvil --load-state`) with a summary (`DIR/gen.json`, also printed).
//! - `cryo --bin CRYO --rpc URL --to H --out DIR [--datasets a,b,..] [--label L] [-- FLAGS..]`
//!   extracts blocks 0..=H with cryo, one invocation per dataset (default `traces`,
//!   `native_transfers`, `erc20_transfers`: cryo cannot collect the trace-derived ones in one
//!   call against anvil), timing each, with its peak RSS and the rows it wrote; prints JSON.
//! - `measure --out OUT.json -- CMD ARGS..` runs a command that prints a JSON object and saves
//!   that object with the command's wall time and peak RSS as this process saw them
//!   (`wall_seconds`, `wall_peak_rss_bytes`): the same clock cryo's runs are timed with.
//! - `compare OURS.json CRYO.json [--out RESULTS.json]` prints the two side by side, and saves
//!   both with the ratios.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use alloy::primitives::{Address, B256, U256};
use alloy::sol;
use alloy::sol_types::{SolCall, SolValue};
use serde_json::{Value, json};
use tracehound_evm::testnode::Anvil;

const USAGE: &str = "usage:
  evm-bench gen --out DIR [--blocks 5000] [--txs-per-block 20] [--actors 100] [--passive 2000] [--seed 1]
  evm-bench cryo --bin CRYO --rpc URL --to H --out DIR [--datasets a,b,..] [--label L] [-- CRYO FLAGS..]
  evm-bench measure --out OUT.json -- CMD ARGS..   (CMD prints a JSON object)
  evm-bench compare OURS.json CRYO.json [--out RESULTS.json]   (OURS.json may be missing)";

/// First block timestamp and spacing: the chain's timestamps (and so its hashes) depend on the
/// seed alone, not on the wall clock.
const GENESIS_TIME: u64 = 1_700_000_000;
const BLOCK_SPACING: u64 = 12;
const GWEI: u128 = 1_000_000_000;
const ETHER: u128 = 1_000_000_000_000_000_000;
/// The ERC-20's supply, minted to actor 0 and shared out.
const TOKEN_SUPPLY: u128 = 1_000_000_000 * ETHER;
/// Gas limit of every contract call (generous: only the gas used is charged).
const CALL_GAS: u64 = 300_000;

sol! {
    function transfer(address to, uint256 value) returns (bool);
    function deposit();
    function withdraw(uint256 wad);
    function forward(address to);
    function split(address a, address b);
    function create(uint256 endowment) returns (address);
    function create2(bytes32 salt, uint256 endowment) returns (address);
    function tryForward(address to);
    function deepRevert(address to);
    function createAndDestroy(address beneficiary);
    function createAndBurn();
    function fail();
    function mint(address to, uint256 id);
    function transferFrom(address from, address to, uint256 value);
    function safeBatchTransferFrom(address from, address to, uint256[] ids, uint256[] values, bytes data);
}

/// `Multi.mint(address,uint256,uint256)` (its name clashes with the ERC-721 one).
mod multi {
    alloy::sol! {
        function mint(address to, uint256 id, uint256 value);
    }
}

/// The evm crate's committed test contracts (see its `tests/contracts/Fixtures.sol`).
const TOKEN_BIN: &str = include_str!("../../crates/evm/tests/contracts/build/Token.bin");
const WETH_BIN: &str = include_str!("../../crates/evm/tests/contracts/build/Weth.bin");
const FORWARDER_BIN: &str = include_str!("../../crates/evm/tests/contracts/build/Forwarder.bin");
const REVERTER_BIN: &str = include_str!("../../crates/evm/tests/contracts/build/Reverter.bin");
const NFT_BIN: &str = include_str!("../../crates/evm/tests/contracts/build/Nft.bin");
const MULTI_BIN: &str = include_str!("../../crates/evm/tests/contracts/build/Multi.bin");

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("gen") => generate(&Flags::parse(&args[1..])),
        Some("cryo") => {
            // Flags after `--` go to every cryo invocation as they are.
            let split = args.iter().position(|a| a == "--").unwrap_or(args.len());
            let extra = args.get(split + 1..).unwrap_or_default();
            run_cryo(&Flags::parse(&args[1..split]), extra)
        }
        Some("measure") => {
            let split = args.iter().position(|a| a == "--").unwrap_or(args.len());
            measure(
                Flags::parse(&args[1..split]).str("out").map(Path::new),
                args.get(split + 1..).unwrap_or_default(),
            )
        }
        Some("compare") if args.len() >= 3 => compare(
            Path::new(&args[1]),
            Path::new(&args[2]),
            Flags::parse(&args[3..]).str("out").map(Path::new),
        ),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("evm-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--name value` and `--switch` flags.
struct Flags(Vec<(String, Option<String>)>);

impl Flags {
    fn parse(args: &[String]) -> Flags {
        let mut out = Vec::new();
        let mut i = 0;
        while let Some(a) = args.get(i) {
            let name = a.trim_start_matches("--").to_string();
            match args.get(i + 1) {
                Some(v) if !v.starts_with("--") => {
                    out.push((name, Some(v.clone())));
                    i += 2;
                }
                _ => {
                    out.push((name, None));
                    i += 1;
                }
            }
        }
        Flags(out)
    }

    fn str(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    fn num<T: std::str::FromStr>(&self, name: &str, default: Option<T>) -> Result<T, String> {
        match self.str(name) {
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: not a number: {v}")),
            None => default.ok_or_else(|| format!("--{name} is required\n{USAGE}")),
        }
    }

    fn path(&self, name: &str) -> Result<PathBuf, String> {
        self.str(name)
            .map(PathBuf::from)
            .ok_or_else(|| format!("--{name} is required\n{USAGE}"))
    }
}

fn hexs(bytes: &[u8]) -> String {
    format!("0x{}", alloy::hex::encode(bytes))
}

fn parse_hex_u64(v: &Value) -> Result<u64, String> {
    let s = v.as_str().ok_or_else(|| format!("not a hex string: {v}"))?;
    u64::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|e| format!("{s}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// gen

/// What a tx does. Weights (out of 100) in [`KINDS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Eth,
    Erc20,
    Erc20Fail,
    WethDeposit,
    WethWithdraw,
    WethTransfer,
    Forward,
    Split,
    Create,
    Create2,
    TryForward,
    DeepRevert,
    CreateAndDestroy,
    CreateAndBurn,
    RevertTop,
    NftMint,
    NftTransfer,
    MultiMint,
    MultiBatch,
}

/// The mix: roughly what an L1 block holds (transfers of ether and tokens first, then DeFi-like
/// calls that move value internally, a few failures, some NFTs).
const KINDS: [(Kind, u32); 19] = [
    (Kind::Eth, 30),
    (Kind::Erc20, 18),
    (Kind::Erc20Fail, 2),
    (Kind::WethDeposit, 7),
    (Kind::WethWithdraw, 4),
    (Kind::WethTransfer, 3),
    (Kind::Forward, 5),
    (Kind::Split, 3),
    (Kind::Create, 2),
    (Kind::Create2, 2),
    (Kind::TryForward, 2),
    (Kind::DeepRevert, 1),
    (Kind::CreateAndDestroy, 2),
    (Kind::CreateAndBurn, 1),
    (Kind::RevertTop, 3),
    (Kind::NftMint, 4),
    (Kind::NftTransfer, 5),
    (Kind::MultiMint, 3),
    (Kind::MultiBatch, 3),
];

struct Contracts {
    token: Address,
    weth: Address,
    forwarder: Address,
    reverter: Address,
    nft: Address,
    multi: Address,
}

/// The generator's model of what each actor holds, as of the start of the block being built:
/// a tx only spends what its sender held then (each actor sends at most one tx per block), so
/// no tx depends on the order of others in its block. Credits wait in `pending` until the
/// block is mined.
struct World {
    actors: Vec<Address>,
    passive: Vec<Address>,
    nonce: Vec<u64>,
    token: Vec<u128>,
    weth: Vec<u128>,
    nfts: Vec<Vec<U256>>,
    multi: Vec<BTreeMap<u64, u128>>,
    pending: Vec<Credit>,
    next_nft: u64,
    next_salt: u64,
}

enum Credit {
    Token(usize, u128),
    Weth(usize, u128),
    Nft(usize, U256),
    Multi(usize, u64, u128),
}

impl World {
    fn settle(&mut self) {
        for c in self.pending.drain(..) {
            match c {
                Credit::Token(i, v) => self.token[i] += v,
                Credit::Weth(i, v) => self.weth[i] += v,
                Credit::Nft(i, id) => self.nfts[i].push(id),
                Credit::Multi(i, id, v) => *self.multi[i].entry(id).or_default() += v,
            }
        }
    }
}

/// A recipient: another actor (its index, for credits) or a receive-only address.
fn recipient(rng: &mut fastrand::Rng, w: &World, not: usize) -> (Address, Option<usize>) {
    if rng.u32(0..100) < 60 {
        let mut j = rng.usize(0..w.actors.len());
        if j == not {
            j = (j + 1) % w.actors.len();
        }
        (w.actors[j], Some(j))
    } else {
        (w.passive[rng.usize(0..w.passive.len())], None)
    }
}

/// Ether amounts spread over three and a half orders of magnitude (0.001 to ~3 ETH), in gwei
/// steps.
fn eth_amount(rng: &mut fastrand::Rng) -> u128 {
    let v = 10f64.powf(15.0 + 3.5 * rng.f64()) as u128;
    v / GWEI * GWEI
}

/// A random share (1/1000 to 1/4) of a balance, at least 1.
fn share(rng: &mut fastrand::Rng, balance: u128) -> u128 {
    let d = rng.u128(4..1000);
    (balance / d).max(1)
}

/// One planned tx.
struct Planned {
    kind: Kind,
    to: Address,
    value: u128,
    data: Vec<u8>,
    gas: u64,
    expect_ok: bool,
}

fn plan(rng: &mut fastrand::Rng, w: &mut World, c: &Contracts, s: usize) -> Planned {
    let total: u32 = KINDS.iter().map(|(_, k)| k).sum();
    let mut pick = rng.u32(0..total);
    let mut kind = Kind::Eth;
    for (k, weight) in KINDS {
        if pick < weight {
            kind = k;
            break;
        }
        pick -= weight;
    }
    // Fall back when the sender holds nothing to move.
    kind = match kind {
        Kind::Erc20 | Kind::Erc20Fail if w.token[s] == 0 => Kind::Eth,
        Kind::WethWithdraw | Kind::WethTransfer if w.weth[s] == 0 => Kind::WethDeposit,
        Kind::NftTransfer if w.nfts[s].is_empty() => Kind::NftMint,
        Kind::MultiBatch if w.multi[s].is_empty() => Kind::MultiMint,
        k => k,
    };
    let call = |to: Address, value: u128, data: Vec<u8>| Planned {
        kind,
        to,
        value,
        data,
        gas: CALL_GAS,
        expect_ok: true,
    };
    match kind {
        Kind::Eth => {
            let (to, _) = recipient(rng, w, s);
            Planned {
                kind,
                to,
                value: eth_amount(rng),
                data: Vec::new(),
                gas: 21_000,
                expect_ok: true,
            }
        }
        Kind::Erc20 => {
            let (to, j) = recipient(rng, w, s);
            let v = share(rng, w.token[s]);
            w.token[s] -= v;
            if let Some(j) = j {
                w.pending.push(Credit::Token(j, v));
            }
            let data = transferCall {
                to,
                value: U256::from(v),
            }
            .abi_encode();
            call(c.token, 0, data)
        }
        Kind::Erc20Fail => {
            // More than the sender holds (and could receive earlier in the block: more than
            // the supply): `require` fails, only the fee moves.
            let (to, _) = recipient(rng, w, s);
            let v = w.token[s] + TOKEN_SUPPLY + rng.u128(0..1_000_000);
            let data = transferCall {
                to,
                value: U256::from(v),
            }
            .abi_encode();
            Planned {
                expect_ok: false,
                ..call(c.token, 0, data)
            }
        }
        Kind::WethDeposit => {
            let v = eth_amount(rng);
            w.pending.push(Credit::Weth(s, v));
            // Wrapping by call, or by plain send to `receive`.
            let data = if rng.bool() {
                depositCall {}.abi_encode()
            } else {
                Vec::new()
            };
            call(c.weth, v, data)
        }
        Kind::WethWithdraw => {
            let v = share(rng, w.weth[s]);
            w.weth[s] -= v;
            call(c.weth, 0, withdrawCall { wad: U256::from(v) }.abi_encode())
        }
        Kind::WethTransfer => {
            let (to, j) = recipient(rng, w, s);
            let v = share(rng, w.weth[s]);
            w.weth[s] -= v;
            if let Some(j) = j {
                w.pending.push(Credit::Weth(j, v));
            }
            let data = transferCall {
                to,
                value: U256::from(v),
            }
            .abi_encode();
            call(c.weth, 0, data)
        }
        Kind::Forward => {
            let (to, _) = recipient(rng, w, s);
            call(c.forwarder, eth_amount(rng), forwardCall { to }.abi_encode())
        }
        Kind::Split => {
            let (a, _) = recipient(rng, w, s);
            let (b, _) = recipient(rng, w, s);
            call(c.forwarder, eth_amount(rng), splitCall { a, b }.abi_encode())
        }
        Kind::Create => {
            let v = eth_amount(rng);
            let endowment = v / 2;
            let data = createCall {
                endowment: U256::from(endowment),
            }
            .abi_encode();
            call(c.forwarder, v, data)
        }
        Kind::Create2 => {
            let v = eth_amount(rng);
            let salt = B256::from(U256::from(w.next_salt));
            w.next_salt += 1;
            let data = create2Call {
                salt,
                endowment: U256::from(v / 3),
            }
            .abi_encode();
            call(c.forwarder, v, data)
        }
        Kind::TryForward => {
            let data = tryForwardCall { to: c.reverter }.abi_encode();
            call(c.forwarder, eth_amount(rng), data)
        }
        Kind::DeepRevert => {
            let (to, _) = recipient(rng, w, s);
            call(c.forwarder, eth_amount(rng), deepRevertCall { to }.abi_encode())
        }
        Kind::CreateAndDestroy => {
            let (beneficiary, _) = recipient(rng, w, s);
            let data = createAndDestroyCall { beneficiary }.abi_encode();
            call(c.forwarder, eth_amount(rng), data)
        }
        Kind::CreateAndBurn => {
            let data = createAndBurnCall {}.abi_encode();
            call(c.forwarder, eth_amount(rng) / 100, data)
        }
        Kind::RevertTop => {
            // A top-level call that reverts: by function, or by plain send to `receive`.
            let data = if rng.bool() {
                failCall {}.abi_encode()
            } else {
                Vec::new()
            };
            Planned {
                gas: 60_000,
                expect_ok: false,
                ..call(c.reverter, eth_amount(rng), data)
            }
        }
        Kind::NftMint => {
            // Ids are a counter, one in twenty beyond 128 bits.
            let id = if rng.u32(0..20) == 0 {
                (U256::from(1u64) << 200) + U256::from(w.next_nft)
            } else {
                U256::from(w.next_nft)
            };
            w.next_nft += 1;
            w.pending.push(Credit::Nft(s, id));
            let data = mintCall {
                to: w.actors[s],
                id,
            }
            .abi_encode();
            call(c.nft, 0, data)
        }
        Kind::NftTransfer => {
            let i = rng.usize(0..w.nfts[s].len());
            let id = w.nfts[s].swap_remove(i);
            let (to, j) = recipient(rng, w, s);
            if let Some(j) = j {
                w.pending.push(Credit::Nft(j, id));
            }
            let data = transferFromCall {
                from: w.actors[s],
                to,
                value: id,
            }
            .abi_encode();
            call(c.nft, 0, data)
        }
        Kind::MultiMint => {
            let id = rng.u64(1..=16);
            let v = rng.u128(1..=1000);
            w.pending.push(Credit::Multi(s, id, v));
            let data = multi::mintCall {
                to: w.actors[s],
                id: U256::from(id),
                value: U256::from(v),
            }
            .abi_encode();
            call(c.multi, 0, data)
        }
        Kind::MultiBatch => {
            let (to, j) = recipient(rng, w, s);
            let held: Vec<(u64, u128)> = w.multi[s].iter().map(|(&k, &v)| (k, v)).collect();
            let take = rng.usize(1..=held.len().min(3));
            let start = rng.usize(0..held.len());
            let (mut ids, mut values) = (Vec::new(), Vec::new());
            for k in 0..take {
                let (id, have) = held[(start + k) % held.len()];
                let v = rng.u128(1..=have);
                let left = have - v;
                if left == 0 {
                    w.multi[s].remove(&id);
                } else {
                    w.multi[s].insert(id, left);
                }
                if let Some(j) = j {
                    w.pending.push(Credit::Multi(j, id, v));
                }
                ids.push(U256::from(id));
                values.push(U256::from(v));
            }
            let data = safeBatchTransferFromCall {
                from: w.actors[s],
                to,
                ids,
                values,
                data: Default::default(),
            }
            .abi_encode();
            call(c.multi, 0, data)
        }
    }
}

/// The fee fields: three txs in four EIP-1559 (a random tip), one legacy (a gas price).
fn fees(rng: &mut fastrand::Rng) -> Vec<(&'static str, String)> {
    let tip = rng.u128(GWEI / 10..3 * GWEI) / 1_000_000 * 1_000_000;
    if rng.u32(0..4) == 0 {
        vec![("gasPrice", format!("{:#x}", 2 * GWEI + tip))]
    } else {
        vec![
            ("maxFeePerGas", format!("{:#x}", 100 * GWEI)),
            ("maxPriorityFeePerGas", format!("{tip:#x}")),
        ]
    }
}

struct Gen<'a> {
    node: &'a Anvil,
    /// Height of the last mined block.
    height: u64,
    /// Tx hash → whether it should succeed, for the check at the end.
    expected: HashMap<String, (bool, Kind)>,
    txs: u64,
}

impl Gen<'_> {
    fn send(
        &mut self,
        from: Address,
        nonce: u64,
        p: &Planned,
        fee: &[(&str, String)],
    ) -> Result<(), String> {
        let mut tx = json!({
            "from": from.to_string(),
            "value": format!("{:#x}", p.value),
            "gas": format!("{:#x}", p.gas),
            "nonce": format!("{nonce:#x}"),
            "data": hexs(&p.data),
        });
        if p.to != Address::ZERO {
            tx["to"] = json!(p.to.to_string());
        }
        for (k, v) in fee {
            tx[*k] = json!(v);
        }
        let hash: String = self
            .node
            .rpc("eth_sendTransaction", json!([tx]))
            .map_err(|e| format!("sending {:?} from {from}: {e}", p.kind))?;
        self.expected.insert(hash, (p.expect_ok, p.kind));
        self.txs += 1;
        Ok(())
    }

    /// Mines the pending txs into one block and checks they all went in.
    fn mine(&mut self, sent: usize) -> Result<(), String> {
        let ts = GENESIS_TIME + BLOCK_SPACING * (self.height + 1);
        self.node
            .rpc::<Value>("evm_mine", json!([ts]))
            .map_err(|e| e.to_string())?;
        self.height += 1;
        let n: Value = self
            .node
            .rpc(
                "eth_getBlockTransactionCountByNumber",
                json!([format!("{:#x}", self.height)]),
            )
            .map_err(|e| e.to_string())?;
        let n = parse_hex_u64(&n)?;
        if n as usize != sent {
            return Err(format!(
                "block {}: {n} txs mined of {sent} sent (a tx was refused or left pending)",
                self.height
            ));
        }
        Ok(())
    }
}

fn generate(flags: &Flags) -> Result<(), String> {
    let out = flags.path("out")?;
    let blocks: u64 = flags.num("blocks", Some(5000))?;
    let per_block: usize = flags.num("txs-per-block", Some(20))?;
    let actors_n: usize = flags.num("actors", Some(100))?;
    let passive_n: usize = flags.num("passive", Some(2000))?;
    let seed: u64 = flags.num("seed", Some(1))?;
    if actors_n < 2 || per_block == 0 || passive_n == 0 {
        return Err("--actors must be ≥ 2, --txs-per-block and --passive ≥ 1".into());
    }
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let started = Instant::now();

    let actors_arg = actors_n.to_string();
    let genesis = GENESIS_TIME.to_string();
    // Mining only on `evm_mine`; transactions in arrival order (each block's are sent one by
    // one, so the chain is the same for the same seed).
    let node = Anvil::start_with_args(&[
        "--no-mining",
        "--order",
        "fifo",
        "--accounts",
        &actors_arg,
        "--balance",
        "1000000",
        "--timestamp",
        &genesis,
    ])
    .map_err(|e| e.to_string())?;
    let version = Command::new(tracehound_evm::testnode::find_anvil().unwrap_or_default())
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_default();
    let actors: Vec<String> = node.rpc("eth_accounts", json!([])).map_err(|e| e.to_string())?;
    let actors: Vec<Address> = actors
        .iter()
        .map(|a| a.parse().map_err(|e| format!("{a}: {e}")))
        .collect::<Result<_, _>>()?;
    if actors.len() != actors_n {
        return Err(format!("anvil has {} accounts, not {actors_n}", actors.len()));
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let passive: Vec<Address> = (0..passive_n)
        .map(|_| {
            let mut a = [0u8; 20];
            rng.fill(&mut a);
            Address::from(a)
        })
        .collect();
    let mut w = World {
        nonce: vec![0; actors.len()],
        token: vec![0; actors.len()],
        weth: vec![0; actors.len()],
        nfts: vec![Vec::new(); actors.len()],
        multi: vec![BTreeMap::new(); actors.len()],
        actors,
        passive,
        pending: Vec::new(),
        next_nft: 1,
        next_salt: 1,
    };
    let mut g = Gen {
        node: &node,
        height: 0,
        expected: HashMap::new(),
        txs: 0,
    };
    let fee = vec![
        ("maxFeePerGas", format!("{:#x}", 100 * GWEI)),
        ("maxPriorityFeePerGas", format!("{GWEI:#x}")),
    ];

    // Block 1: the contracts, from actor 0 (addresses follow from its nonces).
    let deployer = w.actors[0];
    let supply = TOKEN_SUPPLY;
    let token_args = (
        "Bench Token".to_string(),
        "BTK".to_string(),
        U256::from(18u64),
        U256::from(supply),
    )
        .abi_encode_params();
    let deploys: [(&str, &str, Vec<u8>); 6] = [
        ("Token", TOKEN_BIN, token_args),
        ("Weth", WETH_BIN, Vec::new()),
        ("Forwarder", FORWARDER_BIN, Vec::new()),
        ("Reverter", REVERTER_BIN, Vec::new()),
        ("Nft", NFT_BIN, Vec::new()),
        ("Multi", MULTI_BIN, Vec::new()),
    ];
    let mut addrs = Vec::new();
    for (name, bin, args) in &deploys {
        let mut code = alloy::hex::decode(bin.trim()).map_err(|e| format!("{name}.bin: {e}"))?;
        code.extend_from_slice(args);
        let nonce = w.nonce[0];
        w.nonce[0] += 1;
        let p = Planned {
            kind: Kind::Eth,
            to: Address::ZERO,
            value: 0,
            data: code,
            gas: 3_000_000,
            expect_ok: true,
        };
        g.send(deployer, nonce, &p, &fee)?;
        addrs.push(deployer.create(nonce));
    }
    g.mine(deploys.len())?;
    for ((name, _, _), addr) in deploys.iter().zip(&addrs) {
        let code: String = node
            .rpc("eth_getCode", json!([addr.to_string(), "latest"]))
            .map_err(|e| e.to_string())?;
        if code.len() <= 2 {
            return Err(format!("{name} was not deployed at {addr}"));
        }
    }
    let c = Contracts {
        token: addrs[0],
        weth: addrs[1],
        forwarder: addrs[2],
        reverter: addrs[3],
        nft: addrs[4],
        multi: addrs[5],
    };

    // Block 2: a share of the token supply to every other actor.
    w.token[0] = supply;
    let each = supply / (2 * w.actors.len() as u128);
    for j in 1..w.actors.len() {
        let data = transferCall {
            to: w.actors[j],
            value: U256::from(each),
        }
        .abi_encode();
        let p = Planned {
            kind: Kind::Erc20,
            to: c.token,
            value: 0,
            data,
            gas: CALL_GAS,
            expect_ok: true,
        };
        let nonce = w.nonce[0];
        w.nonce[0] += 1;
        g.send(deployer, nonce, &p, &fee)?;
        w.token[0] -= each;
        w.token[j] += each;
    }
    g.mine(w.actors.len() - 1)?;
    let setup_blocks = g.height;

    // The mix: each block a random number of txs around the mean, from distinct senders.
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    let mut order: Vec<usize> = (0..w.actors.len()).collect();
    let mut last_report = Instant::now();
    while g.height < setup_blocks + blocks {
        let lo = (per_block / 2).max(1);
        let hi = (per_block + per_block / 2).max(lo);
        let n = rng.usize(lo..=hi).min(w.actors.len());
        rng.shuffle(&mut order);
        for &s in &order[..n] {
            let p = plan(&mut rng, &mut w, &c, s);
            let fee = fees(&mut rng);
            let nonce = w.nonce[s];
            w.nonce[s] += 1;
            g.send(w.actors[s], nonce, &p, &fee)?;
            *by_kind.entry(format!("{:?}", p.kind)).or_default() += 1;
        }
        g.mine(n)?;
        w.settle();
        if last_report.elapsed().as_secs() >= 10 {
            last_report = Instant::now();
            eprintln!(
                "gen: block {} of {} ({} txs) after {:.0}s",
                g.height,
                setup_blocks + blocks,
                g.txs,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let mined_in = started.elapsed().as_secs_f64();

    // Every tx ended as planned (a model drift would make the mix quietly unrealistic).
    let mut failed = 0u64;
    let mut logs = 0u64;
    let mut checked = 0u64;
    for h in 1..=g.height {
        let receipts: Vec<Value> = node
            .rpc("eth_getBlockReceipts", json!([format!("{h:#x}")]))
            .map_err(|e| e.to_string())?;
        for r in receipts {
            let hash = r["transactionHash"].as_str().unwrap_or_default();
            let ok = r["status"] == "0x1";
            let (want, kind) = g
                .expected
                .get(hash)
                .copied()
                .ok_or_else(|| format!("block {h}: a tx that was not sent: {hash}"))?;
            if ok != want {
                return Err(format!(
                    "block {h}: {kind:?} tx {hash} {} but should have {}",
                    if ok { "succeeded" } else { "failed" },
                    if want { "succeeded" } else { "failed" }
                ));
            }
            failed += u64::from(!ok);
            logs += r["logs"].as_array().map_or(0, |l| l.len() as u64);
            checked += 1;
        }
    }
    if checked != g.txs {
        return Err(format!("{checked} receipts for {} txs sent", g.txs));
    }

    // The chain, as anvil state (hex of gzipped JSON), saved decompressed for --load-state.
    eprintln!("gen: dumping anvil state");
    let dump: String = node
        .rpc("anvil_dumpState", json!([]))
        .map_err(|e| e.to_string())?;
    let gz = alloy::hex::decode(dump.trim_start_matches("0x")).map_err(|e| e.to_string())?;
    let mut state = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut state)
        .map_err(|e| format!("anvil_dumpState: {e}"))?;
    let tip_hash: Value = node
        .rpc("eth_getBlockByNumber", json!([format!("{:#x}", g.height), false]))
        .map_err(|e| e.to_string())?;
    let write = |name: &str, bytes: &[u8]| -> Result<(), String> {
        let tmp = out.join(format!("{name}.tmp"));
        std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, out.join(name)).map_err(|e| format!("{name}: {e}"))
    };
    write("state.json", &state)?;
    let summary = json!({
        "anvil": version,
        "chain_id": 31337,
        "seed": seed,
        "blocks": g.height + 1,
        "tip": g.height,
        "tip_hash": tip_hash["hash"],
        "setup_blocks": setup_blocks,
        "txs": g.txs,
        "failed_txs": failed,
        "logs": logs,
        "actors": actors_n,
        "passive_addresses": passive_n,
        "txs_per_block": per_block,
        "by_kind": by_kind,
        "contracts": {
            "token": c.token.to_string(), "weth": c.weth.to_string(),
            "forwarder": c.forwarder.to_string(), "reverter": c.reverter.to_string(),
            "nft": c.nft.to_string(), "multi": c.multi.to_string(),
        },
        "state_bytes": state.len(),
        "mine_seconds": mined_in,
        "seconds": started.elapsed().as_secs_f64(),
    });
    write("gen.json", format!("{summary}\n").as_bytes())?;
    println!("{summary}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// cryo

/// Runs `cmd`, returning its wall time, peak RSS (the child's `ru_maxrss`) and its output.
fn measured(mut cmd: Command) -> Result<(f64, u64, std::process::Output), String> {
    let started = Instant::now();
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let pid = child.id() as libc::pid_t;
    // Read the pipes on threads, reap with wait4 for the child's own resource usage.
    let mut stdout = child.stdout.ok_or("no stdout")?;
    let mut stderr = child.stderr.ok_or("no stderr")?;
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stdout.read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stderr.read_to_end(&mut b);
        b
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let secs = started.elapsed().as_secs_f64();
    if r != pid {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()));
    }
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    use std::os::unix::process::ExitStatusExt;
    let output = std::process::Output {
        status: std::process::ExitStatus::from_raw(status),
        stdout,
        stderr,
    };
    Ok((secs, usage.ru_maxrss as u64 * 1024, output))
}

fn run_cryo(flags: &Flags, extra: &[String]) -> Result<(), String> {
    let bin = flags.path("bin")?;
    let rpc = flags.str("rpc").ok_or("--rpc is required")?;
    let to: u64 = flags.num("to", None)?;
    let out = flags.path("out")?;
    let datasets: Vec<String> = flags
        .str("datasets")
        .unwrap_or("traces,native_transfers,erc20_transfers")
        .split(',')
        .map(str::to_string)
        .collect();
    let version = Command::new(&bin)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mut runs = Vec::new();
    let (mut seconds, mut rows_total, mut peak) = (0f64, 0u64, 0u64);
    let mut rows_by = BTreeMap::new();
    for ds in &datasets {
        let dir = out.join(ds);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut cmd = Command::new(&bin);
        cmd.arg(ds)
            .args(["--rpc", rpc, "--blocks", &format!("0:{}", to + 1)])
            .arg("--output-dir")
            .arg(&dir);
        cmd.args(extra);
        eprintln!("cryo: {ds}");
        let (secs, rss, output) = measured(cmd)?;
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        std::fs::write(dir.join("cryo.log"), format!("{stdout}\n{stderr}"))
            .map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(format!(
                "cryo {ds} failed ({}):\n{stdout}\n{stderr}",
                output.status
            ));
        }
        let rows = rows_written(&stdout)
            .ok_or_else(|| format!("cryo {ds}: no 'rows written' in its output:\n{stdout}"))?;
        eprintln!("cryo: {ds}: {rows} rows in {secs:.2}s, peak RSS {} MiB", rss >> 20);
        seconds += secs;
        rows_total += rows;
        peak = peak.max(rss);
        rows_by.insert(ds.clone(), rows);
        runs.push(json!({
            "dataset": ds, "rows": rows, "seconds": secs, "peak_rss_bytes": rss,
            "files": std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0),
        }));
    }
    let blocks = to + 1;
    let transfers: u64 = ["native_transfers", "erc20_transfers", "erc721_transfers"]
        .iter()
        .filter_map(|d| rows_by.get(*d))
        .sum();
    let report = json!({
        "peer": version,
        "label": flags.str("label"),
        "blocks": blocks,
        "extra_flags": extra,
        "datasets": runs,
        "rows": rows_total,
        "transfers": transfers,
        "seconds": seconds,
        "blocks_per_s": blocks as f64 / seconds,
        "transfers_per_s": transfers as f64 / seconds,
        "peak_rss_bytes": peak,
    });
    println!("{report}");
    Ok(())
}

/// The rows cryo says it wrote (its summary's `rows written: N` line).
fn rows_written(stdout: &str) -> Option<u64> {
    let line = stdout.lines().find(|l| l.contains("rows written"))?;
    let digits: String = line
        .rsplit(':')
        .next()?
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn measure(out: Option<&Path>, cmd: &[String]) -> Result<(), String> {
    let out = out.ok_or("--out is required")?;
    let (prog, args) = cmd.split_first().ok_or("no command after --")?;
    let mut c = Command::new(prog);
    c.args(args);
    let (secs, rss, output) = measured(c)?;
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        return Err(format!("{prog} failed ({})", output.status));
    }
    let mut v: Value = serde_json::from_slice(&output.stdout).map_err(|e| {
        format!(
            "{prog} printed no JSON object ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    })?;
    let map = v.as_object_mut().ok_or("not a JSON object")?;
    map.insert("wall_seconds".into(), json!(secs));
    map.insert("wall_peak_rss_bytes".into(), json!(rss));
    std::fs::write(out, format!("{v}\n")).map_err(|e| format!("{}: {e}", out.display()))?;
    println!("{v}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// compare

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn compare(ours: &Path, peer: &Path, save: Option<&Path>) -> Result<(), String> {
    let peer = read_json(peer)?;
    let ran = ours.exists();
    let ours = if ran {
        read_json(ours)?
    } else {
        json!({ "tool": "tracehound (not run)" })
    };
    let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    // Both sides on one clock: the whole process, start to exit, as `measure` and `cryo` time
    // it (tracehound's own timer, without its start-up, is shown too).
    let secs = |v: &Value| {
        let wall = num(v, "wall_seconds");
        if wall.is_nan() { num(v, "seconds") } else { wall }
    };
    let rate = |v: &Value, k: &str| num(v, k) / secs(v);
    let mib = |v: &Value| num(v, "peak_rss_bytes") / (1024.0 * 1024.0);
    let ours_name = ours
        .get("tool")
        .and_then(Value::as_str)
        .unwrap_or("tracehound")
        .to_string();
    let mut peer_name = peer
        .get("peer")
        .and_then(Value::as_str)
        .unwrap_or("cryo")
        .to_string();
    if let Some(label) = peer.get("label").and_then(Value::as_str) {
        peer_name = format!("{peer_name}: {label}");
    }
    // (name, tracehound, peer, decimals, ratio: None, or Some(lower is better))
    let rows: [(&str, f64, f64, usize, Option<bool>); 8] = [
        ("blocks", num(&ours, "blocks"), num(&peer, "blocks"), 0, None),
        ("txs", num(&ours, "txs"), f64::NAN, 0, None),
        (
            "transfers",
            num(&ours, "transfers"),
            num(&peer, "transfers"),
            0,
            None,
        ),
        ("seconds (wall)", secs(&ours), secs(&peer), 2, Some(true)),
        (
            "seconds (own)",
            num(&ours, "seconds"),
            f64::NAN,
            2,
            None,
        ),
        (
            "blocks/s",
            rate(&ours, "blocks"),
            rate(&peer, "blocks"),
            0,
            Some(false),
        ),
        (
            "transfers/s",
            rate(&ours, "transfers"),
            rate(&peer, "transfers"),
            0,
            Some(false),
        ),
        ("peak RSS (MiB)", mib(&ours), mib(&peer), 0, Some(true)),
    ];
    println!("{:<16} {:>22} {:>28} {:>10}", "", ours_name, peer_name, "ratio");
    let mut ratios = serde_json::Map::new();
    for (name, a, b, decimals, ratio) in rows {
        let ratio = match ratio {
            Some(_) if !ran => None,
            Some(true) => Some(b / a),
            Some(false) => Some(a / b),
            None => None,
        };
        if let Some(r) = ratio.filter(|r| r.is_finite()) {
            ratios.insert(name.to_string(), json!(r));
        }
        let ratio = ratio.map(|r| format!("{r:.2}x")).unwrap_or_default();
        let cell = |v: f64| {
            if v.is_nan() {
                "-".to_string()
            } else {
                format!("{v:.decimals$}")
            }
        };
        println!("{name:<16} {:>22} {:>28} {ratio:>10}", cell(a), cell(b));
    }
    if let Some(runs) = peer.get("datasets").and_then(Value::as_array) {
        println!();
        println!("cryo, one invocation per dataset:");
        for r in runs {
            println!(
                "  {:<18} {:>10} rows {:>8.2} s {:>8.0} MiB",
                r["dataset"].as_str().unwrap_or("?"),
                r["rows"].as_u64().unwrap_or(0),
                r["seconds"].as_f64().unwrap_or(f64::NAN),
                r["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN) / (1024.0 * 1024.0)
            );
        }
    }
    println!(
        "(ratio > 1x: tracehound ahead. Transfers: tracehound's are top-level and internal \
         ether, fees, ERC-20/WETH and NFT transfers, from one pass into its store; cryo's are \
         its native_transfers (every call trace, zero-value ones too), erc20_transfers and \
         erc721_transfers rows, where collected. Seconds: each whole process, start to exit; \
         cryo's summed over its invocations.)"
    );
    if let Some(path) = save {
        let results = json!({
            "tracehound": if ran { ours } else { Value::Null },
            "cryo": peer,
            "ratios": ratios,
        });
        std::fs::write(path, format!("{results:#}\n"))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
