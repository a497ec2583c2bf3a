//! Poison and haircut over account chains, as an iterated fixpoint: the native walk
//! (`tracehound_trace::trace_account`, links not followed, no labels) with the same seeds,
//! ledgers, hops, stop rules and integer splits.
//!
//! **The walk.** Each address that takes in taint (and each source address, from its start)
//! keeps a ledger per asset, seeded with the clean balance its history gives up to then; its
//! transfers (NFTs aside) apply in (height, tx, fees last, sub-index) order, each outflow
//! carrying its tainted part ([`super::ledger`]). While an address is not tainted yet, a
//! tainted receipt is taken in only if no stop rule holds: a fee stops as `fee` (at the fee's
//! recipient: the validator, or `burn:fee`), less taint than the asset's dust threshold as
//! `dust`, a receipt past the hop limit as `hop_limit`; a stopped receipt is clean in the
//! address's ledger. A stolen transfer brings its stolen part on top of what its sender's
//! ledger gives it, up to its amount (a transfer named stolen twice: the parts added, up to
//! its amount). What a tainted address still holds at the end rests there (`unmoved`). A
//! source's outflows are hop 1; a source that took in taint before its start is not a source
//! (as in the native walk, where the tainted address replaces it).
//!
//! **As a fixpoint.** An address's ledger is sequential (a haircut rounds at every outflow),
//! so each address's history runs through one call of the window function, partitioned by
//! address. What it receives tainted depends on other addresses' ledgers, so the job iterates
//! on a *state*: the taint and hop of every tainted transfer. Each iteration runs the ledgers
//! of the addresses the state can taint and takes the next state from their outflows (and the
//! stolen parts). A transfer's taint depends only on transfers before it in chain order, so
//! the dependencies form a DAG: after `k` iterations every transfer whose chain of
//! dependencies is `k` ledgers long has its final taint, and a state that no longer changes
//! is the native walk's (the fixpoint is unique). Iterations grow with the longest such chain,
//! not with the hop limit (two tainted wallets paying each other back and forth add one each).
//!
//! Only the addresses the state can taint are run (a receipt that is no fee, with at least
//! the dust threshold and within the hop limit; and sources), each over its whole history;
//! a receipt at any other address stops there, read from the state alone.

use crate::JobError;
use crate::cluster::count;
use crate::dataset::Dataset;
use crate::work::{Columns, Work, literal, present};

use super::{JOB, MAX_ITERATIONS, Policy, TraceRequest, input, ledger};

/// A stolen transfer, resolved (each once, the parts said stolen of it added).
struct StolenTransfer {
    chain: String,
    height: u64,
    tx_index: u64,
    sub_index: u64,
    stolen: u128,
}

/// A source address with the first height it is a source at.
struct Source {
    chain: String,
    address: String,
    start: u64,
}

/// What the account part of a trace leaves for the job to report: tables of the work dir.
/// A table is `None` when it has no rows.
pub(super) struct AccountTrace {
    /// Tainted transfers: chain, height, tx_index, txid, vout (null), sub_index, asset,
    /// place, value, taint, hop.
    pub(super) hops: Option<String>,
    /// Endpoints before grouping: chain, asset, place, stop, amount, hops.
    pub(super) ends: Option<String>,
    /// Stolen per chain and asset: chain, asset, seeded, returned (0).
    pub(super) stolen: Option<String>,
    /// Iterations run.
    pub(super) iterations: u32,
}

/// Whether the dataset holds transfers of `chain`.
pub(super) fn is_account(dataset: &Dataset, chain: &str) -> bool {
    dataset.chains("transfers").iter().any(|c| c == chain)
}

/// A tx hash as the dataset writes it: `0x` and lower-case hex.
fn tx_text(tx: &str) -> String {
    let t = tx.trim().to_ascii_lowercase();
    if t.starts_with("0x") {
        t
    } else {
        format!("0x{t}")
    }
}

/// `asset` is one of the request's stolen assets (all if it names none), as SQL.
fn stolen_asset_sql(request: &TraceRequest, column: &str) -> String {
    if request.assets.is_empty() {
        return "true".into();
    }
    let list: Vec<String> = request
        .assets
        .iter()
        .map(|a| literal(&a.to_ascii_lowercase()))
        .collect();
    format!("lower({column}) IN ({})", list.join(", "))
}

