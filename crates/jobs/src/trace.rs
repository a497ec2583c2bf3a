//! Multi-hop poison and haircut taint over UTXO and account chains, as iterated fixpoints: the
//! native engine's walks (`tracehound_trace::trace_utxo` and `trace_account`, links not
//! followed, no labels) with the same seeds, hop counting, stop rules and integer splits.
//! This module is the UTXO walk, as joins, and the job around both; [`account`] is the
//! account walk, whose per-address ledgers run in a window function ([`ledger`]). Dust
//! thresholds are per asset (`native` on every chain, or a token contract).
//!
//! **Seeds (UTXO).** A stolen output (all of it or the stated part) is hop 1; with no `vout`, every
//! output of the tx is stolen in full. A source address's outputs spent at or after `since`
//! are hop 0 (they leave in their spending tx, which is hop 1). An output seeded twice counts
//! once (the first).
//!
//! **The walk (UTXO).** A tainted output stops, in this order: as `dark` if it pays an MWEB peg-in
//! (`mweb:` address); as `dust` if its taint is below the dust threshold; as `unmoved` if it
//! is unspent; as `hop_limit` if its hop is past the limit. Otherwise it moves into its
//! spending tx, whose hop is one more than the smallest hop among its moving tainted inputs
//! and whose tainted total is theirs summed. The tx's outputs and its fee (a share after every
//! output) then get, under **poison**, their whole value if anything in is tainted; under
//! **haircut**, `⌊t·v/Σin⌋`, the units left over going one each to the largest remainders,
//! ties to the lower index (TRACING.md). A share landing on a seeded output is dropped and
//! taken off the stolen total (it was counted stolen when seeded); fee shares stop as `fee`.
//!
//! **As joins.** The native engine visits spending txs in chain order, so a tx sees every
//! tainted input at once. A frontier joined hop by hop would split a tx whose tainted inputs
//! come from different hops. Instead each iteration recomputes the tainted outputs from the
//! previous iteration's (seeds ∪ outputs of every tx spending a moving tainted output) and
//! stops when nothing changes: the txs form a DAG in chain order, and after `k` iterations
//! every output `k` txs deep has its final taint and hop, so the fixpoint is the native
//! walk's result and is reached after as many iterations as the longest tainted path.
//!
//! Results: `trace_hops` (every tainted output, fee share and transfer: chain, height,
//! tx_index, txid, vout (UTXO; null for the fee), sub_index (account transfers), asset
//! (`native` on UTXO chains), place, value, taint, hop), sorted by (chain, height, tx_index,
//! vout, sub_index), and `trace_endpoints` (chain, asset, place, stop, amount, hops), sorted
//! by (chain, asset, place, stop). A place is the address, `txid:vout` for an output paying
//! none, or `fee` (a UTXO tx's fee; on account chains a fee's place is its recipient, the
//! validator or `burn:fee`, and nothing is `dark`). Amounts are `Decimal128(38, 0)` base units.

use std::collections::HashSet;
use std::path::Path;

use datafusion::prelude::SessionContext;

mod account;
pub mod ledger;

use crate::JobError;
use crate::cluster::count;
use crate::dataset::Dataset;
use crate::work::{Columns, Output, Work, literal, present};

const JOB: &str = "trace";

/// Iterations after which the job gives up (a tainted path of this many txs).
const MAX_ITERATIONS: u32 = 100_000;

/// How taint passes through a tx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Every output of a tx with a tainted input is tainted in full (exposure).
    Poison,
    /// Each output gets its proportional share of the tainted total (conserved).
    Haircut,
}

impl std::str::FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Policy, String> {
        match s {
            "poison" => Ok(Policy::Poison),
            "haircut" => Ok(Policy::Haircut),
            other => Err(format!(
                "policy {other:?}: the trace job does poison or haircut"
            )),
        }
    }
}

