//! The engine over tracehound's store: UTXO txs with resolved inputs and spenders, account
//! histories in (block, tx, sub-index) order; and [`trace`], which resolves an incident
//! against the store and runs the engine on every chain it names.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use tracehound_core::{Address, Chain, ChainFamily, Hash32, TransferKind};
use tracehound_store::{BlockStamps, FlowIds, Store, UtxoLinks};

use crate::TraceError;
use crate::engine::{AccountSeed, Graphs, Rules, Tracker, UtxoSeed, Walks};
use crate::follow::{LinkState, LinkView, Linker};
use crate::graph::{AccountEvent, AccountGraph, TxIn, TxOut, UtxoGraph, UtxoTx};
use crate::incident::Incident;
use crate::result::TraceResult;

fn hash(chain: Chain, text: &str) -> Result<Hash32, TraceError> {
    Hash32::from_str(text.trim_start_matches("0x"))
        .map_err(|e| TraceError::Incident(format!("{chain} tx {text:?}: {e}")))
}

/// A UTXO chain of the store, read by dense id (tx seq, output seq, address id) through
/// [`UtxoLinks`]: no txid or address text is made for what the trace only passes through.
pub struct StoreUtxo<'s> {
    links: UtxoLinks<'s>,
    /// Txids of source seeds and their seqs: a seed named by the seq it was found at is not
    /// searched for again.
    named: std::collections::HashMap<String, u64>,
}

impl<'s> StoreUtxo<'s> {
    /// Reads `chain` of `store` (loads its block index).
    pub fn new(store: &'s Store, chain: Chain) -> Result<Self, TraceError> {
        Ok(StoreUtxo {
            links: store.utxo_links(chain)?,
            named: std::collections::HashMap::new(),
        })
    }
}

impl UtxoGraph for StoreUtxo<'_> {
    fn find(&mut self, txid: &str) -> Result<u64, TraceError> {
        if let Some(&seq) = self.named.get(txid) {
            return Ok(seq);
        }
        let chain = self.links.chain();
        let seq = self
            .links
            .find(&hash(chain, txid)?)?
            .ok_or_else(|| TraceError::Unknown(format!("{chain} tx {txid}")))?;
        self.named.insert(txid.to_string(), seq);
        Ok(seq)
    }

    fn spender(&mut self, tx: &UtxoTx, vout: u32) -> Result<Option<u64>, TraceError> {
        match tx.outputs.get(vout as usize) {
            Some(o) => Ok(self.links.spender(o.id)?),
            None => Ok(None),
        }
    }

    fn time_of(&mut self, id: u64) -> Result<u64, TraceError> {
        Ok(self.links.time_of(id)?)
    }

    fn tx(&mut self, id: u64) -> Result<UtxoTx, TraceError> {
        let t = self.links.tx_without_spenders(id)?;
        Ok(UtxoTx {
            id: t.seq,
            height: t.height,
            index: t.index,
            time: t.time,
            inputs: t
                .inputs
                .iter()
                .map(|i| TxIn {
                    prev: i.prev_out,
                    addr: i.addr,
                    value: u128::from(i.value),
                })
                .collect(),
            outputs: t
                .outputs
                .iter()
                .map(|o| TxOut {
                    id: o.out,
                    addr: o.addr,
                    value: u128::from(o.value),
                    spent_by: o.spent_by,
                })
                .collect(),
        })
    }

    fn txid(&mut self, id: u64) -> Result<String, TraceError> {
        Ok(self.links.txid(id)?.to_string())
    }

    fn address(&mut self, id: u64) -> Result<String, TraceError> {
        Ok(self.links.address(id)?)
    }
}

