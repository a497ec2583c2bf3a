//! Screening exposure for all addresses: the native labeled walk (`tracehound_screen::walk`)
//! from every labeled origin at once, N hops forward (incoming exposure) and backward
//! (outgoing exposure) over UTXO chains, one frontier join per hop.
//!
//! The rules are the walk's own:
//! - A **flow** of a tx from payer `p` to payee `q` (`q ≠ p`) is `⌊out(q) · in(p) / Σin⌋`,
//!   where `out(q)` is what the tx pays `q` and `in(p)` what `p` puts in; txs with nothing in
//!   are skipped. Forward, a node's flows are those it pays; backward, those paying it.
//! - A flow from a node of share `s` (basis points; the origin 10,000) carries
//!   `⌊flow · s / 10,000⌋`. A counterparty's exposure is the sum of what reaches it at the hop
//!   it is first reached (never the origin itself, never an address reached at an earlier
//!   hop); its share for the next hop is that over all it received (forward) or sent
//!   (backward), in basis points rounded down, at most 10,000 (none if it never did).
//! - Time is respected: forward a node's flows count from the earliest time exposed value
//!   reached it, backward up to the latest time it sent towards the origin.
//! - A node goes on only before the last hop, with a share above 0, when it is no stop (a
//!   service or dark place); a node with more than `max_history` txs is not expanded; each
//!   origin keeps at most `max_frontier` nodes per hop, the most exposed (ties by address).
//!
//! Result `exposures` (chain, origin, kind, direction, address, amount, share_bps, hops),
//! sorted by (chain, origin, direction, address). Proof paths are the native index's.

use std::path::Path;

use datafusion::prelude::SessionContext;

use crate::JobError;
use crate::dataset::Dataset;
use crate::work::{Columns, Output, Work, literal, present};

const JOB: &str = "exposure";

/// A labeled address the walk starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Chain name.
    pub chain: String,
    /// The address.
    pub address: String,
    /// `sanctioned` or `mixer`.
    pub kind: String,
}

/// What to walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposureRequest {
    /// Where the walks start.
    pub origins: Vec<Origin>,
    /// (chain, address) the walks do not pass through (services, dark places).
    pub stops: Vec<(String, String)>,
    /// Hops from the origin.
    pub hops: u32,
    /// Nodes kept per hop and origin.
    pub max_frontier: u64,
    /// Addresses with more txs are not expanded.
    pub max_history: u64,
}

/// Which way an exposure runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Value came from the origin (the walk forward).
    Incoming,
    /// Value went to the origin (the walk backward).
    Outgoing,
}

impl Direction {
    fn name(self) -> &'static str {
        match self {
            Direction::Incoming => "incoming",
            Direction::Outgoing => "outgoing",
        }
    }
}

/// One address's exposure to one origin.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExposureRow {
    /// Chain name.
    pub chain: String,
    /// The labeled origin.
    pub origin: String,
    /// Its kind.
    pub kind: String,
    /// Which way.
    pub direction: Direction,
    /// The exposed address.
    pub address: String,
    /// Base units of exposure.
    pub amount: u64,
    /// Share of all it received (incoming) or sent (outgoing), basis points.
    pub share_bps: Option<u32>,
    /// Hops from the origin.
    pub hops: u32,
}

/// `⌊num / den⌋` of two non-negative `DECIMAL(38, 0)` expressions, exactly (the division is of
/// an exact multiple, so its scale does not matter).
fn div_floor(num: &str, den: &str) -> String {
    format!("CAST((({num}) - ({num}) % ({den})) / ({den}) AS DECIMAL(38, 0))")
}

fn dec(expr: &str) -> String {
    format!("CAST({expr} AS DECIMAL(38, 0))")
}

