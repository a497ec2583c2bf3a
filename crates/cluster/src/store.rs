//! Clustering over tracehound's store: [`cluster_chain`] builds a chain's [`Clustering`]
//! (a scan of every UTXO tx, or the deposit heuristic on an account chain), and [`describe`]
//! shows an entity with its members, their labels and the evidence joining an address to it.

use std::time::Instant;

use tracehound_core::{Address, Chain, ChainFamily};
use tracehound_labels::{LabelStore, Tag};
use tracehound_store::Store;

use crate::deposit::{DepositReport, DepositRules, find_deposits};
use crate::{ClusterError, Clusterer, Clustering, EvidenceKind, Options, TxIn, TxOut, TxShape};

/// Clusters `chain` of `store` from scratch. UTXO chains: co-spend (and change, if asked) over
/// every tx. Account chains: the deposit heuristic, which needs exchange labels (`labels`;
/// without them nothing is joined). Returns the clustering and, on account chains, what the
/// deposit pass found.
pub fn cluster_chain(
    store: &Store,
    chain: Chain,
    options: Options,
    labels: Option<&LabelStore>,
    deposit: &DepositRules,
) -> Result<(Clustering, Option<DepositReport>), ClusterError> {
    let started = Instant::now();
    let (mut clustering, report) = match chain.family() {
        ChainFamily::Utxo => (cluster_utxo(store, chain, options)?, None),
        ChainFamily::Account => {
            let n = u32::try_from(store.account_addresses(chain)?.len())
                .map_err(|_| ClusterError::Input(format!("{chain} has over 2^32 addresses")))?;
            let mut c = Clusterer::new(n, options);
            let report = match labels {
                Some(l) => find_deposits(store, l, chain, deposit, &mut c)?,
                None => DepositReport::default(),
            };
            let scanned = store.tip(chain)?.map_or(0, |t| u64::from(t.height) + 1);
            let mut r = c.finish(chain, scanned);
            r.figures.txs = report.transfers;
            (r, Some(report))
        }
    };
    clustering.figures.seconds = started.elapsed().as_secs_f64();
    Ok((clustering, report))
}

fn cluster_utxo(store: &Store, chain: Chain, options: Options) -> Result<Clustering, ClusterError> {
    let links = store.utxo_links(chain)?;
    let too_many = || ClusterError::Input(format!("{chain} has over 2^32 addresses"));
    let n = u32::try_from(links.address_count()?).map_err(|_| too_many())?;
    let to = links.tx_count()?;
    let mut c = Clusterer::new(n, options);
    let (mut ins, mut outs) = (Vec::new(), Vec::new());
    let mut overflow = false;
    let mut id = |a: Option<u64>| {
        a.and_then(|a| {
            let x = u32::try_from(a).ok();
            overflow |= x.is_none();
            x
        })
    };
    links.scan(0, to, |seq, rec| {
        ins.clear();
        outs.clear();
        let coinbase = rec.flags & tracehound_store::bulk::txlog::FLAG_COINBASE != 0;
        if !coinbase {
            ins.extend(rec.inputs.iter().map(|i| TxIn {
                addr: id(i.addr),
                kind: i.kind(),
            }));
        }
        outs.extend(rec.outputs.iter().map(|o| TxOut {
            addr: id(o.addr),
            value: o.value,
            kind: o.kind,
        }));
        c.add_tx(&TxShape {
            tx: seq,
            coinbase,
            inputs: &ins,
            outputs: &outs,
        });
        Ok(())
    })?;
    if overflow {
        return Err(too_many());
    }
    Ok(c.finish(chain, to))
}

/// A member address.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MemberView {
    /// Address id.
    pub id: u32,
    /// Its text.
    pub address: String,
}

/// A member's strongest label.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LabelView {
    /// The member.
    pub address: String,
    /// The label.
    pub label: String,
    /// Its category.
    pub category: String,
    /// Who says so.
    pub source: String,
    /// 0..=100.
    pub confidence: u8,
}

/// One merge on the path from an address to its entity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EvidenceView {
    /// `co-spend`, `change`, `deposit`.
    pub kind: &'static str,
    /// 0..=100.
    pub confidence: u8,
    /// The tx that joined them.
    pub txid: String,
    /// Its block.
    pub height: u32,
    /// The address closer to the asked one.
    pub from: String,
    /// The address closer to the entity's id address.
    pub to: String,
}

/// An entity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EntityView {
    /// The chain.
    pub chain: String,
    /// Entity id (its smallest address id).
    pub entity: u32,
    /// The address at its id.
    pub entity_address: String,
    /// Members.
    pub size: u64,
    /// The address asked about, if one was.
    pub address: Option<String>,
    /// The first members, in id order.
    pub members: Vec<MemberView>,
    /// Members' strongest labels, strongest first.
    pub labels: Vec<LabelView>,
    /// The evidence joining the asked address to the entity's id address, in order.
    pub evidence: Vec<EvidenceView>,
}

/// Texts of account chain ids, loaded once (the store maps ids to payees only in bulk).
/// The text of a chain's address ids, as clusterings number them.
pub enum Names<'s> {
    /// A UTXO chain: looked up per id.
    Utxo(tracehound_store::UtxoLinks<'s>),
    /// An account chain: every address, in id order.
    Account(Vec<Address>),
}

