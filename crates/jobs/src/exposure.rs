//! Screening exposure for all addresses: the native labeled walk (`tracehound_screen::walk`)
//! from every labeled origin at once, N hops forward (incoming exposure) and backward
//! (outgoing exposure), one frontier join per hop, over UTXO and account chains.
//!
//! The rules are the walk's own:
//! - A **flow** from payer `p` to payee `q` (`q ≠ p`):
//!   - UTXO: a tx's `⌊out(q) · in(p) / Σin⌋`, where `out(q)` is what the tx pays `q` and
//!     `in(p)` what `p` puts in; txs with nothing in are skipped;
//!   - account: a transfer's amount, in its asset (fees and NFTs left out).
//!
//!   Forward, a node's flows are those it pays; backward, those paying it.
//! - A flow from a node of share `s` (basis points; the origin 10,000) carries
//!   `⌊flow · s / 10,000⌋`. A counterparty's exposure is the sum of what reaches it at the hop
//!   it is first reached (never the origin itself, never a node reached at an earlier hop);
//!   its share for the next hop is that over all it received (forward) or sent (backward),
//!   in basis points rounded down, at most 10,000 (none if it never did).
//! - On account chains a node is an (address, asset): the origin's flows of every asset count,
//!   and from hop 1 on each node passes on only flows of its own asset, its share being of
//!   that asset's totals.
//! - Time is respected: forward a node's flows count from the earliest time exposed value
//!   reached it, backward up to the latest time it sent towards the origin.
//! - A node goes on only before the last hop, with a share above 0, when it is no stop (a
//!   service or dark place); an address with more than `max_history` txs (UTXO) or transfers
//!   (account, every asset) is not expanded; each origin keeps at most `max_frontier` nodes
//!   per hop, the most exposed (ties by address, then asset).
//!
//! Amounts are `DECIMAL(38, 0)` (any u128); products, quotients and sums are taken in
//! `DECIMAL(76, 0)`, where no amount times a share can overflow or be rescaled out of range
//! (DataFusion's decimal division scales the dividend up, and its products and sums of
//! `DECIMAL(38, 0)` wrap silently), and cast back: a sum above u128 fails the job.
//!
//! Result `exposures` (chain, origin, kind, direction, address, asset, amount, share_bps,
//! hops), sorted by (chain, origin, direction, address, asset). Proof paths are the native
//! index's.

use std::path::Path;

use datafusion::prelude::SessionContext;

use crate::JobError;
use crate::dataset::Dataset;
use crate::work::{Columns, Output, Work, amount_text, literal, present};

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
    /// Addresses with more txs (or transfers) are not expanded.
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
    /// `native` or the token contract (account chains).
    pub asset: String,
    /// Base units of exposure.
    #[serde(serialize_with = "amount_text")]
    pub amount: u128,
    /// Share of all it received (incoming) or sent (outgoing), basis points.
    pub share_bps: Option<u32>,
    /// Hops from the origin.
    pub hops: u32,
}

/// `⌊num / den⌋` of two non-negative `DECIMAL(76, 0)` expressions (see [`dec`]), exactly: the
/// division is of an exact multiple, so its scale does not matter.
fn div_floor(num: &str, den: &str) -> String {
    format!("CAST((({num}) - ({num}) % ({den})) / ({den}) AS DECIMAL(76, 0))")
}

/// `expr` as `DECIMAL(76, 0)`: room for a u128 amount times a share, rescaled by a division.
fn dec(expr: &str) -> String {
    format!("CAST({expr} AS DECIMAL(76, 0))")
}