/// An account chain of the store. Histories read are kept (a link's far side and the mixer
/// heuristics read the same addresses again), up to [`HISTORY_CACHE`] of them; each address,
/// asset and block is named once per trace, however many histories it appears in.
pub struct StoreAccounts<'s> {
    store: &'s Store,
    chain: Chain,
    read: foldhash::HashMap<Arc<str>, Arc<[AccountEvent]>>,
    names: foldhash::HashMap<u64, Arc<str>>,
    /// The reverse of `names`, keyed by where each name lives: a counterparty's history is
    /// read by the id its flows gave. The engine asks for a history with the very `Arc<str>`
    /// this reader handed out, so its address finds the id without hashing the text; `names`
    /// keeps every name alive, so no other text can ever sit at the same address.
    ids: foldhash::HashMap<(usize, usize), u64>,
    assets: foldhash::HashMap<u64, Arc<str>>,
    stamps: BlockStamps,
}

/// Histories kept by [`StoreAccounts`] before it starts over.
const HISTORY_CACHE: usize = 100_000;

impl<'s> StoreAccounts<'s> {
    /// Reads `chain` of `store`.
    pub fn new(store: &'s Store, chain: Chain) -> Self {
        StoreAccounts {
            store,
            chain,
            read: foldhash::HashMap::default(),
            names: foldhash::HashMap::default(),
            ids: foldhash::HashMap::default(),
            assets: foldhash::HashMap::default(),
            stamps: BlockStamps::default(),
        }
    }
}

impl AccountGraph for StoreAccounts<'_> {
    fn history(&mut self, address: &str, limit: usize) -> Result<Arc<[AccountEvent]>, TraceError> {
        if let Some(h) = self.read.get(address) {
            return Ok(Arc::clone(h));
        }
        let h = self.read_history(address, limit)?;
        if self.read.len() >= HISTORY_CACHE {
            self.read.clear();
        }
        self.read.insert(address.into(), Arc::clone(&h));
        Ok(h)
    }
}

impl StoreAccounts<'_> {
    fn read_history(
        &mut self,
        address: &str,
        limit: usize,
    ) -> Result<Arc<[AccountEvent]>, TraceError> {
        // An address met as a counterparty is known by id; a source is looked up once.
        let id = match self.ids.get(&text_key(address)) {
            Some(&id) => id,
            None => {
                let addr = Address::from_canonical(self.chain, address.to_string());
                match self.store.account_id(&addr)? {
                    Some(id) => id,
                    None => return Ok(Arc::from(Vec::new())),
                }
            }
        };
        // One more than the cap tells a history over it without counting it first.
        let mut rows = self.store.account_flow_ids(
            self.chain,
            id,
            0,
            limit.saturating_add(1),
            &mut self.stamps,
        )?;
        if rows.len() > limit {
            return Err(TraceError::Cap {
                what: format!("transfers of {address}"),
                limit: limit as u64,
                flag: "--max-history",
            });
        }
        let me: Arc<str> = match self.names.get(&id) {
            Some(n) => Arc::clone(n),
            None => {
                let n: Arc<str> = address.into();
                self.intern(id, Arc::clone(&n));
                n
            }
        };
        // Counterparties not named yet are named together, under one lock of the store.
        let other = |r: &FlowIds| if r.from == id { r.to } else { r.from };
        let mut unnamed: Vec<u64> = rows
            .iter()
            .map(other)
            .filter(|o| !self.names.contains_key(o))
            .collect();
        unnamed.sort_unstable();
        unnamed.dedup();
        if !unnamed.is_empty() {
            let named = self.store.account_addresses_of(self.chain, &unnamed)?;
            for (o, a) in unnamed.into_iter().zip(named) {
                self.intern(o, Arc::from(a.as_str()));
            }
        }
        rows.retain(|r| r.kind != TransferKind::Nft);
        rows.sort_by_key(|r| {
            (
                r.height,
                r.tx_index,
                u8::from(r.kind == TransferKind::Fee),
                r.sub_index,
            )
        });
        // One side is the account itself: only the other is looked up.
        let mut parties = Vec::with_capacity(rows.len());
        for r in &rows {
            parties.push(if r.from == id && r.to == id {
                (Arc::clone(&me), Arc::clone(&me))
            } else if r.from == id {
                (Arc::clone(&me), self.name(r.to)?)
            } else {
                (self.name(r.from)?, Arc::clone(&me))
            });
        }
        let mut assets = Vec::with_capacity(rows.len());
        for r in &rows {
            assets.push(self.asset(r.asset)?);
        }
        // Built in place: a history of thousands of events is not copied from a Vec.
        let out: Arc<[AccountEvent]> = rows
            .iter()
            .zip(parties)
            .zip(assets)
            .map(|((r, (from, to)), asset)| AccountEvent {
                height: r.height,
                tx: r.tx_index,
                sub: r.sub_index,
                time: r.time,
                txid: r.txid,
                fee: r.kind == TransferKind::Fee,
                asset,
                amount: r.received.max(r.sent),
                from,
                to,
            })
            .collect();
        debug_assert!(out.is_sorted_by_key(AccountEvent::key));
        Ok(out)
    }

    fn name(&mut self, id: u64) -> Result<Arc<str>, TraceError> {
        if let Some(n) = self.names.get(&id) {
            return Ok(Arc::clone(n));
        }
        let n: Arc<str> = self.store.account_address(self.chain, id)?.into();
        self.intern(id, Arc::clone(&n));
        Ok(n)
    }

    fn intern(&mut self, id: u64, name: Arc<str>) {
        self.ids.insert(text_key(&name), id);
        self.names.insert(id, name);
    }

    fn asset(&mut self, asset: u64) -> Result<Arc<str>, TraceError> {
        if let Some(n) = self.assets.get(&asset) {
            return Ok(Arc::clone(n));
        }
        let n: Arc<str> = self.store.account_asset(self.chain, asset)?.into();
        self.assets.insert(asset, Arc::clone(&n));
        Ok(n)
    }
}

