//! The account ledger as a window function, `tracehound_account_ledger(...) OVER (PARTITION BY
//! chain, address ORDER BY height, tx_index, fee, sub_index)`: one address's transfers in the
//! order they apply, each applied to that address's per-asset [`Ledger`] exactly as the
//! native walk applies them (`tracehound_trace`'s `AccountWalk`). A haircut ledger is a
//! sequential recurrence with a rounding at every outflow, which no join or window aggregate
//! expresses; one call per address partition runs it in order.
//!
//! The function sees one address; what it receives tainted comes in as columns (the taint
//! each transfer carried in the previous iteration), and what it sends tainted goes out (the
//! next iteration's receipts). See [`super::account`] for the fixpoint around it.
//!
//! Arguments, in order (every one a column or a literal):
//!
//! | # | argument | type | meaning |
//! |---|---|---|---|
//! | 0 | policy | UInt8 | 0 poison, 1 haircut |
//! | 1 | dust | Decimal128(38,0) | the asset's dust threshold: a tainted receipt with less taint, while the address is not tainted yet, stops as `dust` |
//! | 2 | max_hops | UInt32 | a tainted receipt deeper than this, while the address is not tainted yet, stops as `hop_limit` |
//! | 3 | role | UInt8 | 0: the address sends, 1: it receives, 2: both (a transfer to itself) |
//! | 4 | asset | Utf8 | `native` or the token contract |
//! | 5 | amount | Decimal128(38,0) | base units |
//! | 6 | fee | Boolean | a gas fee |
//! | 7 | taint_in | Decimal128(38,0), null | receipts: the taint the transfer carries |
//! | 8 | depth_in | UInt32, null | receipts: its hop |
//! | 9 | stolen | Decimal128(38,0), null | transfers to itself: the part stolen there (a receipt's stolen part comes within its `taint_in`; a transfer to itself is one row, whose taint in is worked out here) |
//! | 10 | source_on | Boolean | the address is a source and this transfer is at or after its start |
//! | 11 | source_asset | Boolean | the asset is one the incident says was stolen |
//!
//! Result per row, a struct: `own` (what the address sent tainted by this transfer), `hop`
//! (that outflow's hop), `new_stolen` (a source's outflow: what is newly stolen by it),
//! `taint` and `depth` (a receipt's taint and hop), `stop` (a receipt that stopped at an
//! address not yet tainted: `fee`, `dust`, `hop_limit`), `rest` and `rest_hops` (the taint the
//! address still holds of an asset at the end, and the hops its place was first reached by:
//! carried on that asset's last row, though not about that transfer).
//!
//! An amount the export clamped to 10^38 − 1 (a spam token's made-up supply) is refused: the
//! ledger would not be the chain's.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Builder, StringBuilder, StructArray,
    UInt32Array, UInt32Builder,
};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Field, FieldRef, Fields, UInt8Type};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    PartitionEvaluator, Signature, Volatility, WindowUDF, WindowUDFImpl,
};
use tracehound_trace::{Ledger, Parcel, Policy};

/// The function's name in SQL.
pub const NAME: &str = "tracehound_account_ledger";

/// Role of a row: the address sends.
pub(crate) const SEND: u8 = 0;
/// Role of a row: the address receives.
pub(crate) const RECEIVE: u8 = 1;
/// Role of a row: a transfer from the address to itself.
pub(crate) const SELF: u8 = 2;

/// Largest amount a `Decimal128(38, 0)` holds.
const MAX_AMOUNT: u128 = 10u128.pow(38) - 1;