/// A stolen output, or all outputs of a stolen tx (account chains: a stolen transfer, or all
/// of a tx's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StolenOutput {
    /// Chain name.
    pub chain: String,
    /// Tx id.
    pub txid: String,
    /// One output (`None`: all, each in full).
    pub vout: Option<u32>,
    /// Account chains: one transfer of the tx (`None`: every transfer of it but fees and NFTs,
    /// in the request's assets).
    pub sub_index: Option<u32>,
    /// The stolen part of that output or transfer (`None`: all of it).
    pub amount: Option<u128>,
}

/// A source address: what it sent from `since` on is stolen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceAddress {
    /// Chain name.
    pub chain: String,
    /// The address.
    pub address: String,
    /// Unix seconds (`None`: from the start).
    pub since: Option<u64>,
}

/// What to trace and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRequest {
    /// Stolen outputs.
    pub stolen: Vec<StolenOutput>,
    /// Source addresses.
    pub sources: Vec<SourceAddress>,
    /// The policy.
    pub policy: Policy,
    /// Hops followed after the theft (the theft is hop 1).
    pub max_hops: u32,
    /// Dust thresholds per asset (`native` — on every chain — or a token contract, matched
    /// without regard to case), base units: less taint than this is not followed. An asset
    /// not named has none.
    pub dust: std::collections::BTreeMap<String, u128>,
    /// Account chains: the stolen assets (`native`, token contracts; all if empty) of stolen
    /// txs named without a sub-index and of sources.
    pub assets: Vec<String>,
}

/// A tainted output, fee share or transfer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TaintedHop {
    /// Chain name.
    pub chain: String,
    /// Block height of the tx.
    pub height: u32,
    /// Index of the tx in its block.
    pub tx_index: u32,
    /// Tx id (empty for an account chain's block-level transfers).
    pub txid: String,
    /// UTXO chains: the output (`None`: the fee share).
    pub vout: Option<u32>,
    /// Account chains: the transfer's position in its tx.
    pub sub_index: Option<u32>,
    /// `native` or the token contract.
    pub asset: String,
    /// Address, `txid:vout`, or `fee`.
    pub place: String,
    /// Value of the output, fee or transfer, base units.
    #[serde(serialize_with = "crate::work::amount_text")]
    pub value: u128,
    /// Tainted part, base units.
    #[serde(serialize_with = "crate::work::amount_text")]
    pub taint: u128,
    /// Hop (the theft is 1; a UTXO source's outputs 0, an account source's outflows 1).
    pub hop: u32,
}

/// Taint resting at one place, for one reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TraceEndpoint {
    /// Chain name.
    pub chain: String,
    /// `native` or the token contract.
    pub asset: String,
    /// Address, `txid:vout`, or `fee`.
    pub place: String,
    /// `unmoved`, `hop_limit`, `dust`, `dark` or `fee`.
    pub stop: String,
    /// Tainted base units resting there (poison: exposure).
    #[serde(serialize_with = "crate::work::amount_text")]
    pub amount: u128,
    /// Fewest hops that reached it.
    pub hops: u32,
}

/// Totals of one asset of one chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TraceTotals {
    /// Chain name.
    pub chain: String,
    /// `native` or the token contract.
    pub asset: String,
    /// Stolen: the seeds, less taint that came back to a seeded output (account chains: a
    /// stolen transfer's part beyond the taint its sender already gave it).
    pub stolen: u128,
    /// Sum of the endpoints (haircut: equals `stolen`; poison: exposure).
    pub placed: u128,
    /// Unmoved and hop-limited.
    pub still_moving: u128,
    /// MWEB peg-ins.
    pub dark: u128,
    /// Below the dust threshold.
    pub dust: u128,
    /// Paid as fees.
    pub fees: u128,
}

/// A trace's result.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Traced {
    /// Every tainted output, fee share and transfer.
    pub hops: Vec<TaintedHop>,
    /// Where the taint rests.
    pub endpoints: Vec<TraceEndpoint>,
    /// Per chain and asset.
    pub totals: Vec<TraceTotals>,
}

/// A resolved seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seed {
    height: u64,
    tx_index: u64,
    vout: u64,
    taint: u64,
    hop: u32,
}

