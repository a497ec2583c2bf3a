//! Co-spend clustering as iterated connected components: the native clusterer's co-spend
//! heuristic with its CoinJoin guard (`tracehound_cluster`, change heuristic off), over every
//! UTXO chain of the dataset at once.
//!
//! 1. **CoinJoin guard** (`tracehound_cluster::coinjoin`), per tx with at least 2 inputs and
//!    2 outputs, in the native order: Whirlpool (5 inputs, 5 outputs all of one pool
//!    denomination); then, if the inputs come from 2 addresses or more, Wasabi 2 (50 inputs
//!    and 50 outputs or more, at least half of the outputs of standard denominations) and
//!    equal outputs (the most frequent output value, ties to the larger, paid `n ≥ 2` times to
//!    `n` distinct addresses, and at least half of the outputs, or a third when `n ≥ 10`).
//! 2. **Edges**: every other non-coinbase tx with 2 inputs or more joins each of its input
//!    addresses to the smallest of them.
//! 3. **Components**: each iteration is a large-star round (every address links its larger
//!    neighbours to the smallest of itself and its neighbours) and a small-star round (every
//!    address links itself and its smaller neighbours to the smallest of those), each
//!    keeping the components and rewiring edges towards smaller ids, until the edge set no
//!    longer changes. Then every component is a star around its smallest address id, which
//!    each member takes as its label: the native entity id. Propagating labels over the
//!    original edges instead needs as many iterations as the longest co-spend chain (786 on
//!    12,000 simulated blocks, against 10 here).
//!
//! Results: `entities` (chain, address_id, entity) for every address the outputs pay, sorted
//! by (chain, address_id), and `coinjoins` (chain, height, tx_index, rule), sorted by
//! (chain, height, tx_index).

use std::path::Path;

use datafusion::prelude::SessionContext;

use crate::JobError;
use crate::dataset::Dataset;
use crate::work::{Columns, Output, Work, present};

const JOB: &str = "cluster";

/// The id the UTXO export writes for an input whose spent output paid no address.
const NO_ADDRESS: &str = "18446744073709551615";

/// Iterations after which the job gives up (the star rounds converge in O(log² n) rounds
/// for components of n addresses, so real data settles in a few dozen).
const MAX_ITERATIONS: u32 = 10_000;

/// One address and its entity (the smallest address id of its cluster).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Member {
    /// Address id.
    pub address_id: u64,
    /// Its entity.
    pub entity: u64,
}

/// A tx the CoinJoin guard kept from merging.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Flagged {
    /// Chain name.
    pub chain: String,
    /// Block height.
    pub height: u64,
    /// Index in the block.
    pub tx_index: u64,
    /// `whirlpool`, `wasabi2` or `equal_outputs`.
    pub rule: String,
}

/// A clustering of every UTXO chain of the dataset.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Clusters {
    /// Per chain (sorted by name), its addresses and their entities, by address id.
    pub chains: Vec<(String, Vec<Member>)>,
    /// The txs skipped as CoinJoins.
    pub coinjoins: Vec<Flagged>,
}

/// Wasabi 2's standard denominations (`tracehound_cluster::coinjoin`): at least 5,000 base
/// units and a power of 2, a power of 3 or twice one, or 1, 2 or 5 times a power of 10. Listed
/// up to 2^53, beyond any output value (21 million coins of 10^8 units is below 2^51).
pub fn standard_denominations() -> Vec<u64> {
    const TOP: u64 = 1 << 53;
    let mut v = Vec::new();
    let mut p = 1u64;
    while p <= TOP {
        v.push(p);
        p *= 2;
    }
    p = 1;
    while p <= TOP {
        v.extend([p, 2 * p]);
        p *= 3;
    }
    p = 1;
    while p <= TOP {
        v.extend([p, 2 * p, 5 * p]);
        p *= 10;
    }
    v.retain(|&x| x >= 5_000);
    v.sort_unstable();
    v.dedup();
    v
}