/// The window function, to register on a session (`SessionContext::register_udwf`) and on
/// every Ballista node that runs the trace job on account chains.
pub fn account_ledger() -> WindowUDF {
    WindowUDF::from(AccountLedger {
        signature: Signature::any(12, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct AccountLedger {
    signature: Signature,
}

fn amount_type() -> DataType {
    DataType::Decimal128(38, 0)
}

fn result_fields() -> Fields {
    Fields::from(vec![
        Field::new("own", amount_type(), true),
        Field::new("hop", DataType::UInt32, true),
        Field::new("new_stolen", amount_type(), true),
        Field::new("taint", amount_type(), true),
        Field::new("depth", DataType::UInt32, true),
        Field::new("stop", DataType::Utf8, true),
        Field::new("rest", amount_type(), true),
        Field::new("rest_hops", DataType::UInt32, true),
    ])
}

impl WindowUDFImpl for AccountLedger {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn partition_evaluator(
        &self,
        _: PartitionEvaluatorArgs<'_>,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(Evaluator))
    }

    fn field(&self, args: WindowUDFFieldArgs<'_>) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            args.name(),
            DataType::Struct(result_fields()),
            true,
        )))
    }
}

#[derive(Debug)]
struct Evaluator;

fn bad(what: String) -> DataFusionError {
    DataFusionError::Execution(format!("{NAME}: {what}"))
}

/// Column `i` of `values` as amounts (nulls as `None`).
fn amounts(values: &[ArrayRef], i: usize, name: &str) -> Result<Vec<Option<u128>>> {
    let a = &values[i];
    match a.data_type() {
        DataType::Decimal128(_, 0) => a
            .as_primitive::<Decimal128Type>()
            .iter()
            .map(|v| {
                v.map(|v| u128::try_from(v).map_err(|_| bad(format!("{name} is negative"))))
                    .transpose()
            })
            .collect(),
        other => Err(bad(format!("{name} is {other}, not a decimal of scale 0"))),
    }
}

fn u32s<'a>(values: &'a [ArrayRef], i: usize, name: &str) -> Result<&'a UInt32Array> {
    values[i]
        .as_primitive_opt()
        .ok_or_else(|| bad(format!("{name} is {}, not UInt32", values[i].data_type())))
}

fn bools<'a>(values: &'a [ArrayRef], i: usize, name: &str) -> Result<&'a BooleanArray> {
    values[i]
        .as_boolean_opt()
        .ok_or_else(|| bad(format!("{name} is {}, not Boolean", values[i].data_type())))
}

/// One address's state as its transfers apply.
struct Account {
    policy: Policy,
    /// Tainted (a receipt that did not stop came in, or a source from its start).
    tracked: bool,
    /// Fewest hops of a tainted receipt so far (a source: 0).
    depth: u32,
    /// Before it is tracked: the clean balance per asset (sent beyond it: clean value that
    /// was already there, as the native walk's prefix ledgers have it).
    clean: HashMap<String, u128>,
    /// Once tracked: the ledger per asset.
    ledgers: HashMap<String, Ledger>,
    /// Hops of each asset's place when it was first reached (the native walk's node depth).
    reached: HashMap<String, u32>,
}

impl Account {
    fn new(policy: Policy) -> Account {
        Account {
            policy,
            tracked: false,
            depth: 0,
            clean: HashMap::new(),
            ledgers: HashMap::new(),
            reached: HashMap::new(),
        }
    }

    /// Starts tracking at `depth`: each asset's ledger holds its clean balance.
    fn track(&mut self, depth: u32) {
        self.tracked = true;
        self.depth = depth;
        for (asset, b) in self.clean.drain() {
            let mut l = Ledger::new(self.policy);
            l.receive(Parcel::new(b, 0));
            self.ledgers.insert(asset, l);
        }
    }

    fn ledger(&mut self, asset: &str) -> &mut Ledger {
        let policy = self.policy;
        self.ledgers
            .entry(asset.to_string())
            .or_insert_with(|| Ledger::new(policy))
    }

    fn clean_send(&mut self, asset: &str, amount: u128) {
        let b = self.clean.entry(asset.to_string()).or_default();
        *b = b.saturating_sub(amount);
    }

    fn clean_receive(&mut self, asset: &str, amount: u128) -> Result<()> {
        let b = self.clean.entry(asset.to_string()).or_default();
        *b = b
            .checked_add(amount)
            .ok_or_else(|| bad(format!("a balance of {asset} beyond 128 bits")))?;
        Ok(())
    }

    /// The address sends `amount` of `asset`: its tainted part, that outflow's hop (when
    /// tainted), and what is newly stolen (a source's stolen asset: all it sends is stolen,
    /// less what came back tainted).
    fn send(&mut self, asset: &str, amount: u128, source: bool) -> (u128, Option<u32>, u128) {
        if !self.tracked {
            self.clean_send(asset, amount);
            return (0, None, 0);
        }
        let carried = self.ledger(asset).send(amount);
        let (own, new) = match (source, self.policy.conserves()) {
            (false, _) => (carried, 0),
            (true, true) => (amount, amount - carried.min(amount)),
            (true, false) => (amount, amount),
        };
        if own == 0 {
            return (0, None, 0);
        }
        self.reach(asset);
        (own, Some(self.depth.saturating_add(1)), new)
    }

