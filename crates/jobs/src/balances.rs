//! Balances: per chain and address (and asset, on account chains) what it received, sent and
//! holds, and how many txs (UTXO) or transfers (account) touched it — computed from the
//! movements (inputs and outputs, or transfers), not read from the `addresses` table, so the
//! job checks that table's figures as much as it reproduces them.
//!
//! The rules are the store's own:
//! - **UTXO**: received is the sum of the outputs paying the address, sent the sum of the
//!   inputs spending from it; the tx count counts each tx once however many of its inputs
//!   and outputs the address has. Inputs of outputs that paid no address are left out.
//! - **Account**: per (address, asset), a transfer adds its amount to the receiver's received
//!   and the sender's sent and counts once for each; a transfer to oneself is one flow, adding
//!   to both received and sent and counting once.
//! - The balance is received − sent, and 0 if an incomplete history sent more.
//!
//! Result `balances`, sorted by (chain, address, asset): chain, address_id (UTXO; null on
//! account chains, whose transfers carry addresses as text), address, asset (`native` or the
//! token contract), received, sent, balance (`Decimal128(38, 0)` base units), tx_count.

use std::path::Path;

use crate::JobError;
use crate::dataset::Dataset;
use crate::work::{Columns, Output, Work, amount_text, present};

const JOB: &str = "balances";

/// One address's (and asset's) totals.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Balance {
    /// Chain name.
    pub chain: String,
    /// The store's address id (UTXO chains).
    pub address_id: Option<u64>,
    /// The address.
    pub address: String,
    /// `native` or the token contract.
    pub asset: String,
    /// Base units received.
    #[serde(serialize_with = "amount_text")]
    pub received: u128,
    /// Base units sent.
    #[serde(serialize_with = "amount_text")]
    pub sent: u128,
    /// Received − sent (0 if more was sent).
    #[serde(serialize_with = "amount_text")]
    pub balance: u128,
    /// Txs (UTXO) or transfers (account) touching it.
    pub tx_count: u64,
}

/// The id the UTXO export writes for an input whose spent output paid no address.
const NO_ADDRESS: &str = "18446744073709551615";

/// The UTXO part: per chain and address, received, sent and tx count (as `balances` columns,
/// without the balance), from `outputs` and `inputs` (an empty `inputs` is no inputs).
pub(crate) fn utxo_sql(dataset: &Dataset) -> String {
    let inputs = if dataset.has_rows("inputs") {
        format!(
            "UNION ALL SELECT chain, address_id, address, height, tx_index, \
             CAST(0 AS BIGINT UNSIGNED) AS received, value AS sent \
             FROM inputs WHERE address_id <> {NO_ADDRESS}"
        )
    } else {
        String::new()
    };
    format!(
        "SELECT chain, address_id, max(address) AS address, 'native' AS asset, \
           CAST(sum(received) AS DECIMAL(38, 0)) AS received, \
           CAST(sum(sent) AS DECIMAL(38, 0)) AS sent, \
           CAST(count(*) AS BIGINT UNSIGNED) AS tx_count \
         FROM ( \
           SELECT chain, address_id, max(address) AS address, height, tx_index, \
             sum(received) AS received, sum(sent) AS sent \
           FROM ( \
             SELECT chain, address_id, address, height, tx_index, \
               value AS received, CAST(0 AS BIGINT UNSIGNED) AS sent \
             FROM outputs WHERE address_id IS NOT NULL \
             {inputs} \
           ) GROUP BY chain, address_id, height, tx_index \
         ) GROUP BY chain, address_id"
    )
}

/// The account part: per chain, address and asset, received, sent and transfer count (as
/// `balances` columns, without the balance; `address_id` null), from `transfers`.
pub(crate) fn account_sql() -> String {
    "SELECT chain, CAST(NULL AS BIGINT UNSIGNED) AS address_id, address, asset, \
       CAST(sum(received) AS DECIMAL(38, 0)) AS received, \
       CAST(sum(sent) AS DECIMAL(38, 0)) AS sent, \
       CAST(count(*) AS BIGINT UNSIGNED) AS tx_count \
     FROM ( \
       SELECT chain, \"from\" AS address, asset, amount AS received, amount AS sent \
       FROM transfers WHERE \"from\" = \"to\" \
       UNION ALL \
       SELECT chain, \"from\", asset, CAST(0 AS DECIMAL(38, 0)), amount \
       FROM transfers WHERE \"from\" <> \"to\" \
       UNION ALL \
       SELECT chain, \"to\", asset, amount, CAST(0 AS DECIMAL(38, 0)) \
       FROM transfers WHERE \"from\" <> \"to\" \
     ) GROUP BY chain, address, asset"
        .to_string()
}

/// Plans the balances of every chain of the dataset (UTXO from `inputs`/`outputs`, account
/// from `transfers`).
pub fn sql(dataset: &Dataset) -> Result<String, JobError> {
    let mut parts = Vec::new();
    if dataset.has_rows("outputs") {
        dataset.require("inputs", JOB)?;
        parts.push(utxo_sql(dataset));
    } else {
        dataset.require("outputs", JOB)?;
    }
    if dataset.has_rows("transfers") {
        parts.push(account_sql());
    } else {
        dataset.require("transfers", JOB)?;
    }
    if parts.is_empty() {
        return Err(JobError::Input {
            job: JOB,
            what: format!(
                "dataset {} has no outputs and no transfers: nothing to total",
                dataset.dir().display()
            ),
        });
    }
    Ok(format!(
        "SELECT chain, address_id, address, asset, received, sent, \
           CASE WHEN received >= sent THEN received - sent ELSE CAST(0 AS DECIMAL(38, 0)) END \
             AS balance, \
           tx_count \
         FROM ({})",
        parts.join(" UNION ALL ")
    ))
}

/// Runs the job: writes `<out>/balances/` and returns its rows sorted by (chain, address,
/// asset).
pub async fn run(
    ctx: &datafusion::prelude::SessionContext,
    dataset: &Dataset,
    out: &Path,
) -> Result<Output<Vec<Balance>>, JobError> {
    let mut work = Work::start(ctx, JOB, out).await?;
    let df = work.sql("totals", &sql(dataset)?).await?;
    let batches = work
        .result("balances", df, &["chain", "address", "asset"])
        .await?;
    let mut rows = Vec::new();
    for b in &batches {
        let c = Columns::new(JOB, b);
        let (chain, id, address, asset) = (
            c.strings("chain")?,
            c.u64s("address_id")?,
            c.strings("address")?,
            c.strings("asset")?,
        );
        let (received, sent, balance, count) = (
            c.amounts("received")?,
            c.amounts("sent")?,
            c.amounts("balance")?,
            c.u64s("tx_count")?,
        );
        for i in 0..b.num_rows() {
            let at = |v: &Vec<Option<String>>, name| present(JOB, name, v[i].clone());
            rows.push(Balance {
                chain: at(&chain, "chain")?,
                address_id: id[i],
                address: at(&address, "address")?,
                asset: at(&asset, "asset")?,
                received: present(JOB, "received", received[i])?,
                sent: present(JOB, "sent", sent[i])?,
                balance: present(JOB, "balance", balance[i])?,
                tx_count: present(JOB, "tx_count", count[i])?,
            });
        }
    }
    work.finish(rows, 1).await
}