/// The txs the CoinJoin guard flags, with the rule (see the module docs).
fn coinjoins_sql() -> String {
    let standard: Vec<String> = standard_denominations()
        .iter()
        .map(u64::to_string)
        .collect();
    let standard = standard.join(", ");
    format!(
        "WITH ins AS ( \
           SELECT chain, height, tx_index, count(*) AS n_in, \
             count(DISTINCT CASE WHEN address_id <> {NO_ADDRESS} THEN address_id END) AS n_addr \
           FROM inputs GROUP BY chain, height, tx_index HAVING count(*) >= 2), \
         outs AS ( \
           SELECT chain, height, tx_index, count(*) AS n_out, min(value) AS lo, max(value) AS hi, \
             sum(CASE WHEN value IN ({standard}) THEN 1 ELSE 0 END) AS n_std \
           FROM outputs GROUP BY chain, height, tx_index HAVING count(*) >= 2), \
         vals AS ( \
           SELECT chain, height, tx_index, value, count(*) AS n, \
             count(DISTINCT address_id) AS payees \
           FROM outputs GROUP BY chain, height, tx_index, value), \
         top AS ( \
           SELECT chain, height, tx_index, n, payees FROM ( \
             SELECT *, row_number() OVER ( \
               PARTITION BY chain, height, tx_index ORDER BY n DESC, value DESC) AS rank \
             FROM vals) WHERE rank = 1), \
         flagged AS ( \
           SELECT i.chain, i.height, i.tx_index, \
             CASE \
               WHEN i.n_in = 5 AND o.n_out = 5 AND o.lo = o.hi \
                 AND o.lo IN (100000, 1000000, 5000000, 50000000) THEN 'whirlpool' \
               WHEN i.n_addr >= 2 AND i.n_in >= 50 AND o.n_out >= 50 AND 2 * o.n_std >= o.n_out \
                 THEN 'wasabi2' \
               WHEN i.n_addr >= 2 AND t.n >= 2 AND t.payees = t.n \
                 AND (2 * t.n >= o.n_out OR (t.n >= 10 AND 3 * t.n >= o.n_out)) \
                 THEN 'equal_outputs' \
             END AS rule \
           FROM ins i JOIN outs o \
             ON o.chain = i.chain AND o.height = i.height AND o.tx_index = i.tx_index \
           JOIN top t ON t.chain = i.chain AND t.height = i.height AND t.tx_index = i.tx_index) \
         SELECT chain, height, tx_index, rule FROM flagged WHERE rule IS NOT NULL"
    )
}

/// Co-spend edges: each input address of a non-CoinJoin tx of 2 inputs or more, joined to
/// the tx's smallest input address (the same components as the native clusterer's pairs).
fn edges_sql(coinjoins: &str) -> String {
    format!(
        "WITH spends AS ( \
           SELECT chain, height, tx_index, \
             min(CASE WHEN address_id <> {NO_ADDRESS} THEN address_id END) AS first \
           FROM inputs GROUP BY chain, height, tx_index HAVING count(*) >= 2) \
         SELECT DISTINCT i.chain, s.first AS a, i.address_id AS b \
         FROM inputs i \
         JOIN spends s ON s.chain = i.chain AND s.height = i.height AND s.tx_index = i.tx_index \
         LEFT JOIN {coinjoins} c \
           ON c.chain = i.chain AND c.height = i.height AND c.tx_index = i.tx_index \
         WHERE c.rule IS NULL AND i.address_id <> {NO_ADDRESS} AND i.address_id <> s.first"
    )
}