/// The dust threshold of a UTXO chain's coin (no UTXO amount reaches past 64 bits).
fn utxo_dust(request: &TraceRequest) -> u64 {
    let dust = request
        .dust
        .iter()
        .find(|(a, _)| a.eq_ignore_ascii_case("native"))
        .map_or(0, |(_, d)| *d);
    u64::try_from(dust).unwrap_or(u64::MAX)
}

fn input(what: String) -> JobError {
    JobError::Input { job: JOB, what }
}

fn is_utxo(dataset: &Dataset, chain: &str) -> bool {
    dataset.chains("outputs").iter().any(|c| c == chain)
}

/// Resolves the request's seeds per chain against the dataset.
async fn seeds(
    work: &Work<'_>,
    dataset: &Dataset,
    request: &TraceRequest,
) -> Result<Vec<(String, Vec<Seed>)>, JobError> {
    let mut out: Vec<(String, Vec<Seed>)> = Vec::new();
    let mut seen: HashSet<(String, u64, u64, u64)> = HashSet::new();
    let mut push = |chain: &str, s: Seed, out: &mut Vec<(String, Vec<Seed>)>| {
        if !seen.insert((chain.to_string(), s.height, s.tx_index, s.vout)) || s.taint == 0 {
            return;
        }
        match out.iter_mut().find(|(c, _)| c == chain) {
            Some((_, v)) => v.push(s),
            None => out.push((chain.to_string(), vec![s])),
        }
    };
    for s in &request.stolen {
        if !is_utxo(dataset, &s.chain) {
            if account::is_account(dataset, &s.chain) {
                continue;
            }
            return Err(input(format!(
                "stolen tx {} on {}: the dataset has no outputs or transfers of that chain",
                s.txid, s.chain
            )));
        }
        if s.sub_index.is_some() {
            return Err(input(format!(
                "stolen tx {} on {}: sub_index is for account chains; use vout",
                s.txid, s.chain
            )));
        }
        let batches = work
            .query(
                "seeds",
                &format!(
                    "SELECT vout, value, height, tx_index FROM outputs \
                     WHERE chain = {} AND txid = {} ORDER BY vout",
                    literal(&s.chain),
                    literal(&s.txid)
                ),
            )
            .await?;
        let mut outputs = Vec::new();
        for b in &batches {
            let c = Columns::new(JOB, b);
            let (vout, value, height, index) = (
                c.u64s("vout")?,
                c.u64s("value")?,
                c.u64s("height")?,
                c.u64s("tx_index")?,
            );
            for i in 0..b.num_rows() {
                outputs.push((
                    present(JOB, "vout", vout[i])?,
                    present(JOB, "value", value[i])?,
                    present(JOB, "height", height[i])?,
                    present(JOB, "tx_index", index[i])?,
                ));
            }
        }
        if outputs.is_empty() {
            return Err(input(format!(
                "stolen tx {} of {} is not in the dataset",
                s.txid, s.chain
            )));
        }
        let chosen: Vec<_> = match s.vout {
            None => outputs.clone(),
            Some(v) => {
                let found: Vec<_> = outputs
                    .iter()
                    .filter(|o| o.0 == u64::from(v))
                    .copied()
                    .collect();
                if found.is_empty() {
                    return Err(input(format!(
                        "{} tx {} has {} outputs, no output {v}",
                        s.chain,
                        s.txid,
                        outputs.len()
                    )));
                }
                found
            }
        };
        for (vout, value, height, tx_index) in chosen {
            let amount = match (s.vout, s.amount) {
                (Some(_), Some(a)) => a,
                _ => u128::from(value),
            };
            let Some(amount) = u64::try_from(amount).ok().filter(|a| *a <= value) else {
                return Err(input(format!(
                    "{} output {}:{vout} holds {value}, less than the {amount} said stolen",
                    s.chain, s.txid
                )));
            };
            push(
                &s.chain,
                Seed {
                    height,
                    tx_index,
                    vout,
                    taint: amount,
                    hop: 1,
                },
                &mut out,
            );
        }
    }
    for s in &request.sources {
        if !is_utxo(dataset, &s.chain) {
            if account::is_account(dataset, &s.chain) {
                continue;
            }
            return Err(input(format!(
                "source {} on {}: the dataset has no outputs or transfers of that chain",
                s.address, s.chain
            )));
        }
        dataset.require("blocks", JOB)?;
        let batches = work
            .query(
                "source seeds",
                &format!(
                    "SELECT o.height, o.tx_index, o.vout, o.value FROM outputs o \
                     JOIN blocks b ON b.chain = o.chain AND b.height = o.spent_height \
                     WHERE o.chain = {chain} AND o.address = {address} AND b.time >= {since} \
                     ORDER BY o.height, o.tx_index, o.vout",
                    chain = literal(&s.chain),
                    address = literal(&s.address),
                    since = s.since.unwrap_or(0)
                ),
            )
            .await?;
        for b in &batches {
            let c = Columns::new(JOB, b);
            let (height, index, vout, value) = (
                c.u64s("height")?,
                c.u64s("tx_index")?,
                c.u64s("vout")?,
                c.u64s("value")?,
            );
            for i in 0..b.num_rows() {
                push(
                    &s.chain,
                    Seed {
                        height: present(JOB, "height", height[i])?,
                        tx_index: present(JOB, "tx_index", index[i])?,
                        vout: present(JOB, "vout", vout[i])?,
                        taint: present(JOB, "value", value[i])?,
                        hop: 0,
                    },
                    &mut out,
                );
            }
        }
    }
    Ok(out)
}