/// Where a text lives and how long it is: the key of [`StoreAccounts`]'s interned names.
fn text_key(s: &str) -> (usize, usize) {
    (s.as_ptr() as usize, s.len())
}

/// Every chain of the store, each opened on first use.
pub(crate) struct StoreGraphs<'s> {
    store: &'s Store,
    utxo: BTreeMap<Chain, StoreUtxo<'s>>,
    account: BTreeMap<Chain, StoreAccounts<'s>>,
}

impl<'s> StoreGraphs<'s> {
    /// The store's graphs, with the UTXO ones already opened.
    pub(crate) fn with_utxo(store: &'s Store, utxo: BTreeMap<Chain, StoreUtxo<'s>>) -> Self {
        StoreGraphs {
            store,
            utxo,
            account: BTreeMap::new(),
        }
    }
}

impl Graphs for StoreGraphs<'_> {
    fn utxo(&mut self, chain: Chain) -> Result<&mut dyn UtxoGraph, TraceError> {
        Ok(utxo_graph(&mut self.utxo, self.store, chain)?)
    }

    fn account(&mut self, chain: Chain) -> Result<&mut dyn AccountGraph, TraceError> {
        Ok(self
            .account
            .entry(chain)
            .or_insert_with(|| StoreAccounts::new(self.store, chain)))
    }
}

/// The store's link facts, with each block's time read once.
pub(crate) struct StoreLinks<'s> {
    store: &'s Store,
    times: std::collections::HashMap<(Chain, u32), u64>,
    /// Per block read: its facts' inputs (tx index, leg) → fact index, sorted. A trace asks
    /// for every tainted transfer whether it enters a link; most blocks hold no fact at all.
    inputs: foldhash::HashMap<(Chain, u32), Vec<FactInput>>,
}

/// A fact's input movement (tx index, leg) and the fact's index in its block.
type FactInput = ((u32, u32), u32);

/// Blocks whose fact inputs [`StoreLinks`] keeps before it starts over.
const INPUTS_CACHE: usize = 1_000_000;

impl<'s> StoreLinks<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        StoreLinks {
            store,
            times: std::collections::HashMap::new(),
            inputs: foldhash::HashMap::default(),
        }
    }
}