async fn stolen_transfers(
    work: &Work<'_>,
    dataset: &Dataset,
    request: &TraceRequest,
) -> Result<Vec<StolenTransfer>, JobError> {
    // (chain, height, tx, sub) → (stolen, amount).
    let mut parts: std::collections::BTreeMap<(String, u64, u64, u64), (u128, u128)> =
        std::collections::BTreeMap::new();
    for s in request
        .stolen
        .iter()
        .filter(|s| is_account(dataset, &s.chain))
    {
        if s.vout.is_some() {
            return Err(input(format!(
                "stolen tx {} on {}: vout is for UTXO chains; use sub_index",
                s.txid, s.chain
            )));
        }
        let batches = work
            .query(
                "account seeds",
                &format!(
                    "SELECT height, tx_index, sub_index, asset, amount FROM transfers \
                     WHERE chain = {} AND tx = {} AND kind <> 'fee' AND kind <> 'nft' \
                     ORDER BY sub_index",
                    literal(&s.chain),
                    literal(&tx_text(&s.txid))
                ),
            )
            .await?;
        let mut found = Vec::new();
        for b in &batches {
            let c = Columns::new(JOB, b);
            let (height, index, sub, asset, amount) = (
                c.u64s("height")?,
                c.u64s("tx_index")?,
                c.u64s("sub_index")?,
                c.strings("asset")?,
                c.amounts("amount")?,
            );
            for i in 0..b.num_rows() {
                found.push((
                    present(JOB, "height", height[i])?,
                    present(JOB, "tx_index", index[i])?,
                    present(JOB, "sub_index", sub[i])?,
                    present(JOB, "asset", asset[i].clone())?,
                    present(JOB, "amount", amount[i])?,
                ));
            }
        }
        if found.is_empty() {
            return Err(input(format!(
                "stolen tx {} of {} is not in the dataset (or moves no value)",
                s.txid, s.chain
            )));
        }
        let stolen_asset = |a: &str| {
            request.assets.is_empty() || request.assets.iter().any(|x| x.eq_ignore_ascii_case(a))
        };
        let picked: Vec<_> = found
            .into_iter()
            .filter(|t| s.sub_index.is_none_or(|i| t.2 == u64::from(i)))
            .filter(|t| s.sub_index.is_some() || stolen_asset(&t.3))
            .collect();
        if picked.is_empty() {
            return Err(input(format!(
                "stolen tx {} on {} has no transfer{}{}",
                s.txid,
                s.chain,
                s.sub_index
                    .map(|i| format!(" at sub_index {i}"))
                    .unwrap_or_default(),
                if request.assets.is_empty() {
                    String::new()
                } else {
                    format!(" in assets {:?}", request.assets)
                }
            )));
        }
        if picked.len() > 1 && s.amount.is_some() {
            return Err(input(format!(
                "stolen tx {} on {}: an amount needs one transfer (give sub_index)",
                s.txid, s.chain
            )));
        }
        for (height, tx_index, sub_index, _, amount) in picked {
            let stolen = s.amount.unwrap_or(amount);
            if stolen > amount {
                return Err(input(format!(
                    "stolen tx {} on {} sub_index {sub_index}: amount {stolen} exceeds the transfer's {amount}",
                    s.txid, s.chain
                )));
            }
            let key = (s.chain.clone(), height, tx_index, sub_index);
            let part = parts.entry(key).or_insert((0, amount));
            part.0 = part.0.saturating_add(stolen).min(amount);
        }
    }
    let out = parts
        .into_iter()
        .filter(|(_, (stolen, _))| *stolen > 0)
        .map(
            |((chain, height, tx_index, sub_index), (stolen, _))| StolenTransfer {
                chain,
                height,
                tx_index,
                sub_index,
                stolen,
            },
        )
        .collect();
    Ok(out)
}