/// Runs the job: writes `<out>/entities/` and `<out>/coinjoins/`.
pub async fn run(
    ctx: &SessionContext,
    dataset: &Dataset,
    out: &Path,
) -> Result<Output<Clusters>, JobError> {
    dataset.require("inputs", JOB)?;
    dataset.require("outputs", JOB)?;
    let mut work = Work::start(ctx, JOB, out).await?;
    if !dataset.has_rows("outputs") {
        return work.finish(Clusters::default(), 0).await;
    }
    let coinjoins = if dataset.has_rows("inputs") {
        let df = work.sql("coinjoin guard", &coinjoins_sql()).await?;
        work.materialize("coinjoins", df).await?.0
    } else {
        // No inputs: no tx spends, nothing to guard or join.
        let df = work
            .sql(
                "coinjoin guard",
                "SELECT chain, height, tx_index, 'none' AS rule FROM outputs WHERE false",
            )
            .await?;
        work.materialize("coinjoins", df).await?.0
    };
    let (edges, n_edges) = if dataset.has_rows("inputs") {
        let df = work.sql("edges", &edges_sql(&coinjoins)).await?;
        work.materialize("edges", df).await?
    } else {
        let df = work
            .sql(
                "edges",
                "SELECT chain, address_id AS a, address_id AS b FROM outputs WHERE false",
            )
            .await?;
        work.materialize("edges", df).await?
    };
    tracing::debug!(edges = n_edges, "co-spend edges");
    // Alternating large-star and small-star rounds (Kiveris et al., "Connected Components in
    // MapReduce and Beyond", 2014) on the edge set itself: every round rewires edges towards
    // smaller ids, so the graph contracts and the rounds are logarithmic in the component
    // size, where propagating labels over the original edges needs as many rounds as the
    // longest co-spend chain. At the fixpoint every component is a star around its smallest id.
    let df = work
        .sql(
            "edges 0",
            &format!("SELECT DISTINCT chain, a, b FROM {edges} WHERE a <> b"),
        )
        .await?;
    let (mut stars, _) = work.materialize("stars_0", df).await?;
    let mut iterations = 0;
    loop {
        iterations += 1;
        crate::work::within_bound(JOB, iterations, MAX_ITERATIONS)?;
        let step = format!("large_{iterations}");
        let df = work.sql(&step, &large_star_sql(&stars)).await?;
        let (large, _) = work.materialize(&step, df).await?;
        let step = format!("stars_{iterations}");
        let df = work.sql(&step, &small_star_sql(&large)).await?;
        let (next, _) = work.materialize(&step, df).await?;
        work.drop_state(&large).await?;
        let changed = count(
            &work,
            &format!(
                "SELECT count(*) AS n FROM {stars} x FULL OUTER JOIN {next} y \
                   ON x.chain = y.chain AND x.a = y.a AND x.b = y.b \
                 WHERE x.a IS NULL OR y.a IS NULL"
            ),
        )
        .await?;
        tracing::debug!(iteration = iterations, changed, "star contraction");
        work.drop_state(&stars).await?;
        stars = next;
        if changed == 0 {
            break;
        }
    }
    // Each address's label: the smallest of itself and its neighbours (the star's centre).
    let df = work
        .sql(
            "labels",
            &format!(
                "SELECT chain, v, m AS label FROM ({})",
                smallest_around(&stars)
            ),
        )
        .await?;
    let (labels, _) = work.materialize("labels", df).await?;
    let df = work
        .sql(
            "entities",
            &format!(
                "SELECT o.chain, o.address_id, coalesce(l.label, o.address_id) AS entity \
                 FROM (SELECT DISTINCT chain, address_id FROM outputs \
                       WHERE address_id IS NOT NULL) o \
                 LEFT JOIN {labels} l ON l.chain = o.chain AND l.v = o.address_id"
            ),
        )
        .await?;
    let batches = work
        .result("entities", df, &["chain", "address_id"])
        .await?;
    let mut chains: Vec<(String, Vec<Member>)> = Vec::new();
    for b in &batches {
        let c = Columns::new(JOB, b);
        let (chain, id, entity) = (
            c.strings("chain")?,
            c.u64s("address_id")?,
            c.u64s("entity")?,
        );
        for i in 0..b.num_rows() {
            let name = present(JOB, "chain", chain[i].clone())?;
            let m = Member {
                address_id: present(JOB, "address_id", id[i])?,
                entity: present(JOB, "entity", entity[i])?,
            };
            match chains.last_mut() {
                Some((c, members)) if *c == name => members.push(m),
                _ => chains.push((name, vec![m])),
            }
        }
    }
    let df = work
        .sql("coinjoins", &format!("SELECT * FROM {coinjoins}"))
        .await?;
    let batches = work
        .result("coinjoins", df, &["chain", "height", "tx_index"])
        .await?;
    let mut flagged = Vec::new();
    for b in &batches {
        let c = Columns::new(JOB, b);
        let (chain, height, index, rule) = (
            c.strings("chain")?,
            c.u64s("height")?,
            c.u64s("tx_index")?,
            c.strings("rule")?,
        );
        for i in 0..b.num_rows() {
            flagged.push(Flagged {
                chain: present(JOB, "chain", chain[i].clone())?,
                height: present(JOB, "height", height[i])?,
                tx_index: present(JOB, "tx_index", index[i])?,
                rule: present(JOB, "rule", rule[i].clone())?,
            });
        }
    }
    work.finish(
        Clusters {
            chains,
            coinjoins: flagged,
        },
        iterations,
    )
    .await
}

/// Every edge of `edges` in both directions, as (chain, v, u): `u` is a neighbour of `v`.
fn both_ways(edges: &str) -> String {
    format!("SELECT chain, a AS v, b AS u FROM {edges} UNION ALL SELECT chain, b, a FROM {edges}")
}

/// Each node `v` of `edges` with `m`, the smallest of itself and its neighbours.
fn smallest_around(edges: &str) -> String {
    format!(
        "SELECT chain, v, CASE WHEN min(u) < v THEN min(u) ELSE v END AS m \
         FROM ({}) GROUP BY chain, v",
        both_ways(edges)
    )
}

/// Large star: each node `v` links every larger neighbour to the smallest of `v` and its
/// neighbours.
fn large_star_sql(edges: &str) -> String {
    format!(
        "WITH n AS ({both}), m AS ({smallest}) \
         SELECT DISTINCT n.chain, n.u AS a, m.m AS b \
         FROM n JOIN m ON m.chain = n.chain AND m.v = n.v WHERE n.u > n.v",
        both = both_ways(edges),
        smallest = smallest_around(edges)
    )
}

/// Small star: each node `v` links itself and its smaller neighbours to the smallest of them.
fn small_star_sql(edges: &str) -> String {
    format!(
        "WITH n AS ({both}), \
         m AS (SELECT chain, v, min(u) AS m FROM n WHERE u < v GROUP BY chain, v) \
         SELECT DISTINCT chain, a, b FROM ( \
           SELECT n.chain, n.u AS a, m.m AS b \
           FROM n JOIN m ON m.chain = n.chain AND m.v = n.v WHERE n.u < n.v \
           UNION ALL SELECT chain, v AS a, m AS b FROM m) \
         WHERE a <> b",
        both = both_ways(edges)
    )
}

/// The single count a query answers.
pub(crate) async fn count(work: &Work<'_>, sql: &str) -> Result<u64, JobError> {
    let batches = work.query("count", sql).await?;
    let mut n = 0;
    for b in &batches {
        let c = Columns::new(work.job, b);
        n += c.u64s("n")?.iter().flatten().sum::<u64>();
    }
    Ok(n)
}