/// The seeds as a query (literal rows: no memory table, so a cluster can run it too).
fn seeds_sql(seeds: &[(String, Vec<Seed>)]) -> String {
    let rows: Vec<String> = seeds
        .iter()
        .flat_map(|(chain, list)| {
            list.iter().map(move |s| {
                format!(
                    "({}, {}, {}, {}, {}, {})",
                    literal(chain),
                    s.height,
                    s.tx_index,
                    s.vout,
                    s.taint,
                    s.hop
                )
            })
        })
        .collect();
    format!(
        "SELECT CAST(chain AS VARCHAR) AS chain, CAST(height AS INT UNSIGNED) AS height, \
           CAST(tx_index AS INT UNSIGNED) AS tx_index, CAST(vout AS INT UNSIGNED) AS vout, \
           CAST(taint AS BIGINT UNSIGNED) AS taint, CAST(hop AS INT UNSIGNED) AS hop \
         FROM (VALUES {}) AS s(chain, height, tx_index, vout, taint, hop)",
        rows.join(", ")
    )
}

/// Every share of the txs spending a moving tainted output of `state`: one row per output
/// (`part` = vout) and one for the fee (`part` = output count), with its taint.
fn split_sql(state: &str, request: &TraceRequest) -> String {
    let share = match request.policy {
        Policy::Poison => "w".to_string(),
        // Largest remainder: floors, then one unit each to the largest remainders (ties to
        // the lower part) while units are left. Products of two amounts need 102 bits:
        // Decimal128(38, 0) holds them exactly; the division is of an exact multiple.
        Policy::Haircut => "CAST(q + CASE WHEN r > 0 AND pos <= t - sum_q THEN 1 ELSE 0 END \
                  AS BIGINT UNSIGNED)"
            .to_string(),
    };
    format!(
        "WITH moving AS ( \
           SELECT s.chain, o.spent_height AS height, o.spent_tx_index AS tx_index, s.taint, s.hop \
           FROM {state} s JOIN outputs o \
             ON o.chain = s.chain AND o.height = s.height AND o.tx_index = s.tx_index \
             AND o.vout = s.vout \
           WHERE (o.address IS NULL OR o.address NOT LIKE 'mweb:%') \
             AND s.taint >= {dust} AND o.spent_height IS NOT NULL AND s.hop <= {max_hops}), \
         spend AS ( \
           SELECT chain, height, tx_index, sum(taint) AS t, min(hop) + 1 AS hop \
           FROM moving GROUP BY chain, height, tx_index), \
         parts AS ( \
           SELECT p.chain, p.height, p.tx_index, o.vout AS part, o.value AS w, p.t, \
             x.input_value AS total, p.hop, x.output_count \
           FROM spend p \
           JOIN txs x ON x.chain = p.chain AND x.height = p.height AND x.tx_index = p.tx_index \
           JOIN outputs o ON o.chain = p.chain AND o.height = p.height AND o.tx_index = p.tx_index \
           UNION ALL \
           SELECT p.chain, p.height, p.tx_index, x.output_count AS part, x.fee AS w, p.t, \
             x.input_value AS total, p.hop, \
             x.output_count \
           FROM spend p \
           JOIN txs x ON x.chain = p.chain AND x.height = p.height AND x.tx_index = p.tx_index), \
         exact AS ( \
           SELECT *, CAST(t AS DECIMAL(38, 0)) * CAST(w AS DECIMAL(38, 0)) AS product, \
             CAST(total AS DECIMAL(38, 0)) AS total_d \
           FROM parts), \
         floors AS ( \
           SELECT *, \
             CASE WHEN total = 0 THEN CAST(0 AS DECIMAL(38, 0)) ELSE product % total_d END AS r \
           FROM exact), \
         quotients AS ( \
           SELECT *, \
             CAST(CASE WHEN total = 0 THEN CAST(0 AS DECIMAL(38, 0)) \
                  ELSE CAST((product - r) / total_d AS DECIMAL(38, 0)) END AS BIGINT UNSIGNED) AS q \
           FROM floors), \
         ranked AS ( \
           SELECT *, \
             sum(q) OVER (PARTITION BY chain, height, tx_index) AS sum_q, \
             row_number() OVER (PARTITION BY chain, height, tx_index ORDER BY r DESC, part) \
               AS pos \
           FROM quotients) \
         SELECT chain, CAST(height AS INT UNSIGNED) AS height, \
           CAST(tx_index AS INT UNSIGNED) AS tx_index, CAST(part AS INT UNSIGNED) AS part, \
           part = output_count AS is_fee, CAST(w AS BIGINT UNSIGNED) AS value, \
           {share} AS taint, CAST(hop AS INT UNSIGNED) AS hop \
         FROM ranked",
        dust = utxo_dust(request),
        max_hops = request.max_hops,
    )
}