async fn sources(
    work: &Work<'_>,
    dataset: &Dataset,
    request: &TraceRequest,
) -> Result<Vec<Source>, JobError> {
    let mut out: Vec<Source> = Vec::new();
    for s in request
        .sources
        .iter()
        .filter(|s| is_account(dataset, &s.chain))
    {
        let chain: tracehound_core::Chain = s
            .chain
            .parse()
            .map_err(|e| input(format!("source {} on {}: {e}", s.address, s.chain)))?;
        let address = tracehound_core::Address::parse(chain, &s.address)
            .map_err(|e| input(format!("source {} on {}: {e}", s.address, s.chain)))?
            .as_str()
            .to_string();
        let since = s.since.unwrap_or(0);
        // Block times of an account chain only grow, so "from time `since` on" is "from the
        // first block at or after it on".
        let batches = work
            .query(
                "source start",
                &format!(
                    "SELECT min(height) AS start FROM blocks WHERE chain = {} AND time >= {since}",
                    literal(&s.chain),
                ),
            )
            .await?;
        let mut start = None;
        for b in &batches {
            start = start.or(Columns::new(JOB, b)
                .u64s("start")?
                .first()
                .copied()
                .flatten());
        }
        let sends =
            match start {
                Some(start) => count(
                    work,
                    &format!(
                        "SELECT count(*) AS n FROM transfers WHERE chain = {} AND \"from\" = {} \
                         AND height >= {start} AND kind <> 'nft' AND {}",
                        literal(&s.chain),
                        literal(&address),
                        stolen_asset_sql(request, "asset"),
                    ),
                )
                .await?,
                None => 0,
            };
        let Some(start) = start.filter(|_| sends > 0) else {
            return Err(input(format!(
                "source {} on {} sends nothing{} from time {since} on",
                s.address,
                s.chain,
                if request.assets.is_empty() {
                    String::new()
                } else {
                    format!(" in {}", request.assets.join(", "))
                }
            )));
        };
        // Named twice: the last naming counts, as in the native walk.
        out.retain(|o| !(o.chain == s.chain && o.address == address));
        out.push(Source {
            chain: s.chain.clone(),
            address,
            start,
        });
    }
    Ok(out)
}

/// The account chains' transfers in the order they apply (NFTs move no fungible value).
fn events_sql(chains: &[String]) -> String {
    let list: Vec<String> = chains.iter().map(|c| literal(c)).collect();
    format!(
        "SELECT chain, height, tx_index, \
           CAST(CASE WHEN kind = 'fee' THEN 1 ELSE 0 END AS TINYINT UNSIGNED) AS fee, \
           sub_index, asset, \"from\" AS sender, \"to\" AS receiver, amount, tx \
         FROM transfers WHERE kind <> 'nft' AND chain IN ({})",
        list.join(", ")
    )
}

/// The key of a transfer, joined between `a` and `b`.
fn same_transfer(a: &str, b: &str) -> String {
    format!(
        "{a}.chain = {b}.chain AND {a}.height = {b}.height AND {a}.tx_index = {b}.tx_index \
         AND {a}.fee = {b}.fee AND {a}.sub_index = {b}.sub_index"
    )
}

/// `LEFT JOIN table alias ON on`, or nothing for a table without rows (see [`relevant_sql`]).
fn left_join(table: Option<&str>, alias: &str, on: &str) -> String {
    table.map_or(String::new(), |t| format!("LEFT JOIN {t} {alias} ON {on}"))
}

/// The dust threshold of the asset in `column`, as SQL.
fn dust_sql(request: &TraceRequest, column: &str) -> String {
    let arms: Vec<String> = request
        .dust
        .iter()
        .filter(|(_, d)| **d > 0)
        .map(|(asset, d)| {
            format!(
                "WHEN lower({column}) = {} THEN CAST('{d}' AS DECIMAL(38, 0))",
                literal(&asset.to_ascii_lowercase())
            )
        })
        .collect();
    if arms.is_empty() {
        return "CAST(0 AS DECIMAL(38, 0))".into();
    }
    format!("CASE {} ELSE CAST(0 AS DECIMAL(38, 0)) END", arms.join(" "))
}

/// The addresses `state` can taint: receivers of a tainted transfer that is no fee, has at
/// least the dust threshold and is within the hop limit (any other receipt stops at an
/// address not tainted yet); and the sources. Tables without rows are `None` and left out:
/// Ballista 55 never finishes a union with an empty input (its executors plan it otherwise
/// than its scheduler), so no query here reads an empty table.
fn relevant_sql(
    state: Option<&str>,
    sources: Option<&str>,
    request: &TraceRequest,
) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(state) = state {
        parts.push(format!(
            "SELECT DISTINCT chain, receiver AS address FROM {state} \
               WHERE fee = 0 AND hop <= {max_hops} AND taint >= {dust}",
            max_hops = request.max_hops,
            dust = dust_sql(request, "asset"),
        ));
    }
    if let Some(sources) = sources {
        parts.push(format!("SELECT chain, address FROM {sources}"));
    }
    (!parts.is_empty()).then(|| parts.join(" UNION "))
}