impl<'s> Names<'s> {
    /// The names of `chain`'s ids in `store`.
    pub fn open(store: &'s Store, chain: Chain) -> Result<Names<'s>, ClusterError> {
        Ok(match chain.family() {
            ChainFamily::Utxo => Names::Utxo(store.utxo_links(chain)?),
            ChainFamily::Account => Names::Account(store.account_addresses(chain)?),
        })
    }

    /// The text of address `id`.
    pub fn text(&self, id: u32) -> Result<String, ClusterError> {
        match self {
            Names::Utxo(l) => Ok(l.address(u64::from(id))?),
            Names::Account(v) => v
                .get(id as usize)
                .map(|a| a.as_str().to_string())
                .ok_or_else(|| ClusterError::Input(format!("no address with id {id}"))),
        }
    }
}

/// The id of `address` in `store`, if it has been seen.
pub fn address_id(store: &Store, address: &Address) -> Result<Option<u32>, ClusterError> {
    let id = match address.chain().family() {
        ChainFamily::Utxo => store.address(address)?.map(|v| v.id),
        ChainFamily::Account => store.account(address)?.map(|v| v.id),
    };
    Ok(id.and_then(|i| u32::try_from(i).ok()))
}

/// Entity `entity` of `clustering` (or, with `address`, that address's entity and the
/// evidence path from it): the first `limit` members, every member's strongest label from
/// `labels` (strongest first), and the evidence with txids.
pub fn describe(
    store: &Store,
    labels: Option<&LabelStore>,
    clustering: &Clustering,
    entity: Option<u32>,
    address: Option<u32>,
    limit: usize,
) -> Result<EntityView, ClusterError> {
    let chain = clustering.chain;
    let e = match (address, entity) {
        (Some(a), _) => clustering.entity_of(a).ok_or_else(|| {
            ClusterError::Input(format!(
                "address id {a} is past the clustering of {chain} (re-run `tracehound cluster`)"
            ))
        })?,
        (None, Some(e)) if clustering.entity_of(e) == Some(e) => e,
        (None, Some(e)) => {
            return Err(ClusterError::Input(format!(
                "{chain} has no entity {e} (entity ids are their smallest address id; {})",
                clustering.entity_of(e).map_or_else(
                    || "that id is past the clustering".to_string(),
                    |x| format!("address {e} belongs to entity {x}")
                )
            )));
        }
        (None, None) => {
            return Err(ClusterError::Input(
                "give an entity id or an address".into(),
            ));
        }
    };
    let names = Names::open(store, chain)?;
    let ids = clustering.members(e);
    let mut members = Vec::new();
    for &id in ids.iter().take(limit) {
        members.push(MemberView {
            id,
            address: names.text(id)?,
        });
    }
    let mut tags: Vec<Tag> = Vec::new();
    if let Some(l) = labels {
        for &id in &ids {
            if let Some(t) = l.strongest(chain, &names.text(id)?)? {
                tags.push(t);
            }
        }
    }
    tags.sort_by(|a, b| {
        b.strength()
            .cmp(&a.strength())
            .then(a.address.cmp(&b.address))
    });
    let labels = tags
        .into_iter()
        .take(limit)
        .map(|t| LabelView {
            address: t.address,
            label: t.label,
            category: t.category.to_string(),
            source: t.source,
            confidence: t.confidence,
        })
        .collect();
    let mut evidence = Vec::new();
    if let Some(a) = address {
        let path = clustering.evidence_path(a).unwrap_or_default();
        let mut at = a;
        for ev in path {
            let next = if ev.a == at { ev.b } else { ev.a };
            let (txid, height) = evidence_tx(store, &names, chain, &ev)?;
            evidence.push(EvidenceView {
                kind: ev.kind.name(),
                confidence: ev.confidence,
                txid,
                height,
                from: names.text(at)?,
                to: names.text(next)?,
            });
            at = next;
        }
    }
    Ok(EntityView {
        chain: chain.name(),
        entity: e,
        entity_address: names.text(e)?,
        size: ids.len() as u64,
        address: address.map(|a| names.text(a)).transpose()?,
        members,
        labels,
        evidence,
    })
}

/// The txid and height of an evidence edge's tx (`names` opened on the clustering's chain;
/// an account chain's txid is empty when the forward is not in the deposit's history).
pub fn evidence_tx(
    store: &Store,
    names: &Names<'_>,
    chain: Chain,
    ev: &crate::Evidence,
) -> Result<(String, u32), ClusterError> {
    match names {
        Names::Utxo(l) => Ok((l.txid(ev.tx)?.to_string(), l.height_of(ev.tx)?)),
        Names::Account(_) => {
            let (height, index) = ((ev.tx >> 32) as u32, ev.tx as u32);
            // The deposit address (`a`) has a short history; its forward is in it.
            let rows = if ev.kind == EvidenceKind::Deposit {
                store.account_flows(chain, u64::from(ev.a), 0, usize::MAX)?
            } else {
                Vec::new()
            };
            let txid = rows
                .iter()
                .find(|r| (r.height, r.tx_index) == (height, index))
                .map(|r| format!("0x{}", r.txid))
                .unwrap_or_default();
            Ok((txid, height))
        }
    }
}