/// The next state: the seeds, and every output share of `split` that is tainted and not a
/// seed (taint back at a seeded output was counted stolen when seeded).
fn next_state_sql(split: &str, seeds: &str) -> String {
    format!(
        "SELECT chain, height, tx_index, vout, taint, hop FROM {seeds} \
         UNION ALL \
         SELECT p.chain, p.height, p.tx_index, p.part AS vout, p.taint, p.hop \
         FROM ({split}) p LEFT JOIN {seeds} s \
           ON s.chain = p.chain AND s.height = p.height AND s.tx_index = p.tx_index \
           AND s.vout = p.part \
         WHERE NOT p.is_fee AND p.taint > 0 AND s.vout IS NULL"
    )
}

/// What the UTXO walk leaves for the job to report: tables of the work dir.
struct UtxoTrace {
    /// Every tainted output and fee share with its stop: chain, height, tx_index, txid, vout,
    /// place, value, taint, hop, stop.
    hops: String,
    /// Stolen per chain: chain, asset, seeded, returned.
    stolen: String,
    iterations: u32,
}

/// Runs the UTXO part of `request`; `None` when it names nothing on UTXO chains.
async fn run_utxo(
    work: &mut Work<'_>,
    dataset: &Dataset,
    request: &TraceRequest,
) -> Result<Option<UtxoTrace>, JobError> {
    let seeds = seeds(work, dataset, request).await?;
    if seeds.is_empty() {
        return Ok(None);
    }
    for t in ["outputs", "inputs", "txs"] {
        dataset.require(t, JOB)?;
    }
    let df = work.sql("seeds", &seeds_sql(&seeds)).await?;
    let (seeds_table, _) = work.materialize("seeds", df).await?;
    let df = work
        .sql("state 0", &format!("SELECT * FROM {seeds_table}"))
        .await?;
    let (mut state, _) = work.materialize("state_0", df).await?;
    let mut iterations = 0;
    loop {
        iterations += 1;
        crate::work::within_bound(JOB, iterations, MAX_ITERATIONS)?;
        let step = format!("state_{iterations}");
        let sql = next_state_sql(&split_sql(&state, request), &seeds_table);
        let df = work.sql(&step, &sql).await?;
        let (next, rows) = work.materialize(&step, df).await?;
        let changed = count(
            work,
            &format!(
                "SELECT count(*) AS n FROM {state} a FULL OUTER JOIN {next} b \
                   ON a.chain = b.chain AND a.height = b.height AND a.tx_index = b.tx_index \
                   AND a.vout = b.vout \
                 WHERE (a.taint IS DISTINCT FROM b.taint) OR (a.hop IS DISTINCT FROM b.hop)"
            ),
        )
        .await?;
        tracing::debug!(
            iteration = iterations,
            tainted = rows,
            changed,
            "trace fixpoint"
        );
        work.drop_state(&state).await?;
        state = next;
        if changed == 0 {
            break;
        }
    }
    // Every tainted output (the fixpoint) and every fee share of the txs it moves through.
    let split = split_sql(&state, request);
    let df = work
        .sql(
            "hops",
            &format!(
                "SELECT s.chain, s.height, s.tx_index, o.txid, s.vout, \
                   coalesce(o.address, o.txid || ':' || CAST(s.vout AS VARCHAR)) AS place, \
                   o.value, s.taint, s.hop, \
                   CASE WHEN o.address IS NOT NULL AND o.address LIKE 'mweb:%' THEN 'dark' \
                        WHEN s.taint < {dust} THEN 'dust' \
                        WHEN o.spent_height IS NULL THEN 'unmoved' \
                        WHEN s.hop > {max_hops} THEN 'hop_limit' END AS stop \
                 FROM {state} s JOIN outputs o \
                   ON o.chain = s.chain AND o.height = s.height AND o.tx_index = s.tx_index \
                   AND o.vout = s.vout \
                 UNION ALL \
                 SELECT p.chain, p.height, p.tx_index, x.txid, CAST(NULL AS INT UNSIGNED), \
                   'fee', p.value, p.taint, p.hop, 'fee' \
                 FROM ({split}) p \
                 JOIN txs x ON x.chain = p.chain AND x.height = p.height AND x.tx_index = p.tx_index \
                 WHERE p.is_fee AND p.taint > 0",
                dust = utxo_dust(request),
                max_hops = request.max_hops,
            ),
        )
        .await?;
    let (hops, _) = work.materialize("hops", df).await?;
    // Stolen: the seeds, less the shares that came back to seeded outputs.
    let df = work
        .sql(
            "stolen",
            &format!(
                "SELECT chain, 'native' AS asset, CAST(sum(taint) AS DECIMAL(76, 0)) AS seeded, \
                   CAST(0 AS DECIMAL(76, 0)) AS returned FROM {seeds_table} GROUP BY chain \
                 UNION ALL \
                 SELECT p.chain, 'native', CAST(0 AS DECIMAL(76, 0)), \
                   CAST(sum(p.taint) AS DECIMAL(76, 0)) \
                 FROM ({split}) p JOIN {seeds_table} s \
                   ON s.chain = p.chain AND s.height = p.height AND s.tx_index = p.tx_index \
                   AND s.vout = p.part \
                 WHERE NOT p.is_fee GROUP BY p.chain"
            ),
        )
        .await?;
    let (stolen, _) = work.materialize("stolen", df).await?;
    Ok(Some(UtxoTrace {
        hops,
        stolen,
        iterations,
    }))
}