/// Every row of the tainted addresses' histories with the ledger's result, from the taint
/// each transfer carried in `state`: only rows that say something (an outflow tainted, a
/// receipt stopped, taint resting, value newly stolen).
fn ledger_sql(
    events: &str,
    relevant: &str,
    (state, seeds, sources): (Option<&str>, Option<&str>, Option<&str>),
    request: &TraceRequest,
) -> String {
    let policy = match request.policy {
        Policy::Poison => 0,
        Policy::Haircut => 1,
    };
    let row = |address: &str, role: u8, taint: &str, depth: &str, stolen: &str| {
        format!(
            "SELECT e.chain, e.{address} AS address, e.height, e.tx_index, e.fee, e.sub_index, \
               e.asset, e.sender, e.receiver, e.amount, e.tx, \
               CAST({role} AS TINYINT UNSIGNED) AS role, \
               CAST({taint} AS DECIMAL(38, 0)) AS taint_in, CAST({depth} AS INT UNSIGNED) AS depth_in, \
               CAST({stolen} AS DECIMAL(38, 0)) AS stolen"
        )
    };
    format!(
        "WITH ev AS ({events}), \
         relevant AS ({relevant}), \
         rows AS ( \
           {send} FROM ev e JOIN relevant r ON r.chain = e.chain AND r.address = e.sender \
             WHERE e.sender <> e.receiver \
           UNION ALL \
           {receive} FROM ev e JOIN relevant r ON r.chain = e.chain AND r.address = e.receiver \
             {join_state} WHERE e.sender <> e.receiver \
           UNION ALL \
           {itself} FROM ev e JOIN relevant r ON r.chain = e.chain AND r.address = e.sender \
             {join_seeds} WHERE e.sender = e.receiver), \
         applied AS ( \
           SELECT w.*, {name}( \
               CAST({policy} AS TINYINT UNSIGNED), {dust}, \
               CAST({max_hops} AS INT UNSIGNED), w.role, w.asset, w.amount, w.fee = 1, \
               w.taint_in, w.depth_in, w.stolen, \
               {source_on}, {source_asset}) \
             OVER (PARTITION BY w.chain, w.address \
                   ORDER BY w.height, w.tx_index, w.fee, w.sub_index) AS l \
           FROM rows w {join_sources}), \
         fields AS ( \
           SELECT chain, address, height, tx_index, fee, sub_index, asset, sender, receiver, \
             amount, tx, role, \
             get_field(l, 'own') AS own, get_field(l, 'hop') AS hop, \
             get_field(l, 'new_stolen') AS new_stolen, get_field(l, 'taint') AS taint, \
             get_field(l, 'depth') AS depth, get_field(l, 'stop') AS stop, \
             get_field(l, 'rest') AS rest, get_field(l, 'rest_hops') AS rest_hops \
           FROM applied) \
         SELECT * FROM fields \
         WHERE own IS NOT NULL OR stop IS NOT NULL OR rest IS NOT NULL OR new_stolen IS NOT NULL",
        send = row("sender", ledger::SEND, "NULL", "NULL", "NULL"),
        receive = match state {
            Some(_) => row("receiver", ledger::RECEIVE, "s.taint", "s.hop", "NULL"),
            None => row("receiver", ledger::RECEIVE, "NULL", "NULL", "NULL"),
        },
        join_state = left_join(state, "s", &same_transfer("s", "e")),
        itself = row(
            "sender",
            ledger::SELF,
            "NULL",
            "NULL",
            if seeds.is_some() { "k.stolen" } else { "NULL" },
        ),
        join_seeds = left_join(seeds, "k", &same_transfer("k", "e")),
        source_on = if sources.is_some() {
            "coalesce(w.height >= src.start, false)"
        } else {
            "false"
        },
        join_sources = left_join(
            sources,
            "src",
            "src.chain = w.chain AND src.address = w.address"
        ),
        name = ledger::NAME,
        dust = dust_sql(request, "w.asset"),
        max_hops = request.max_hops,
        source_asset = stolen_asset_sql(request, "w.asset"),
    )
}