/// One hop of the walk in `direction` from frontier table `frontier` (chain, origin,
/// origin_id, node, share, bound), skipping `seen` (chain, origin, address_id): what reaches
/// each new address.
fn hop_sql(direction: Direction, frontier: &str, seen: &str, request: &ExposureRequest) -> String {
    // Forward: the node pays (its inputs), counterparties are paid (outputs). Backward: the
    // reverse. The flow amount is the same formula both ways.
    let (mine_table, theirs_table, time_ok, time_agg) = match direction {
        Direction::Incoming => ("inputs", "outputs", "b.time >= m.bound", "min"),
        Direction::Outgoing => ("outputs", "inputs", "b.time <= m.bound", "max"),
    };
    let (flow_num, share_num) = (
        format!("{} * {}", dec("t.v"), dec("m.mine")),
        format!("{} * {}", dec("f.amount"), dec("f.share")),
    );
    let flow = div_floor(&flow_num, &dec("x.input_value"));
    let carried = div_floor(&share_num, "CAST(10000 AS DECIMAL(38, 0))");
    format!(
        "WITH mine AS ( \
           SELECT f.chain, f.origin, f.origin_id, f.node, f.share, f.bound, \
             m.height, m.tx_index, sum(m.value) AS mine \
           FROM {frontier} f \
           JOIN {JOB}_activity a ON a.chain = f.chain AND a.address_id = f.node \
             AND a.tx_count <= {max_history} \
           JOIN {mine_table} m ON m.chain = f.chain AND m.address_id = f.node \
           GROUP BY f.chain, f.origin, f.origin_id, f.node, f.share, f.bound, m.height, m.tx_index \
           HAVING sum(m.value) > 0), \
         txs_of AS (SELECT DISTINCT chain, height, tx_index FROM mine), \
         theirs AS ( \
           SELECT t.chain, t.height, t.tx_index, t.address_id AS cp, sum(t.value) AS v \
           FROM {theirs_table} t JOIN txs_of s \
             ON s.chain = t.chain AND s.height = t.height AND s.tx_index = t.tx_index \
           WHERE t.address_id IS NOT NULL AND t.address_id <> 18446744073709551615 \
           GROUP BY t.chain, t.height, t.tx_index, t.address_id), \
         flows AS ( \
           SELECT m.chain, m.origin, m.share, t.cp, b.time, {flow} AS amount \
           FROM mine m \
           JOIN txs x ON x.chain = m.chain AND x.height = m.height AND x.tx_index = m.tx_index \
           JOIN blocks b ON b.chain = m.chain AND b.height = m.height \
           JOIN theirs t ON t.chain = m.chain AND t.height = m.height AND t.tx_index = m.tx_index \
           WHERE x.input_value > 0 AND t.cp <> m.node AND t.cp <> m.origin_id AND {time_ok}), \
         carried AS ( \
           SELECT f.chain, f.origin, f.cp, f.time, {carried} AS carried \
           FROM flows f LEFT JOIN {seen} s \
             ON s.chain = f.chain AND s.origin = f.origin AND s.address_id = f.cp \
           WHERE s.address_id IS NULL) \
         SELECT chain, origin, cp AS address_id, CAST(sum(carried) AS DECIMAL(38, 0)) AS amount, \
           {time_agg}(time) AS time \
         FROM carried WHERE carried > 0 GROUP BY chain, origin, cp",
        max_history = request.max_history,
    )
}