    /// The address receives `amount` of `asset` carrying `taint` at hop `depth`: into its
    /// ledger if it is tainted; else, tainted, it is taken in unless a stop rule (`limits`:
    /// the asset's dust, the hop limit) holds, which it returns; else it is clean.
    fn receive(
        &mut self,
        asset: &str,
        amount: u128,
        (taint, depth): (u128, u32),
        fee: bool,
        (dust, max_hops): (u128, u32),
    ) -> Result<Option<&'static str>> {
        if self.tracked {
            self.ledger(asset).receive(Parcel::new(amount, taint));
            if taint > 0 {
                self.depth = self.depth.min(depth);
                self.reach(asset);
            }
            return Ok(None);
        }
        let stop = (taint > 0)
            .then(|| stop_of(fee, taint, depth, dust, max_hops))
            .flatten();
        if taint == 0 || stop.is_some() {
            self.clean_receive(asset, amount)?;
        } else {
            self.track(depth);
            self.ledger(asset).receive(Parcel::new(amount, taint));
            self.reach(asset);
        }
        Ok(stop)
    }

    fn reach(&mut self, asset: &str) {
        let depth = self.depth;
        self.reached.entry(asset.to_string()).or_insert(depth);
    }
}

/// What stops a tainted receipt at an address not yet tainted, if anything.
fn stop_of(fee: bool, taint: u128, depth: u32, dust: u128, max_hops: u32) -> Option<&'static str> {
    if fee {
        Some("fee")
    } else if taint < dust {
        Some("dust")
    } else if depth > max_hops {
        Some("hop_limit")
    } else {
        None
    }
}

struct Out {
    own: Decimal128Builder,
    hop: UInt32Builder,
    new_stolen: Decimal128Builder,
    taint: Decimal128Builder,
    depth: UInt32Builder,
    stop: StringBuilder,
    rest: Decimal128Builder,
    rest_hops: UInt32Builder,
}

fn positive(b: &mut Decimal128Builder, v: u128) -> Result<()> {
    if v == 0 {
        b.append_null();
        return Ok(());
    }
    if v > MAX_AMOUNT {
        return Err(bad(format!("{v} does not fit Decimal128(38, 0)")));
    }
    b.append_value(v as i128);
    Ok(())
}

impl Out {
    fn new(n: usize) -> Out {
        let dec = || {
            Decimal128Builder::with_capacity(n)
                .with_precision_and_scale(38, 0)
                .expect("38, 0 is a valid decimal")
        };
        Out {
            own: dec(),
            hop: UInt32Builder::with_capacity(n),
            new_stolen: dec(),
            taint: dec(),
            depth: UInt32Builder::with_capacity(n),
            stop: StringBuilder::new(),
            rest: dec(),
            rest_hops: UInt32Builder::with_capacity(n),
        }
    }

    fn finish(mut self) -> Result<ArrayRef> {
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(self.own.finish()),
            Arc::new(self.hop.finish()),
            Arc::new(self.new_stolen.finish()),
            Arc::new(self.taint.finish()),
            Arc::new(self.depth.finish()),
            Arc::new(self.stop.finish()),
            Arc::new(self.rest.finish()),
            Arc::new(self.rest_hops.finish()),
        ];
        Ok(Arc::new(StructArray::try_new(
            result_fields(),
            arrays,
            None,
        )?))
    }
}