/// The two shapes of chain, each walked with its own tables (`<job>_<family>_…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// Nodes are address ids; flows are parts of txs.
    Utxo,
    /// Nodes are (address, asset) text; flows are transfers.
    Account,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::Utxo => "utxo",
            Family::Account => "account",
        }
    }

    /// A table of this family's state or inputs.
    fn table(self, name: &str) -> String {
        format!("{JOB}_{}_{name}", self.name())
    }

    /// The columns naming a reached node in `seen` and `exposed` tables.
    fn node_key(self) -> &'static str {
        match self {
            Family::Utxo => "address_id",
            Family::Account => "address, asset",
        }
    }

    /// Plans this family's inputs: activity, origins, stops (and the account flows).
    async fn prepare(
        self,
        work: &mut Work<'_>,
        dataset: &Dataset,
        request: &ExposureRequest,
    ) -> Result<(), JobError> {
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
        let origins = format!("(VALUES {}) AS o(chain, address, kind)", origins.join(", "));
        let stops: Vec<String> = request
            .stops
            .iter()
            .map(|(c, a)| format!("({}, {})", literal(c), literal(a)))
            .collect();
        let stops = (!stops.is_empty())
            .then(|| format!("(VALUES {}) AS s(chain, address)", stops.join(", ")));
        let activity = self.table("activity");
        let steps: Vec<(&str, String)> = match self {
            Family::Utxo => {
                // Per address: its text, tx count and totals (the walk's `totals` and cap).
                let balances = crate::balances::utxo_sql(dataset);
                vec![
                    (
                        "activity",
                        format!(
                            "SELECT chain, address_id, address, tx_count, received, sent \
                             FROM ({balances})"
                        ),
                    ),
                    (
                        "origins",
                        format!(
                            "SELECT a.chain, a.address_id AS origin, min(o.kind) AS kind \
                             FROM {origins} JOIN {activity} a \
                               ON a.chain = o.chain AND a.address = o.address \
                             GROUP BY a.chain, a.address_id"
                        ),
                    ),
                    (
                        "stops",
                        match &stops {
                            Some(stops) => format!(
                                "SELECT a.chain, a.address_id FROM {stops} JOIN {activity} a \
                                   ON a.chain = s.chain AND a.address = s.address"
                            ),
                            None => {
                                format!("SELECT chain, address_id FROM {activity} WHERE false")
                            }
                        },
                    ),
                ]
            }
            Family::Account => {
                let totals = self.table("totals");
                vec![
                    (
                        "totals",
                        format!(
                            "SELECT chain, address, asset, received, sent, tx_count \
                             FROM ({})",
                            crate::balances::account_sql()
                        ),
                    ),
                    (
                        "activity",
                        format!(
                            "SELECT chain, address, CAST(sum(tx_count) AS BIGINT UNSIGNED) \
                               AS transfers \
                             FROM {totals} GROUP BY chain, address"
                        ),
                    ),
                    (
                        "flows",
                        "SELECT t.chain, t.\"from\" AS payer, t.\"to\" AS payee, t.asset, \
                           t.amount, b.time \
                         FROM transfers t JOIN blocks b \
                           ON b.chain = t.chain AND b.height = t.height \
                         WHERE t.kind <> 'fee' AND t.kind <> 'nft' AND t.\"from\" <> t.\"to\""
                            .to_string(),
                    ),
                    (
                        "origins",
                        format!(
                            "SELECT o.chain, o.address AS origin, min(o.kind) AS kind \
                             FROM {origins} JOIN {activity} a \
                               ON a.chain = o.chain AND a.address = o.address \
                             GROUP BY o.chain, o.address"
                        ),
                    ),
                    (
                        "stops",
                        match &stops {
                            Some(stops) => format!("SELECT chain, address FROM {stops}"),
                            None => format!("SELECT chain, address FROM {activity} WHERE false"),
                        },
                    ),
                ]
            }
        };
        for (name, sql) in steps {
            let df = work.sql(&format!("{} {name}", self.name()), &sql).await?;
            work.materialize(&format!("{}_{name}", self.name()), df)
                .await?;
        }
        Ok(())
    }

    /// The walk's start: each origin with a full share (and every asset).
    fn start_sql(self, direction: Direction) -> String {
        let bound = match direction {
            Direction::Incoming => 0,
            Direction::Outgoing => u64::MAX,
        };
        let asset = match self {
            Family::Utxo => "",
            Family::Account => "CAST(NULL AS VARCHAR) AS asset, ",
        };
        format!(
            "SELECT chain, origin, origin AS node, {asset}\
               CAST(10000 AS BIGINT UNSIGNED) AS share, CAST({bound} AS BIGINT UNSIGNED) AS bound \
             FROM {}",
            self.table("origins")
        )
    }

    /// An empty `seen` table of the right shape.
    fn no_seen_sql(self) -> String {
        let key = match self {
            Family::Utxo => "origin AS address_id",
            Family::Account => "origin AS address, CAST(NULL AS VARCHAR) AS asset",
        };
        format!(
            "SELECT chain, origin, {key} FROM {} WHERE false",
            self.table("origins")
        )
    }

    /// One hop of the walk in `direction` from table `frontier` (chain, origin, node[, asset],
    /// share, bound), skipping the nodes in `seen`: what reaches each new node, and when.
    fn hop_sql(
        self,
        direction: Direction,
        frontier: &str,
        seen: &str,
        request: &ExposureRequest,
    ) -> String {
        let activity = self.table("activity");
        if self == Family::Utxo {
            return utxo_hop_sql(direction, frontier, seen, request, &activity);
        }
        let carried = div_floor(
            &format!("{} * {}", dec("f.amount"), dec("f.share")),
            &dec("10000"),
        );
        // Forward the node pays; backward it is paid.
        let (mine, theirs, time_ok, time_agg) = match direction {
            Direction::Incoming => ("payer", "payee", "x.time >= m.bound", "min"),
            Direction::Outgoing => ("payee", "payer", "x.time <= m.bound", "max"),
        };
        format!(
            "WITH flows AS ( \
               SELECT m.chain, m.origin, x.{theirs} AS address, x.asset, x.time, \
                 x.amount, m.share \
               FROM {frontier} m \
               JOIN {activity} a ON a.chain = m.chain AND a.address = m.node \
                 AND a.transfers <= {max_history} \
               JOIN {flows} x ON x.chain = m.chain AND x.{mine} = m.node \
               WHERE (m.asset IS NULL OR x.asset = m.asset) AND {time_ok} \
                 AND x.{theirs} <> m.origin), \
             carried AS ( \
               SELECT f.chain, f.origin, f.address, f.asset, f.time, {carried} AS carried \
               FROM flows f LEFT JOIN {seen} s \
                 ON s.chain = f.chain AND s.origin = f.origin \
                   AND s.address = f.address AND s.asset = f.asset \
               WHERE s.address IS NULL) \
             SELECT chain, origin, address, asset, \
               CAST(sum(carried) AS DECIMAL(38, 0)) AS amount, {time_agg}(time) AS time \
             FROM carried WHERE carried > 0 GROUP BY chain, origin, address, asset",
            max_history = request.max_history,
            flows = self.table("flows"),
        )
    }

    /// The nodes reached at `hop` (table `reached`) with their share for the next hop.
    fn exposed_sql(self, direction: Direction, reached: &str, hop: u32) -> String {
        let d = direction.name();
        let total = match direction {
            Direction::Incoming => "a.received",
            Direction::Outgoing => "a.sent",
        };
        let share = format!(
            "CAST(CASE WHEN {total} IS NULL OR {total} = 0 THEN NULL \
               WHEN r.amount >= {total} THEN 10000 ELSE {} END AS BIGINT UNSIGNED)",
            div_floor(
                &format!("{} * {}", dec("r.amount"), dec("10000")),
                &dec(total)
            )
        );
        let (node, amount, totals) = match self {
            Family::Utxo => (
                "r.address_id, a.address",
                "CAST(r.amount AS BIGINT UNSIGNED)",
                format!(
                    "JOIN {} a ON a.chain = r.chain AND a.address_id = r.address_id",
                    self.table("activity")
                ),
            ),
            Family::Account => (
                "r.address, r.asset",
                "r.amount",
                format!(
                    "LEFT JOIN {} a ON a.chain = r.chain AND a.address = r.address \
                       AND a.asset = r.asset",
                    self.table("totals")
                ),
            ),
        };
        format!(
            "SELECT r.chain, r.origin, {node}, {amount} AS amount, {share} AS share_bps, r.time, \
               CAST({hop} AS INT UNSIGNED) AS hops, '{d}' AS direction \
             FROM {reached} r {totals}"
        )
    }

    /// The most exposed nodes of `exposed` that go on: share above 0, no stop.
    fn next_frontier_sql(self, exposed: &str, request: &ExposureRequest) -> String {
        let stops = self.table("stops");
        let (node, stop_on, order) = match self {
            Family::Utxo => (
                "e.address_id AS node",
                "s.address_id = e.address_id",
                "e.amount DESC, e.address",
            ),
            Family::Account => (
                "e.address AS node, e.asset",
                "s.address = e.address",
                "e.amount DESC, e.address, e.asset",
            ),
        };
        let columns = match self {
            Family::Utxo => "chain, origin, node, share, bound",
            Family::Account => "chain, origin, node, asset, share, bound",
        };
        format!(
            "SELECT {columns} FROM ( \
               SELECT e.chain, e.origin, {node}, e.share_bps AS share, e.time AS bound, \
                 row_number() OVER (PARTITION BY e.chain, e.origin ORDER BY {order}) AS pos \
               FROM {exposed} e LEFT JOIN {stops} s ON s.chain = e.chain AND {stop_on} \
               WHERE e.share_bps > 0 AND s.chain IS NULL) \
             WHERE pos <= {max_frontier}",
            max_frontier = request.max_frontier
        )
    }

    /// Exposures of `exposed` as result rows.
    fn rows_sql(self, exposed: &str) -> String {
        let origins = self.table("origins");
        match self {
            Family::Utxo => format!(
                "SELECT e.chain, o.address AS origin, k.kind, e.direction, e.address, \
                   'native' AS asset, CAST(e.amount AS DECIMAL(38, 0)) AS amount, e.share_bps, \
                   e.hops \
                 FROM {exposed} e JOIN {origins} k ON k.chain = e.chain AND k.origin = e.origin \
                 JOIN {} o ON o.chain = e.chain AND o.address_id = e.origin",
                self.table("activity")
            ),
            Family::Account => format!(
                "SELECT e.chain, e.origin, k.kind, e.direction, e.address, e.asset, \
                   CAST(e.amount AS DECIMAL(38, 0)) AS amount, e.share_bps, e.hops \
                 FROM {exposed} e JOIN {origins} k ON k.chain = e.chain AND k.origin = e.origin"
            ),
        }
    }
}