/// The taint each transfer carries after `applied`: its sender's tainted outflow, plus a
/// stolen transfer's stolen part (up to its amount); hop 1 for a stolen part. `None` when
/// both are empty.
fn state_sql(applied: Option<&str>, seeds: Option<&str>) -> Option<String> {
    let columns = "chain, height, tx_index, fee, sub_index, asset, sender, receiver, amount, tx";
    let outs = |applied: &str| {
        format!(
            "SELECT {columns}, own, hop FROM {applied} \
             WHERE role <> {receive} AND own IS NOT NULL",
            receive = ledger::RECEIVE
        )
    };
    let both = match (applied, seeds) {
        (None, None) => return None,
        (Some(a), None) => format!(
            "SELECT {columns}, own, hop, CAST(0 AS DECIMAL(38, 0)) AS stolen FROM ({})",
            outs(a)
        ),
        (None, Some(k)) => format!(
            "SELECT {columns}, CAST(0 AS DECIMAL(38, 0)) AS own, \
               CAST(NULL AS INT UNSIGNED) AS hop, stolen FROM {k}"
        ),
        (Some(a), Some(k)) => format!(
            "SELECT coalesce(o.chain, k.chain) AS chain, coalesce(o.height, k.height) AS height, \
               coalesce(o.tx_index, k.tx_index) AS tx_index, coalesce(o.fee, k.fee) AS fee, \
               coalesce(o.sub_index, k.sub_index) AS sub_index, coalesce(o.asset, k.asset) AS asset, \
               coalesce(o.sender, k.sender) AS sender, coalesce(o.receiver, k.receiver) AS receiver, \
               coalesce(o.amount, k.amount) AS amount, coalesce(o.tx, k.tx) AS tx, \
               coalesce(o.own, CAST(0 AS DECIMAL(38, 0))) AS own, o.hop, \
               coalesce(k.stolen, CAST(0 AS DECIMAL(38, 0))) AS stolen \
             FROM ({}) o FULL OUTER JOIN {k} k ON {same}",
            outs(a),
            same = same_transfer("o", "k"),
        ),
    };
    Some(format!(
        "SELECT {columns}, \
           CAST(own + least(stolen, amount - own) AS DECIMAL(38, 0)) AS taint, \
           CAST(CASE WHEN stolen > 0 THEN 1 ELSE hop END AS INT UNSIGNED) AS hop \
         FROM ({both}) b WHERE own + least(stolen, amount - own) > 0"
    ))
}

/// The state `sql` gives, materialized as `step`: (table, rows), or no table and no rows
/// when there is no state to make.
async fn materialize_state(
    work: &mut Work<'_>,
    step: &str,
    sql: Option<String>,
) -> Result<(String, u64), JobError> {
    let Some(sql) = sql else {
        return Ok((String::new(), 0));
    };
    let df = work.sql(step, &sql).await?;
    work.materialize(step, df).await
}

/// A materialized table, `None` when it has no rows (see [`relevant_sql`]).
fn nonempty((table, rows): (String, u64)) -> Option<String> {
    (rows > 0).then_some(table)
}

/// The account part of a request, resolved against the dataset.
pub(super) struct AccountSeeds {
    stolen: Vec<StolenTransfer>,
    sources: Vec<Source>,
}

/// Resolves the account part of `request`; `None` when it names nothing on account chains.
pub(super) async fn seeds(
    work: &Work<'_>,
    dataset: &Dataset,
    request: &TraceRequest,
) -> Result<Option<AccountSeeds>, JobError> {
    let any_stolen = request.stolen.iter().any(|s| is_account(dataset, &s.chain));
    let any_source = request
        .sources
        .iter()
        .any(|s| is_account(dataset, &s.chain));
    if !any_stolen && !any_source {
        return Ok(None);
    }
    dataset.require("transfers", JOB)?;
    if any_source {
        dataset.require("blocks", JOB)?;
    }
    if work
        .sql("transfers' tx", "SELECT tx FROM transfers LIMIT 0")
        .await
        .is_err()
    {
        return Err(input(
            "the dataset's transfers have no tx column (an export older than it): export the data dir again"
                .into(),
        ));
    }
    Ok(Some(AccountSeeds {
        stolen: stolen_transfers(work, dataset, request).await?,
        sources: sources(work, dataset, request).await?,
    }))
}