impl PartitionEvaluator for Evaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        if values.len() != 12 {
            return Err(bad(format!("takes 12 arguments, not {}", values.len())));
        }
        let mut out = Out::new(num_rows);
        if num_rows == 0 {
            return out.finish();
        }
        let policy = match values[0]
            .as_primitive_opt::<UInt8Type>()
            .ok_or_else(|| bad("policy is not UInt8".into()))?
            .value(0)
        {
            0 => Policy::Poison,
            1 => Policy::Haircut,
            p => return Err(bad(format!("policy {p}: 0 (poison) or 1 (haircut)"))),
        };
        let dust = amounts(values, 1, "dust")?;
        let max_hops = u32s(values, 2, "max_hops")?.value(0);
        let role = values[3]
            .as_primitive_opt::<UInt8Type>()
            .ok_or_else(|| bad("role is not UInt8".into()))?;
        // Parquet text may come as a view array: read it as plain Utf8.
        let asset = datafusion::arrow::compute::cast(&values[4], &DataType::Utf8)?;
        let asset = asset
            .as_string_opt::<i32>()
            .ok_or_else(|| bad(format!("asset is {}, not text", values[4].data_type())))?;
        let amount = amounts(values, 5, "amount")?;
        let fee = bools(values, 6, "fee")?;
        let taint_in = amounts(values, 7, "taint_in")?;
        let depth_in = u32s(values, 8, "depth_in")?;
        let stolen = amounts(values, 9, "stolen")?;
        let source_on = bools(values, 10, "source_on")?;
        let source_asset = bools(values, 11, "source_asset")?;

        // Each asset's last row carries what the address still holds of it.
        let mut last: HashMap<&str, usize> = HashMap::new();
        for i in 0..num_rows {
            last.insert(asset.value(i), i);
        }
        let mut a = Account::new(policy);
        let mut source = false;
        // Assets with an amount the export clamped: harmless while clean.
        let mut clamped: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for i in 0..num_rows {
            let (asset, amount) = (asset.value(i), amount[i].unwrap_or(0));
            if amount >= MAX_AMOUNT {
                clamped.insert(asset);
            }
            let dust = dust[i].unwrap_or(0);
            let fee = fee.value(i);
            if source_on.is_valid(i) && source_on.value(i) && !a.tracked {
                a.track(0);
                source = true;
            }
            let is_source = source && source_asset.is_valid(i) && source_asset.value(i);
            let (mut own, mut hop, mut new_stolen) = (0, None, 0);
            let mut receipt: Option<(u128, u32)> = None;
            let mut stop = None;
            match role.value(i) {
                SEND => (own, hop, new_stolen) = a.send(asset, amount, is_source),
                RECEIVE => {
                    let taint = taint_in[i].unwrap_or(0).min(amount);
                    let depth = if depth_in.is_valid(i) {
                        depth_in.value(i)
                    } else {
                        1
                    };
                    stop = a.receive(asset, amount, (taint, depth), fee, (dust, max_hops))?;
                    if taint > 0 {
                        receipt = Some((taint, depth));
                    }
                }
                SELF => {
                    let stolen = stolen[i].unwrap_or(0);
                    (own, hop, new_stolen) = a.send(asset, amount, is_source);
                    let taint = own + stolen.min(amount - own.min(amount));
                    // The parts' fewest hops: a stolen part's 1, else the outflow's.
                    let depth = if stolen > 0 { 1 } else { hop.unwrap_or(1) };
                    // Its balance has left (the send above, clean if it was not tainted);
                    // it comes back.
                    stop = a.receive(asset, amount, (taint, depth), fee, (dust, max_hops))?;
                    if taint > 0 {
                        receipt = Some((taint, depth));
                    }
                }
                r => return Err(bad(format!("role {r}: 0, 1 or 2"))),
            }
            if clamped.contains(asset)
                && (own > 0
                    || receipt.is_some()
                    || a.ledgers.get(asset).is_some_and(|l| l.taint() > 0))
            {
                return Err(bad(format!(
                    "tainted {asset} has an amount beyond what the export holds (clamped to \
                     10^38 - 1): it cannot be traced exactly from the dataset"
                )));
            }
            positive(&mut out.own, own)?;
            out.hop.append_option(hop);
            positive(&mut out.new_stolen, new_stolen)?;
            match receipt {
                Some((t, d)) => {
                    positive(&mut out.taint, t)?;
                    out.depth.append_value(d);
                }
                None => {
                    out.taint.append_null();
                    out.depth.append_null();
                }
            }
            out.stop.append_option(stop);
            let rest = if a.tracked && last.get(asset) == Some(&i) {
                a.ledgers.get(asset).map_or(0, Ledger::taint)
            } else {
                0
            };
            positive(&mut out.rest, rest)?;
            out.rest_hops.append_option(
                (rest > 0).then(|| a.reached.get(asset).copied().unwrap_or(a.depth)),
            );
        }
        out.finish()
    }
}