impl LinkView for StoreLinks<'_> {
    fn facts(
        &mut self,
        chain: Chain,
        height: u32,
    ) -> Result<std::sync::Arc<[tracehound_core::LinkFact]>, TraceError> {
        Ok(self.store.link_facts(chain, height)?.into())
    }

    fn input_at(
        &mut self,
        chain: Chain,
        height: u32,
        tx_index: u32,
        leg: u32,
    ) -> Result<Option<(u32, tracehound_core::LinkFact)>, TraceError> {
        if !self.inputs.contains_key(&(chain, height)) {
            if self.inputs.len() >= INPUTS_CACHE {
                self.inputs.clear();
            }
            let mut inputs: Vec<FactInput> = self
                .store
                .link_fact_inputs(chain, height)?
                .into_iter()
                .zip(0u32..)
                .filter_map(|(input, index)| Some((input?, index)))
                .collect();
            // A block lists its facts in tx order, so this is nearly always sorted already.
            if !inputs.is_sorted() {
                inputs.sort_unstable();
            }
            self.inputs.insert((chain, height), inputs);
        }
        let Some(inputs) = self.inputs.get(&(chain, height)) else {
            return Ok(None);
        };
        // The first fact entered by this movement, as a block's row lists them.
        let at = inputs.partition_point(|(k, _)| *k < (tx_index, leg));
        let Some(&(k, index)) = inputs.get(at) else {
            return Ok(None);
        };
        if k != (tx_index, leg) {
            return Ok(None);
        }
        let fact = self
            .store
            .link_fact_at(chain, height, index)?
            .ok_or_else(|| {
                TraceError::Data(format!(
                    "{chain} block {height}: link fact {index} vanished"
                ))
            })?;
        Ok(Some((index, fact)))
    }

    fn lookup(
        &mut self,
        key: &str,
    ) -> Result<Vec<(tracehound_store::FactRef, tracehound_core::LinkFact)>, TraceError> {
        Ok(self.store.link_lookup(key)?)
    }

    fn time(&mut self, chain: Chain, height: u32) -> Result<u64, TraceError> {
        if let Some(&t) = self.times.get(&(chain, height)) {
            return Ok(t);
        }
        let t = self
            .store
            .block_at(chain, height)?
            .map(|b| b.time)
            .ok_or_else(|| TraceError::Unknown(format!("{chain} block {height}")))?;
        self.times.insert((chain, height), t);
        Ok(t)
    }
}

/// The graph of UTXO chain `chain`, opened on first use.
fn utxo_graph<'g, 's>(
    graphs: &'g mut BTreeMap<Chain, StoreUtxo<'s>>,
    store: &'s Store,
    chain: Chain,
) -> Result<&'g mut StoreUtxo<'s>, TraceError> {
    Ok(match graphs.entry(chain) {
        std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::btree_map::Entry::Vacant(e) => e.insert(StoreUtxo::new(store, chain)?),
    })
}

/// Traces `incident` over `store` under `rules`.
pub fn trace(store: &Store, incident: &Incident, rules: Rules) -> Result<TraceResult, TraceError> {
    let (mut t, walks, links) = walk(store, incident, rules, false)?;
    walks.rest(&mut t, links.skipped())?;
    Ok(t.finish(&incident.name))
}

/// Resolves `incident` against `store` and walks it as far as the store goes: the trace before
/// what rests is ended. Live walks ([`crate::live`]) park unspent outputs instead of ending
/// them.
pub(crate) fn walk(
    store: &Store,
    incident: &Incident,
    rules: Rules,
    live: bool,
) -> Result<(Tracker, Walks, LinkState), TraceError> {
    incident.validate().map_err(TraceError::Incident)?;
    // One graph per UTXO chain, shared by seeding and tracing (its block index and caches).
    let mut graphs: BTreeMap<Chain, StoreUtxo<'_>> = BTreeMap::new();
    let seeds = resolve(store, incident, &rules, &mut graphs)?;
    let mut linker = Linker::new(Box::new(StoreLinks::new(store)), rules.links.clone());
    let mut t = Tracker::new(rules);
    let mut all = StoreGraphs::with_utxo(store, graphs);
    let mut walks = Walks::new(live);
    walks.seed(&mut t, &mut all, &mut linker, &seeds.utxo, &seeds.account)?;
    walks.drain(&mut t, &mut all, &mut linker, &BTreeMap::new())?;
    Ok((t, walks, linker.into_state()))
}

