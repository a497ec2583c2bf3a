//! The chain-agnostic model of tracehound.
//!
//! Every other crate speaks these types: a [`Chain`] with its parameters, an [`Asset`]
//! with its decimals, a validated [`Address`] in the chain's canonical text form, an exact
//! [`Amount`] in base units (never a float), and the two shapes value moves in:
//! [`UtxoTx`] (inputs → outputs, taint mixes inside the tx) and [`Transfer`] (account chains,
//! ordered by block, tx index and log/trace index).
//!
//! ```
//! use tracehound_core::{Address, Amount, Chain};
//! let chain = Chain::BitcoinMainnet;
//! let addr = Address::parse(chain, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")?;
//! assert_eq!(addr.as_str(), "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa");
//! let fifty = Amount::from_decimal_str("50", 8)?;
//! assert_eq!(fifty.units(), 5_000_000_000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(clippy::unwrap_used)]

mod account;
mod address;
mod amount;
mod chain;
mod error;
pub mod fixtures;
mod hash;
pub mod link;
mod payee;
mod tx;

pub use account::{AccountBlock, AccountTransfer, AccountTx, OPENING_TX_INDEX, TokenInfo};
pub use address::{Address, AddressError, ScriptKind};
pub use amount::{Amount, AmountError};
pub use chain::{Asset, AssetId, Chain, ChainFamily, ChainParseError, UtxoParams};
pub use error::error_chain;
pub use hash::{Hash32, HashParseError};
pub use link::{Destination, LinkConfig, LinkConfigError, LinkFact, LinkKind, LinkLeg};
pub use payee::{AccountPseudo, Payee, PayeeRepr};
pub use tx::{
    Block, OutPoint, ResolvedPrevout, Transfer, TransferKind, TxRef, UtxoBlock, UtxoInput,
    UtxoOutput, UtxoTx,
};
