//! Addresses and chains as label files give them, made canonical, so that the same address
//! from two sources is one key.
//!
//! - EVM: `0x` and 40 hex digits; stored in lower case. A mixed-case address is an EIP-55
//!   checksum and must be a correct one (checked with alloy's primitives): a wrong checksum
//!   is a typo, and the label would land on another address. All-lower and all-upper hex
//!   carry no checksum and are accepted.
//! - UTXO chains: base58check with the chain's version bytes, or bech32/bech32m segwit with
//!   its human-readable part, validated by the `bitcoin` crate (via `tracehound-core`);
//!   bech32 is stored in lower case, Litecoin's old `3…` P2SH as `M…`.
//!
//! Chains come from a currency or asset code (tagpack `currency`, the OFAC file name's
//! asset) through [`CURRENCIES`], or from a chain name (`ethereum`, `bsc`, `evm-61`).

use std::str::FromStr;

use tracehound_core::{Address, Chain, ChainFamily};

/// Currency and asset codes and the chain their addresses live on. `None`: a token issued on
/// several chains (USDT, USDC; OMNI for Omni-layer tokens on Bitcoin), whose chain follows
/// from the address's form (`0x…` Ethereum, anything else Bitcoin). Codes not listed here
/// (TRX, XMR, XRP, DASH, BEP2, …) name chains tracehound does not model; their tags are
/// rejected as "unknown chain".
pub const CURRENCIES: &[(&str, Option<Chain>)] = &[
    ("BTC", Some(Chain::BitcoinMainnet)),
    ("XBT", Some(Chain::BitcoinMainnet)),
    ("LTC", Some(Chain::LitecoinMainnet)),
    ("BCH", Some(Chain::BitcoinCashMainnet)),
    ("DOGE", Some(Chain::DogecoinMainnet)),
    ("ZEC", Some(Chain::ZcashMainnet)),
    ("ETH", Some(Chain::Evm(1))),
    ("ETC", Some(Chain::Evm(61))),
    ("BSC", Some(Chain::Evm(56))),
    ("BNB", Some(Chain::Evm(56))),
    ("BEP20", Some(Chain::Evm(56))),
    ("MATIC", Some(Chain::Evm(137))),
    ("POL", Some(Chain::Evm(137))),
    ("POLYGON", Some(Chain::Evm(137))),
    ("ARB", Some(Chain::Evm(42161))),
    ("OP", Some(Chain::Evm(10))),
    ("BASE", Some(Chain::Evm(8453))),
    ("AVAX", Some(Chain::Evm(43114))),
    ("FTM", Some(Chain::Evm(250))),
    ("USDT", None),
    ("USDC", None),
    ("OMNI", None),
];

/// The chain of a currency or asset code (case-insensitive) for `address`, or of a chain
/// name; `Err` says why not.
pub fn chain_of(code: &str, address: &str) -> Result<Chain, String> {
    let upper = code.trim().to_ascii_uppercase();
    match CURRENCIES.iter().find(|(c, _)| *c == upper) {
        Some((_, Some(chain))) => Ok(*chain),
        Some((_, None)) => Ok(if address.trim().starts_with("0x") {
            Chain::Evm(1)
        } else {
            Chain::BitcoinMainnet
        }),
        None => Chain::from_str(code.trim())
            .map_err(|_| format!("unknown chain: currency {code:?} is not one tracehound models")),
    }
}

/// `text` as a canonical address of `chain`; `Err` says what is wrong.
pub fn address(chain: Chain, text: &str) -> Result<Address, String> {
    let text = text.trim();
    if chain.family() == ChainFamily::Account
        && let Some(hex) = text.strip_prefix("0x")
    {
        let upper = hex.bytes().any(|b| b.is_ascii_uppercase());
        let lower = hex.bytes().any(|b| b.is_ascii_lowercase());
        if upper && lower && hex.len() == 40 {
            alloy_primitives::Address::parse_checksummed(text, None)
                .map_err(|_| format!("{text:?} has a bad EIP-55 checksum"))?;
        }
    }
    let a = Address::parse(chain, text).map_err(|e| e.to_string())?;
    if a.is_pseudo() {
        // Pseudo-addresses name the store's own sinks; no label file tags those.
        return Err(format!("{text:?} is not an address"));
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evm_checksums_are_checked_and_case_folded() {
        let e = Chain::Evm(1);
        let good = "0x52908400098527886E0F7030069857D2E4169EE7";
        let a = address(e, good).unwrap();
        assert_eq!(a.as_str(), good.to_lowercase());
        assert_eq!(address(e, &good.to_lowercase()).unwrap(), a);
        assert_eq!(
            address(e, &good.to_uppercase().replace("0X", "0x")).unwrap(),
            a
        );
        let bad = "0x52908400098527886E0F7030069857D2E4169Ee7";
        assert!(address(e, bad).unwrap_err().contains("checksum"));
        assert!(address(e, "0x1234").is_err());
        assert!(address(e, "burn:fee").is_err());
    }

    #[test]
    fn currencies_pick_chains() {
        assert_eq!(chain_of("XBT", "1A1z"), Ok(Chain::BitcoinMainnet));
        assert_eq!(chain_of("bep20", "0x"), Ok(Chain::Evm(56)));
        assert_eq!(chain_of("USDT", "0xab"), Ok(Chain::Evm(1)));
        assert_eq!(chain_of("USDT", "1Df8"), Ok(Chain::BitcoinMainnet));
        assert_eq!(chain_of("arbitrum", "0x"), Ok(Chain::Evm(42161)));
        assert!(chain_of("TRX", "T…").unwrap_err().contains("unknown chain"));
    }
}