/// Runs the job: writes `<out>/exposures/`.
pub async fn run(
    ctx: &SessionContext,
    dataset: &Dataset,
    out: &Path,
    request: &ExposureRequest,
) -> Result<Output<Vec<ExposureRow>>, JobError> {
    for t in ["inputs", "outputs", "txs", "blocks"] {
        dataset.require(t, JOB)?;
    }
    let mut work = Work::start(ctx, JOB, out)?;
    if request.origins.is_empty() || !dataset.has_rows("outputs") {
        return work.finish(Vec::new(), 0);
    }
    // Per address: its text, tx count and totals (the walk's `totals` and history cap).
    let balances = crate::balances::utxo_sql(dataset);
    let df = work
        .sql(
            "activity",
            &format!(
                "SELECT chain, address_id, address, tx_count, received, sent FROM ({balances})"
            ),
        )
        .await?;
    work.materialize("activity", df).await?;
    let origins: Vec<String> = request
        .origins
        .iter()
        .map(|o| {
            format!(
                "({}, {}, {})",
                literal(&o.chain),
                literal(&o.address),
                literal(&o.kind)
            )
        })
        .collect();
    let df = work
        .sql(
            "origins",
            &format!(
                "SELECT a.chain, a.address_id AS origin, min(o.kind) AS kind \
                 FROM (VALUES {}) AS o(chain, address, kind) \
                 JOIN {JOB}_activity a ON a.chain = o.chain AND a.address = o.address \
                 GROUP BY a.chain, a.address_id",
                origins.join(", ")
            ),
        )
        .await?;
    work.materialize("origins", df).await?;
    let stops: Vec<String> = request
        .stops
        .iter()
        .map(|(c, a)| format!("({}, {})", literal(c), literal(a)))
        .collect();
    let stops_sql = if stops.is_empty() {
        format!("SELECT chain, address_id FROM {JOB}_activity WHERE false")
    } else {
        format!(
            "SELECT a.chain, a.address_id FROM (VALUES {}) AS s(chain, address) \
             JOIN {JOB}_activity a ON a.chain = s.chain AND a.address = s.address",
            stops.join(", ")
        )
    };
    let df = work.sql("stops", &stops_sql).await?;
    work.materialize("stops", df).await?;
    let mut reached_tables = Vec::new();
    // Read, alone, when no hop reached anyone: the result is then empty but well-formed.
    let mut an_empty_exposed = None;
    for direction in [Direction::Incoming, Direction::Outgoing] {
        let d = direction.name();
        let start_bound = match direction {
            Direction::Incoming => "0".to_string(),
            Direction::Outgoing => u64::MAX.to_string(),
        };
        let df = work
            .sql(
                "frontier 0",
                &format!(
                    "SELECT chain, origin, origin AS origin_id, origin AS node, \
                       CAST(10000 AS BIGINT UNSIGNED) AS share, \
                       CAST({start_bound} AS BIGINT UNSIGNED) AS bound \
                     FROM {JOB}_origins"
                ),
            )
            .await?;
        let (mut frontier, _) = work.materialize(&format!("{d}_frontier_0"), df).await?;
        let df = work
            .sql(
                "seen 0",
                &format!(
                    "SELECT chain, origin, origin AS address_id FROM {JOB}_origins WHERE false"
                ),
            )
            .await?;
        let (mut seen, mut seen_rows) = work.materialize(&format!("{d}_seen_0"), df).await?;
        for hop in 1..=request.hops {
            let df = work
                .sql(
                    &format!("{d} hop {hop}"),
                    &hop_sql(direction, &frontier, &seen, request),
                )
                .await?;
            let (reached, n) = work.materialize(&format!("{d}_reached_{hop}"), df).await?;
            let total = match direction {
                Direction::Incoming => "a.received",
                Direction::Outgoing => "a.sent",
            };
            let share = format!(
                "CASE WHEN {total} = 0 THEN NULL WHEN r.amount >= {total} THEN 10000 \
                   ELSE {} END",
                div_floor("r.amount * CAST(10000 AS DECIMAL(38, 0))", &dec(total))
            );
            let df = work
                .sql(
                    &format!("{d} exposures {hop}"),
                    &format!(
                        "SELECT r.chain, r.origin, r.address_id, a.address, \
                           CAST(r.amount AS BIGINT UNSIGNED) AS amount, \
                           CAST({share} AS BIGINT UNSIGNED) AS share_bps, r.time, \
                           CAST({hop} AS INT UNSIGNED) AS hops, '{d}' AS direction \
                         FROM {reached} r JOIN {JOB}_activity a \
                           ON a.chain = r.chain AND a.address_id = r.address_id"
                    ),
                )
                .await?;
            let (exposed, exposed_rows) =
                work.materialize(&format!("{d}_exposed_{hop}"), df).await?;
            // Empty tables are left out of unions: Ballista 55's executors plan a union with an
            // empty input differently from its scheduler, and the job then never finishes.
            if exposed_rows > 0 {
                reached_tables.push(exposed.clone());
            } else {
                an_empty_exposed = Some(exposed.clone());
            }
            if hop == request.hops || n == 0 {
                break;
            }
            let previous = if seen_rows > 0 {
                format!("SELECT chain, origin, address_id FROM {seen} UNION ALL ")
            } else {
                String::new()
            };
            let df = work
                .sql(
                    &format!("{d} seen {hop}"),
                    &format!("{previous}SELECT chain, origin, address_id FROM {reached}"),
                )
                .await?;
            let (next_seen, next_seen_rows) =
                work.materialize(&format!("{d}_seen_{hop}"), df).await?;
            let df = work
                .sql(
                    &format!("{d} frontier {hop}"),
                    &format!(
                        "SELECT chain, origin, origin AS origin_id, node, share, bound FROM ( \
                           SELECT e.chain, e.origin, e.address_id AS node, e.share_bps AS share, \
                             e.time AS bound, row_number() OVER ( \
                               PARTITION BY e.chain, e.origin \
                               ORDER BY e.amount DESC, e.address) AS pos \
                           FROM {exposed} e LEFT JOIN {JOB}_stops s \
                             ON s.chain = e.chain AND s.address_id = e.address_id \
                           WHERE e.share_bps > 0 AND s.address_id IS NULL) \
                         WHERE pos <= {max_frontier}",
                        max_frontier = request.max_frontier
                    ),
                )
                .await?;
            let (next_frontier, _) = work.materialize(&format!("{d}_frontier_{hop}"), df).await?;
            work.drop_state(&frontier)?;
            work.drop_state(&seen)?;
            frontier = next_frontier;
            seen = next_seen;
            seen_rows = next_seen_rows;
        }
    }
    if reached_tables.is_empty() {
        reached_tables.extend(an_empty_exposed);
    }
    let union: Vec<String> = reached_tables
        .iter()
        .map(|t| {
            format!(
                "SELECT e.chain, o.address AS origin, k.kind, e.direction, e.address, e.amount, \
                   e.share_bps, e.hops \
                 FROM {t} e JOIN {JOB}_origins k ON k.chain = e.chain AND k.origin = e.origin \
                 JOIN {JOB}_activity o ON o.chain = e.chain AND o.address_id = e.origin"
            )
        })
        .collect();
    let df = work.sql("exposures", &union.join(" UNION ALL ")).await?;
    let batches = work
        .result(
            "exposures",
            df,
            &["chain", "origin", "direction", "address"],
        )
        .await?;
    let mut rows = Vec::new();
    for b in &batches {
        let c = Columns::new(JOB, b);
        let (chain, origin, kind, direction, address) = (
            c.strings("chain")?,
            c.strings("origin")?,
            c.strings("kind")?,
            c.strings("direction")?,
            c.strings("address")?,
        );
        let (amount, share, hops) = (c.u64s("amount")?, c.u64s("share_bps")?, c.u64s("hops")?);
        for i in 0..b.num_rows() {
            rows.push(ExposureRow {
                chain: present(JOB, "chain", chain[i].clone())?,
                origin: present(JOB, "origin", origin[i].clone())?,
                kind: present(JOB, "kind", kind[i].clone())?,
                direction: if direction[i].as_deref() == Some("incoming") {
                    Direction::Incoming
                } else {
                    Direction::Outgoing
                },
                address: present(JOB, "address", address[i].clone())?,
                amount: present(JOB, "amount", amount[i])?,
                share_bps: share[i].map(|s| u32::try_from(s).unwrap_or(10_000)),
                hops: u32::try_from(present(JOB, "hops", hops[i])?).unwrap_or(u32::MAX),
            });
        }
    }
    work.finish(rows, request.hops)
}