/// One UTXO hop (see [`Family::hop_sql`]): the flows of the frontier's txs.
fn utxo_hop_sql(
    direction: Direction,
    frontier: &str,
    seen: &str,
    request: &ExposureRequest,
    activity: &str,
) -> String {
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
    let carried = div_floor(&share_num, &dec("10000"));
    format!(
        "WITH mine AS ( \
           SELECT f.chain, f.origin, f.node, f.share, f.bound, \
             m.height, m.tx_index, sum(m.value) AS mine \
           FROM {frontier} f \
           JOIN {activity} a ON a.chain = f.chain AND a.address_id = f.node \
             AND a.tx_count <= {max_history} \
           JOIN {mine_table} m ON m.chain = f.chain AND m.address_id = f.node \
           GROUP BY f.chain, f.origin, f.node, f.share, f.bound, m.height, m.tx_index \
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
           WHERE x.input_value > 0 AND t.cp <> m.node AND t.cp <> m.origin AND {time_ok}), \
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
    dataset.require("blocks", JOB)?;
    let mut families = Vec::new();
    if dataset.has_rows("outputs") {
        for t in ["inputs", "txs"] {
            dataset.require(t, JOB)?;
        }
        families.push(Family::Utxo);
    }
    if dataset.has_rows("transfers") {
        families.push(Family::Account);
    }
    let mut work = Work::start(ctx, JOB, out).await?;
    if request.origins.is_empty() || families.is_empty() {
        return work.finish(Vec::new(), 0).await;
    }
    let mut exposed_tables = Vec::new();
    // Read, alone, when no hop reached anyone: the result is then empty but well-formed.
    let mut an_empty_exposed = None;
    for family in families {
        family.prepare(&mut work, dataset, request).await?;
        for direction in [Direction::Incoming, Direction::Outgoing] {
            let state = |name: &str, hop: u32| {
                format!("{}_{}_{name}_{hop}", family.name(), direction.name())
            };
            let step = |name: &str, hop: u32| {
                format!("{} {} {name} {hop}", family.name(), direction.name())
            };
            let df = work
                .sql(&step("frontier", 0), &family.start_sql(direction))
                .await?;
            let (mut frontier, _) = work.materialize(&state("frontier", 0), df).await?;
            let df = work.sql(&step("seen", 0), &family.no_seen_sql()).await?;
            let (mut seen, mut seen_rows) = work.materialize(&state("seen", 0), df).await?;
            for hop in 1..=request.hops {
                let sql = family.hop_sql(direction, &frontier, &seen, request);
                let df = work.sql(&step("hop", hop), &sql).await?;
                let (reached, n) = work.materialize(&state("reached", hop), df).await?;
                let sql = family.exposed_sql(direction, &reached, hop);
                let df = work.sql(&step("exposures", hop), &sql).await?;
                let (exposed, exposed_rows) = work.materialize(&state("exposed", hop), df).await?;
                // Empty tables are left out of unions: Ballista 55's executors plan a union
                // with an empty input differently from its scheduler, and the job then never
                // finishes.
                if exposed_rows > 0 {
                    exposed_tables.push((family, exposed.clone()));
                } else {
                    an_empty_exposed = Some((family, exposed.clone()));
                }
                if hop == request.hops || n == 0 {
                    break;
                }
                let key = family.node_key();
                let previous = if seen_rows > 0 {
                    format!("SELECT chain, origin, {key} FROM {seen} UNION ALL ")
                } else {
                    String::new()
                };
                let df = work
                    .sql(
                        &step("seen", hop),
                        &format!("{previous}SELECT chain, origin, {key} FROM {reached}"),
                    )
                    .await?;
                let (next_seen, next_seen_rows) = work.materialize(&state("seen", hop), df).await?;
                let sql = family.next_frontier_sql(&exposed, request);
                let df = work.sql(&step("frontier", hop), &sql).await?;
                let (next_frontier, _) = work.materialize(&state("frontier", hop), df).await?;
                work.drop_state(&frontier).await?;
                work.drop_state(&seen).await?;
                frontier = next_frontier;
                seen = next_seen;
                seen_rows = next_seen_rows;
            }
        }
    }
    if exposed_tables.is_empty() {
        exposed_tables.extend(an_empty_exposed);
    }
    let union: Vec<String> = exposed_tables
        .iter()
        .map(|(family, t)| family.rows_sql(t))
        .collect();
    let df = work.sql("exposures", &union.join(" UNION ALL ")).await?;
    let batches = work
        .result(
            "exposures",
            df,
            &["chain", "origin", "direction", "address", "asset"],
        )
        .await?;
    let mut rows = Vec::new();
    for b in &batches {
        let c = Columns::new(JOB, b);
        let (chain, origin, kind, direction, address, asset) = (
            c.strings("chain")?,
            c.strings("origin")?,
            c.strings("kind")?,
            c.strings("direction")?,
            c.strings("address")?,
            c.strings("asset")?,
        );
        let (amount, share, hops) = (c.amounts("amount")?, c.u64s("share_bps")?, c.u64s("hops")?);
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
                asset: present(JOB, "asset", asset[i].clone())?,
                amount: present(JOB, "amount", amount[i])?,
                share_bps: share[i].map(|s| u32::try_from(s).unwrap_or(10_000)),
                hops: u32::try_from(present(JOB, "hops", hops[i])?).unwrap_or(u32::MAX),
            });
        }
    }
    work.finish(rows, request.hops).await
}