/// An incident's seeds per chain, as the store resolves them.
pub(crate) struct Seeds {
    pub(crate) utxo: BTreeMap<Chain, Vec<UtxoSeed>>,
    pub(crate) account: BTreeMap<Chain, Vec<AccountSeed>>,
}

/// Resolves `incident`'s stolen items and sources against `store` (through `graphs`, which
/// the trace goes on using). A UTXO source's seeds are the outputs paying it that were spent
/// at or after its `since`: a store that has grown can have more.
pub(crate) fn resolve<'s>(
    store: &'s Store,
    incident: &Incident,
    rules: &Rules,
    graphs: &mut BTreeMap<Chain, StoreUtxo<'s>>,
) -> Result<Seeds, TraceError> {
    let mut chains: BTreeMap<Chain, (Vec<UtxoSeed>, Vec<AccountSeed>)> = BTreeMap::new();

    let stored = store.chains()?;
    let known = |c: Chain| -> Result<Chain, TraceError> {
        if stored.contains(&c) {
            Ok(c)
        } else {
            Err(TraceError::Unknown(format!("chain {c} (ingest it first)")))
        }
    };
    let asset_ok = |a: &str| {
        incident.assets.is_empty() || incident.assets.iter().any(|x| x.eq_ignore_ascii_case(a))
    };
    for s in &incident.stolen {
        let chain =
            known(Chain::from_str(&s.chain).map_err(|e| TraceError::Incident(e.to_string()))?)?;
        let entry = chains.entry(chain).or_default();
        match chain.family() {
            ChainFamily::Utxo => {
                if s.sub_index.is_some() {
                    return Err(TraceError::Incident(format!(
                        "stolen tx {} on {chain}: sub_index is for account chains; use vout",
                        s.tx
                    )));
                }
                let g = utxo_graph(graphs, store, chain)?;
                let not_found = || TraceError::Unknown(format!("stolen tx {} of {chain}", s.tx));
                let id = g.find(&s.tx).map_err(|_| not_found())?;
                let tx = g.tx(id).map_err(|_| not_found())?;
                let txid = g.txid(id)?;
                let vouts: Vec<u32> = match s.vout {
                    Some(v) => vec![v],
                    None => (0..tx.outputs.len() as u32).collect(),
                };
                for vout in vouts {
                    entry.0.push(UtxoSeed {
                        txid: txid.clone(),
                        vout,
                        amount: if s.vout.is_some() { s.amount } else { None },
                        at_source: false,
                    });
                }
            }
            ChainFamily::Account => {
                if s.vout.is_some() {
                    return Err(TraceError::Incident(format!(
                        "stolen tx {} on {chain}: vout is for UTXO chains; use sub_index",
                        s.tx
                    )));
                }
                let views = store.account_tx(Some(chain), &hash(chain, &s.tx)?)?;
                let view = views
                    .first()
                    .ok_or_else(|| TraceError::Unknown(format!("stolen tx {} of {chain}", s.tx)))?;
                let picked: Vec<_> = view
                    .transfers
                    .iter()
                    .filter(|t| t.kind != TransferKind::Fee && t.kind != TransferKind::Nft)
                    .filter(|t| s.sub_index.is_none_or(|i| t.sub_index == i))
                    .filter(|t| s.sub_index.is_some() || asset_ok(&t.asset))
                    .collect();
                if picked.is_empty() {
                    return Err(TraceError::Incident(format!(
                        "stolen tx {} on {chain} has no transfer{}{}",
                        s.tx,
                        s.sub_index
                            .map(|i| format!(" at sub_index {i}"))
                            .unwrap_or_default(),
                        if incident.assets.is_empty() {
                            String::new()
                        } else {
                            format!(" in assets {:?}", incident.assets)
                        }
                    )));
                }
                if picked.len() > 1 && s.amount.is_some() {
                    return Err(TraceError::Incident(format!(
                        "stolen tx {} on {chain}: an amount needs one transfer (give sub_index)",
                        s.tx
                    )));
                }
                for t in picked {
                    let amount = t.amount.units();
                    let stolen = s.amount.unwrap_or(amount);
                    if stolen > amount {
                        return Err(TraceError::Incident(format!(
                            "stolen tx {} on {chain} sub_index {}: amount {stolen} exceeds the transfer's {amount}",
                            s.tx, t.sub_index
                        )));
                    }
                    entry.1.push(AccountSeed::Transfer {
                        event: AccountEvent {
                            height: view.height,
                            tx: view.index,
                            sub: t.sub_index,
                            time: view.time,
                            txid: view.hash,
                            fee: false,
                            asset: t.asset.as_str().into(),
                            from: t.from.as_str().into(),
                            to: t.to.as_str().into(),
                            amount,
                        },
                        stolen,
                    });
                }
            }
        }
    }
    for s in &incident.sources {
        let chain =
            known(Chain::from_str(&s.chain).map_err(|e| TraceError::Incident(e.to_string()))?)?;
        let addr =
            Address::parse(chain, &s.address).map_err(|e| TraceError::Incident(e.to_string()))?;
        let since = s.since.unwrap_or(0);
        let entry = chains.entry(chain).or_default();
        match chain.family() {
            ChainFamily::Account => {
                if store.account(&addr)?.is_none() {
                    return Err(TraceError::Unknown(format!("source {addr} on {chain}")));
                }
                entry.1.push(AccountSeed::Source {
                    address: addr.as_str().to_string(),
                    since,
                    assets: incident.assets.clone(),
                });
            }
            ChainFamily::Utxo => {
                let seeds = utxo_source_seeds(
                    store,
                    utxo_graph(graphs, store, chain)?,
                    &addr,
                    since,
                    rules.caps.max_history,
                )?;
                if seeds.is_empty() {
                    return Err(TraceError::Incident(format!(
                        "source {addr} on {chain} sends nothing from time {since} on"
                    )));
                }
                entry.0.extend(seeds);
            }
        }
    }
    let mut seeds = Seeds {
        utxo: BTreeMap::new(),
        account: BTreeMap::new(),
    };
    for (chain, (utxo, account)) in chains {
        if !utxo.is_empty() {
            seeds.utxo.insert(chain, utxo);
        }
        if !account.is_empty() {
            seeds.account.insert(chain, account);
        }
    }
    Ok(seeds)
}