/// Runs the account walk from `seeds`.
pub(super) async fn run(
    work: &mut Work<'_>,
    request: &TraceRequest,
    seeds: AccountSeeds,
) -> Result<AccountTrace, JobError> {
    work.ctx.register_udwf(ledger::account_ledger());
    let AccountSeeds { stolen, sources } = seeds;
    let mut chains: Vec<String> = stolen
        .iter()
        .map(|s| s.chain.clone())
        .chain(sources.iter().map(|s| s.chain.clone()))
        .collect();
    chains.sort();
    chains.dedup();
    let events = events_sql(&chains);

    // Seeds: the stolen transfers with their columns.
    let rows: Vec<String> = stolen
        .iter()
        .map(|s| {
            // As text: a literal past 64 bits would make the whole column a float.
            format!(
                "({}, {}, {}, {}, CAST('{}' AS DECIMAL(38, 0)))",
                literal(&s.chain),
                s.height,
                s.tx_index,
                s.sub_index,
                s.stolen
            )
        })
        .collect();
    let values = if rows.is_empty() {
        "SELECT CAST(NULL AS VARCHAR) AS chain, CAST(NULL AS INT UNSIGNED) AS height, \
           CAST(NULL AS INT UNSIGNED) AS tx_index, CAST(NULL AS INT UNSIGNED) AS sub_index, \
           CAST(NULL AS DECIMAL(38, 0)) AS stolen WHERE false"
            .to_string()
    } else {
        format!(
            "SELECT CAST(chain AS VARCHAR) AS chain, CAST(height AS INT UNSIGNED) AS height, \
               CAST(tx_index AS INT UNSIGNED) AS tx_index, \
               CAST(sub_index AS INT UNSIGNED) AS sub_index, \
               CAST(stolen AS DECIMAL(38, 0)) AS stolen \
             FROM (VALUES {}) AS s(chain, height, tx_index, sub_index, stolen)",
            rows.join(", ")
        )
    };
    let df = work
        .sql(
            "account seeds",
            &format!(
                "WITH ev AS ({events}) \
                 SELECT e.chain, e.height, e.tx_index, e.fee, e.sub_index, e.asset, e.sender, \
                   e.receiver, e.amount, e.tx, s.stolen \
                 FROM ({values}) s JOIN ev e ON e.chain = s.chain AND e.height = s.height \
                   AND e.tx_index = s.tx_index AND e.sub_index = s.sub_index AND e.fee = 0"
            ),
        )
        .await?;
    let seeds = nonempty(work.materialize("account_seeds", df).await?);

    let rows: Vec<String> = sources
        .iter()
        .map(|s| {
            format!(
                "({}, {}, {})",
                literal(&s.chain),
                literal(&s.address),
                s.start
            )
        })
        .collect();
    let sources = if rows.is_empty() {
        None
    } else {
        let sql = format!(
            "SELECT CAST(chain AS VARCHAR) AS chain, CAST(address AS VARCHAR) AS address, \
               CAST(start AS INT UNSIGNED) AS start \
             FROM (VALUES {}) AS s(chain, address, start)",
            rows.join(", ")
        );
        let df = work.sql("account sources", &sql).await?;
        nonempty(work.materialize("account_sources", df).await?)
    };

    // State 0: the stolen parts alone.
    let mut state =
        materialize_state(work, "account_state_0", state_sql(None, seeds.as_deref())).await?;
    let mut iterations = 0;
    let applied = loop {
        iterations += 1;
        crate::work::within_bound(JOB, iterations, MAX_ITERATIONS)?;
        let current = (state.1 > 0).then_some(state.0.as_str());
        let Some(relevant) = relevant_sql(current, sources.as_deref(), request) else {
            break None;
        };
        let step = format!("account_applied_{iterations}");
        let sql = ledger_sql(
            &events,
            &relevant,
            (current, seeds.as_deref(), sources.as_deref()),
            request,
        );
        let df = work.sql(&step, &sql).await?;
        let applied = nonempty(work.materialize(&step, df).await?);
        let next = materialize_state(
            work,
            &format!("account_state_{iterations}"),
            state_sql(applied.as_deref(), seeds.as_deref()),
        )
        .await?;
        let changed = match (state.1, next.1) {
            (0, n) | (n, 0) => n,
            _ => {
                count(
                    work,
                    &format!(
                        "SELECT count(*) AS n FROM {} a FULL OUTER JOIN {} b ON {same} \
                         WHERE (a.taint IS DISTINCT FROM b.taint) OR (a.hop IS DISTINCT FROM b.hop)",
                        state.0,
                        next.0,
                        same = same_transfer("a", "b"),
                    ),
                )
                .await?
            }
        };
        tracing::debug!(
            iteration = iterations,
            tainted = next.1,
            changed,
            "account trace fixpoint"
        );
        if !state.0.is_empty() {
            work.drop_state(&state.0).await?;
        }
        state = next;
        if changed == 0 {
            break applied;
        }
        if let Some(a) = &applied {
            work.drop_state(a).await?;
        }
    };
    let state = (state.1 > 0).then_some(state.0);

    let hops = match &state {
        Some(state) => {
            let df = work
                .sql(
                    "account hops",
                    &format!(
                        "SELECT chain, height, tx_index, coalesce(tx, '') AS txid, \
                           CAST(NULL AS INT UNSIGNED) AS vout, sub_index, asset, \
                           receiver AS place, amount AS value, taint, hop \
                         FROM {state}"
                    ),
                )
                .await?;
            nonempty(work.materialize("account_hops", df).await?)
        }
        None => None,
    };
    // Endpoints: receipts stopped at run addresses, taint resting at them, and receipts at
    // addresses never run (each stops there).
    let mut parts = Vec::new();
    if let Some(applied) = &applied {
        parts.push(format!(
            "SELECT chain, asset, address AS place, stop, taint AS amount, depth AS hops \
             FROM {applied} WHERE stop IS NOT NULL \
             UNION ALL \
             SELECT chain, asset, address, 'unmoved', rest, rest_hops \
             FROM {applied} WHERE rest IS NOT NULL"
        ));
    }
    if let Some(state) = &state {
        let relevant = relevant_sql(Some(state), sources.as_deref(), request)
            .expect("a state gives a relevant set");
        parts.push(format!(
            "SELECT s.chain, s.asset, s.receiver, \
               CASE WHEN s.fee = 1 THEN 'fee' WHEN s.taint < {dust} THEN 'dust' \
                 ELSE 'hop_limit' END, \
               s.taint, s.hop \
             FROM {state} s LEFT JOIN ({relevant}) r \
               ON r.chain = s.chain AND r.address = s.receiver \
             WHERE r.address IS NULL",
            dust = dust_sql(request, "s.asset"),
        ));
    }
    let ends = if parts.is_empty() {
        None
    } else {
        let df = work.sql("account ends", &parts.join(" UNION ALL ")).await?;
        nonempty(work.materialize("account_ends", df).await?)
    };
    // Stolen: each stolen transfer's part beyond what its sender's ledger already gave it,
    // and what sources newly sent.
    let mut parts = Vec::new();
    if let Some(seeds) = &seeds {
        let (join, own) = match &applied {
            Some(applied) => (
                format!(
                    "LEFT JOIN {applied} o ON {same} AND o.role <> {receive}",
                    same = same_transfer("o", "k"),
                    receive = ledger::RECEIVE,
                ),
                "coalesce(o.own, CAST(0 AS DECIMAL(38, 0)))",
            ),
            None => (String::new(), "CAST(0 AS DECIMAL(38, 0))"),
        };
        parts.push(format!(
            "SELECT k.chain, k.asset, \
               CAST(least(k.stolen, k.amount - {own}) AS DECIMAL(76, 0)) AS seeded, \
               CAST(0 AS DECIMAL(76, 0)) AS returned \
             FROM {seeds} k {join}"
        ));
    }
    if let Some(applied) = &applied {
        parts.push(format!(
            "SELECT chain, asset, CAST(new_stolen AS DECIMAL(76, 0)) AS seeded, \
               CAST(0 AS DECIMAL(76, 0)) AS returned \
             FROM {applied} WHERE new_stolen IS NOT NULL"
        ));
    }
    let stolen = if parts.is_empty() {
        None
    } else {
        let df = work
            .sql("account stolen", &parts.join(" UNION ALL "))
            .await?;
        nonempty(work.materialize("account_stolen", df).await?)
    };
    Ok(AccountTrace {
        hops,
        ends,
        stolen,
        iterations,
    })
}