fn u32_of(column: &str, v: Option<u64>) -> Result<u32, JobError> {
    u32::try_from(present(JOB, column, v)?).map_err(|_| JobError::Shape {
        job: JOB,
        column: column.to_string(),
        what: "beyond 32 bits".into(),
    })
}

/// Runs the job: writes `<out>/trace_hops/` and `<out>/trace_endpoints/`.
pub async fn run(
    ctx: &SessionContext,
    dataset: &Dataset,
    out: &Path,
    request: &TraceRequest,
) -> Result<Output<Traced>, JobError> {
    let mut work = Work::start(ctx, JOB, out).await?;
    // The account seeds first: a bad one is refused before any walk runs.
    let account_seeds = account::seeds(&work, dataset, request).await?;
    let utxo = run_utxo(&mut work, dataset, request).await?;
    let account = match account_seeds {
        Some(seeds) => Some(account::run(&mut work, request, seeds).await?),
        None => None,
    };
    let (mut hops_sql, mut ends_sql, mut stolen_sql) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(u) = &utxo {
        hops_sql.push(format!(
            "SELECT chain, height, tx_index, txid, vout, CAST(NULL AS INT UNSIGNED) AS sub_index, \
               'native' AS asset, place, CAST(value AS DECIMAL(38, 0)) AS value, \
               CAST(taint AS DECIMAL(38, 0)) AS taint, hop \
             FROM {}",
            u.hops
        ));
        ends_sql.push(format!(
            "SELECT chain, 'native' AS asset, place, stop, CAST(taint AS DECIMAL(76, 0)) AS amount, \
               hop AS hops FROM {} WHERE stop IS NOT NULL",
            u.hops
        ));
        stolen_sql.push(format!("SELECT * FROM {}", u.stolen));
    }
    // Tables without rows are left out of the unions (see `account::relevant_sql`).
    if let Some(a) = &account {
        if let Some(hops) = &a.hops {
            hops_sql.push(format!("SELECT * FROM {hops}"));
        }
        if let Some(ends) = &a.ends {
            ends_sql.push(format!(
                "SELECT chain, asset, place, stop, CAST(amount AS DECIMAL(76, 0)) AS amount, \
                   hops FROM {ends}"
            ));
        }
        if let Some(stolen) = &a.stolen {
            stolen_sql.push(format!("SELECT * FROM {stolen}"));
        }
    }
    // Each part lists every asset it names; those with nothing stolen (a poison trace's
    // exposure aside) have no totals row unless an endpoint holds them.
    if utxo.is_none() && account.is_none() {
        return Err(input(
            "the incident names nothing stolen that the dataset holds".into(),
        ));
    }
    if hops_sql.is_empty() || ends_sql.is_empty() || stolen_sql.is_empty() {
        return Err(input(
            "nothing the incident names carries value (no tainted output or transfer)".into(),
        ));
    }
    let df = work
        .sql("trace_hops", &hops_sql.join(" UNION ALL "))
        .await?;
    let batches = work
        .result(
            "trace_hops",
            df,
            &["chain", "height", "tx_index", "vout", "sub_index"],
        )
        .await?;
    let mut hops = Vec::new();
    for b in &batches {
        let c = Columns::new(JOB, b);
        let (chain, height, index, txid, vout, sub) = (
            c.strings("chain")?,
            c.u64s("height")?,
            c.u64s("tx_index")?,
            c.strings("txid")?,
            c.u64s("vout")?,
            c.u64s("sub_index")?,
        );
        let (asset, place, value, taint, hop) = (
            c.strings("asset")?,
            c.strings("place")?,
            c.amounts("value")?,
            c.amounts("taint")?,
            c.u64s("hop")?,
        );
        for i in 0..b.num_rows() {
            hops.push(TaintedHop {
                chain: present(JOB, "chain", chain[i].clone())?,
                height: u32_of("height", height[i])?,
                tx_index: u32_of("tx_index", index[i])?,
                txid: present(JOB, "txid", txid[i].clone())?,
                vout: vout[i].map(|v| u32_of("vout", Some(v))).transpose()?,
                sub_index: sub[i].map(|v| u32_of("sub_index", Some(v))).transpose()?,
                asset: present(JOB, "asset", asset[i].clone())?,
                place: present(JOB, "place", place[i].clone())?,
                value: present(JOB, "value", value[i])?,
                taint: present(JOB, "taint", taint[i])?,
                hop: u32_of("hop", hop[i])?,
            });
        }
    }
    let df = work
        .sql(
            "trace_endpoints",
            &format!(
                "SELECT chain, asset, place, stop, CAST(sum(amount) AS DECIMAL(38, 0)) AS amount, \
                   CAST(min(hops) AS INT UNSIGNED) AS hops \
                 FROM ({}) e GROUP BY chain, asset, place, stop",
                ends_sql.join(" UNION ALL ")
            ),
        )
        .await?;
    let batches = work
        .result("trace_endpoints", df, &["chain", "asset", "place", "stop"])
        .await?;
    let mut endpoints = Vec::new();
    for b in &batches {
        let c = Columns::new(JOB, b);
        let (chain, asset, place, stop, amount, n) = (
            c.strings("chain")?,
            c.strings("asset")?,
            c.strings("place")?,
            c.strings("stop")?,
            c.amounts("amount")?,
            c.u64s("hops")?,
        );
        for i in 0..b.num_rows() {
            endpoints.push(TraceEndpoint {
                chain: present(JOB, "chain", chain[i].clone())?,
                asset: present(JOB, "asset", asset[i].clone())?,
                place: present(JOB, "place", place[i].clone())?,
                stop: present(JOB, "stop", stop[i].clone())?,
                amount: present(JOB, "amount", amount[i])?,
                hops: u32::try_from(present(JOB, "hops", n[i])?).unwrap_or(u32::MAX),
            });
        }
    }
    let batches = work
        .query(
            "stolen",
            &format!(
                "SELECT chain, asset, CAST(sum(seeded) AS DECIMAL(38, 0)) AS seeded, \
                   CAST(sum(returned) AS DECIMAL(38, 0)) AS returned \
                 FROM ({}) s GROUP BY chain, asset HAVING sum(seeded) > 0 OR sum(returned) > 0",
                stolen_sql.join(" UNION ALL ")
            ),
        )
        .await?;
    let mut totals: Vec<TraceTotals> = Vec::new();
    for b in &batches {
        let c = Columns::new(JOB, b);
        let (chain, asset, seeded, returned) = (
            c.strings("chain")?,
            c.strings("asset")?,
            c.amounts("seeded")?,
            c.amounts("returned")?,
        );
        for i in 0..b.num_rows() {
            totals.push(TraceTotals {
                chain: present(JOB, "chain", chain[i].clone())?,
                asset: present(JOB, "asset", asset[i].clone())?,
                stolen: seeded[i]
                    .unwrap_or(0)
                    .saturating_sub(returned[i].unwrap_or(0)),
                ..TraceTotals::default()
            });
        }
    }
    for e in &endpoints {
        let i = match totals
            .iter()
            .position(|t| t.chain == e.chain && t.asset == e.asset)
        {
            Some(i) => i,
            None => {
                totals.push(TraceTotals {
                    chain: e.chain.clone(),
                    asset: e.asset.clone(),
                    ..TraceTotals::default()
                });
                totals.len() - 1
            }
        };
        let t = &mut totals[i];
        let a = e.amount;
        t.placed += a;
        match e.stop.as_str() {
            "fee" => t.fees += a,
            "dark" => t.dark += a,
            "dust" => t.dust += a,
            _ => t.still_moving += a,
        }
    }
    totals.sort_by(|a, b| (&a.chain, &a.asset).cmp(&(&b.chain, &b.asset)));
    let iterations =
        utxo.as_ref().map_or(0, |u| u.iterations) + account.as_ref().map_or(0, |a| a.iterations);
    work.finish(
        Traced {
            hops,
            endpoints,
            totals,
        },
        iterations,
    )
    .await
}