/// The outputs paying `addr` that were spent at or after `since`: what left the address.
fn utxo_source_seeds(
    store: &Store,
    g: &mut StoreUtxo<'_>,
    addr: &Address,
    since: u64,
    limit: usize,
) -> Result<Vec<UtxoSeed>, TraceError> {
    let chain = addr.chain();
    let Some(view) = store.address(addr)? else {
        return Err(TraceError::Unknown(format!("source {addr} on {chain}")));
    };
    if view.tx_count > limit as u64 {
        return Err(TraceError::Cap {
            what: format!("txs of source {addr} (it has {})", view.tx_count),
            limit: limit as u64,
            flag: "--max-history",
        });
    }
    let mut seeds = Vec::new();
    for seq in g.links.address_txs(view.id)? {
        let tx = g.tx(seq)?;
        let mut txid = None;
        for (vout, o) in tx.outputs.iter().enumerate() {
            if o.addr != Some(view.id) {
                continue;
            }
            let vout = u32::try_from(vout).unwrap_or(u32::MAX);
            let Some(spender) = g.spender(&tx, vout)? else {
                continue;
            };
            if g.time_of(spender)? < since {
                continue;
            }
            if txid.is_none() {
                let t = g.txid(seq)?;
                g.named.insert(t.clone(), seq);
                txid = Some(t);
            }
            seeds.push(UtxoSeed {
                txid: txid.clone().unwrap_or_default(),
                vout,
                amount: None,
                at_source: true,
            });
        }
    }
    Ok(seeds)
}
