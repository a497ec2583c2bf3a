//! Token movements from receipt logs: ERC-20, wrapped native, ERC-721 and ERC-1155.
//!
//! The events share signatures, so the topic count tells them apart, as the standards fix it:
//! - ERC-20 `Transfer(address indexed, address indexed, uint256)`: 3 topics, 32 bytes of data;
//! - ERC-721 `Transfer(address indexed, address indexed, uint256 indexed)`: 4 topics, no data;
//! - ERC-1155 `TransferSingle` / `TransferBatch`: 4 topics (operator, from, to);
//! - WETH9 `Deposit(address indexed, uint256)` / `Withdrawal(address indexed, uint256)`: 2 topics,
//!   32 bytes — counted only for contracts known to wrap the native coin, since many unrelated
//!   contracts emit events of the same name and shape.
//!
//! Any other shape of these events (non-standard tokens that index nothing, for one) is not a
//! transfer this module can vouch for and is left out. Decoding is alloy's `sol!`.

use alloy::primitives::{Address, Log, LogData, U256};
use alloy::sol;
use alloy::sol_types::SolEvent;

sol! {
    /// ERC-20 (3 topics) and ERC-721 (4 topics) transfer; decoded by hand for the topic count.
    event Transfer(address indexed from, address indexed to, uint256 value);
    /// ERC-721's form of `Transfer`.
    event Erc721Transfer(address indexed from, address indexed to, uint256 indexed tokenId);
    /// ERC-1155 single transfer.
    event TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value);
    /// ERC-1155 batch transfer.
    event TransferBatch(address indexed operator, address indexed from, address indexed to, uint256[] ids, uint256[] values);
    /// WETH9: native wrapped into tokens.
    event Deposit(address indexed dst, uint256 wad);
    /// WETH9: tokens unwrapped into native.
    event Withdrawal(address indexed src, uint256 wad);
}

/// A movement decoded from one log.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum TokenMove {
    /// ERC-20 transfer.
    Fungible {
        /// Payer.
        from: Address,
        /// Payee.
        to: Address,
        /// Base units.
        value: U256,
    },
    /// Wrapped-native mint (`Deposit`).
    Wrap {
        /// Who wrapped.
        account: Address,
        /// Base units.
        value: U256,
    },
    /// Wrapped-native burn (`Withdrawal`).
    Unwrap {
        /// Who unwrapped.
        account: Address,
        /// Base units.
        value: U256,
    },
    /// ERC-721 or ERC-1155 movement(s): one per id (a batch gives many).
    Nft {
        /// Operator (ERC-1155 only).
        operator: Option<Address>,
        /// Payer.
        from: Address,
        /// Payee.
        to: Address,
        /// (token id, count) pairs, in the log's order.
        items: Vec<(U256, U256)>,
        /// Whether it came from `TransferBatch` (items then carry their array position).
        batch: bool,
    },
}

/// A log whose topics say it is a token event but whose content does not decode.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{event} log does not decode: {detail}")]
pub struct LogDecodeError {
    /// Which event it claimed to be.
    pub event: &'static str,
    /// What is wrong.
    pub detail: String,
}

/// Decodes a log into a token movement, if it is one. `wraps_native` says whether `emitter`
/// is a known wrapped-native contract (whose `Deposit`/`Withdrawal` then count).
pub fn decode(
    emitter: Address,
    data: &LogData,
    wraps_native: bool,
) -> Result<Option<TokenMove>, LogDecodeError> {
    let Some(topic0) = data.topics().first() else {
        return Ok(None);
    };
    let log = Log {
        address: emitter,
        data: data.clone(),
    };
    let topics = data.topics().len();
    let bytes = data.data.len();
    let fail = |event: &'static str| {
        move |e: alloy::sol_types::Error| LogDecodeError {
            event,
            detail: e.to_string(),
        }
    };
    if *topic0 == Transfer::SIGNATURE_HASH {
        return Ok(match (topics, bytes) {
            (3, 32) => {
                let t = Transfer::decode_log(&log).map_err(fail("ERC-20 Transfer"))?;
                Some(TokenMove::Fungible {
                    from: t.from,
                    to: t.to,
                    value: t.value,
                })
            }
            (4, 0) => {
                let t = Erc721Transfer::decode_log_data(&with_topic0(
                    data,
                    Erc721Transfer::SIGNATURE_HASH,
                ))
                .map_err(fail("ERC-721 Transfer"))?;
                Some(TokenMove::Nft {
                    operator: None,
                    from: t.from,
                    to: t.to,
                    items: vec![(t.tokenId, U256::from(1))],
                    batch: false,
                })
            }
            _ => None,
        });
    }
    if *topic0 == TransferSingle::SIGNATURE_HASH && topics == 4 {
        let t = TransferSingle::decode_log(&log).map_err(fail("ERC-1155 TransferSingle"))?;
        return Ok(Some(TokenMove::Nft {
            operator: Some(t.operator),
            from: t.from,
            to: t.to,
            items: vec![(t.id, t.value)],
            batch: false,
        }));
    }
    if *topic0 == TransferBatch::SIGNATURE_HASH && topics == 4 {
        let t = TransferBatch::decode_log(&log).map_err(fail("ERC-1155 TransferBatch"))?;
        if t.ids.len() != t.values.len() {
            return Err(LogDecodeError {
                event: "ERC-1155 TransferBatch",
                detail: format!("{} ids but {} values", t.ids.len(), t.values.len()),
            });
        }
        return Ok(Some(TokenMove::Nft {
            operator: Some(t.operator),
            from: t.from,
            to: t.to,
            items: t
                .ids
                .iter()
                .copied()
                .zip(t.values.iter().copied())
                .collect(),
            batch: true,
        }));
    }
    if wraps_native && topics == 2 && bytes == 32 {
        if *topic0 == Deposit::SIGNATURE_HASH {
            let d = Deposit::decode_log(&log).map_err(fail("Deposit"))?;
            return Ok(Some(TokenMove::Wrap {
                account: d.dst,
                value: d.wad,
            }));
        }
        if *topic0 == Withdrawal::SIGNATURE_HASH {
            let w = Withdrawal::decode_log(&log).map_err(fail("Withdrawal"))?;
            return Ok(Some(TokenMove::Unwrap {
                account: w.src,
                value: w.wad,
            }));
        }
    }
    Ok(None)
}

/// `Erc721Transfer` has another name, hence another signature hash, than the `Transfer` it
/// decodes: present the log under the name's hash so alloy's decoder accepts it.
fn with_topic0(data: &LogData, topic0: alloy::primitives::B256) -> LogData {
    let mut topics = data.topics().to_vec();
    if let Some(first) = topics.first_mut() {
        *first = topic0;
    }
    LogData::new_unchecked(topics, data.data.clone())
}

/// Known wrapped-native contracts by chain id: only WETH9 and its exact clones, which emit
/// `Deposit`/`Withdrawal` *instead of* `Transfer` on mint and burn. Wrappers that emit a
/// `Transfer` from or to the zero address as well (Arbitrum's aeWETH mints with `Transfer`)
/// must not be listed: their mints would count twice. More can be given in
/// [`crate::ClientOptions::wrapped_native`].
pub fn known_wrapped_native(chain_id: u64) -> &'static [&'static str] {
    match chain_id {
        1 => &["0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"], // WETH
        10 | 8453 => &["0x4200000000000000000000000000000000000006"], // WETH predeploy
        56 => &["0xbb4cdb9cbd36b01bd1cbaebf2de08d9173bc095c"], // WBNB
        137 => &["0x0d500b1d8e8ef31e21c99d1db9a6444d3adf1270"], // WPOL
        _ => &[],
    }
}
