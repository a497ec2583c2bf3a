//! Chains and their parameters, and the assets that live on them.

use std::fmt;
use std::str::FromStr;

use crate::Address;

/// A chain tracehound can hold in its store.
///
/// UTXO chains are listed by network; account (EVM) chains are named by their chain id.
/// Dogecoin, Bitcoin Cash and Zcash (transparent) have their address parameters here so their
/// addresses validate and labels import, but their block formats are not ingested yet
/// (see [`UtxoParams::ingest_supported`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Chain {
    /// Bitcoin mainnet.
    BitcoinMainnet,
    /// Bitcoin testnet3.
    BitcoinTestnet,
    /// Bitcoin testnet4.
    BitcoinTestnet4,
    /// Bitcoin default signet.
    BitcoinSignet,
    /// Bitcoin regtest.
    BitcoinRegtest,
    /// Litecoin mainnet.
    LitecoinMainnet,
    /// Litecoin testnet4.
    LitecoinTestnet,
    /// Litecoin regtest.
    LitecoinRegtest,
    /// Dogecoin mainnet (addresses only for now).
    DogecoinMainnet,
    /// Bitcoin Cash mainnet (legacy addresses only for now).
    BitcoinCashMainnet,
    /// Zcash mainnet, transparent part (addresses only for now).
    ZcashMainnet,
    /// An EVM chain by its EIP-155 chain id.
    Evm(u64),
}

/// The two shapes value moves in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ChainFamily {
    /// Inputs spend earlier outputs (Bitcoin and its descendants).
    Utxo,
    /// Accounts with balances (EVM).
    Account,
}

/// Parameters of a UTXO chain: how its blocks are framed on disk and how its addresses read.
#[derive(Clone, Copy, Debug)]
pub struct UtxoParams {
    /// The four bytes that start every block record in `blk*.dat` (the network magic).
    pub magic: [u8; 4],
    /// Display-order hash of the genesis block.
    pub genesis: &'static str,
    /// Base58 version bytes of pay-to-pubkey-hash addresses.
    pub p2pkh_prefix: &'static [u8],
    /// Base58 version bytes of pay-to-script-hash addresses.
    pub p2sh_prefix: &'static [u8],
    /// An older P2SH prefix still accepted when parsing (Litecoin's `3…` addresses).
    pub legacy_p2sh_prefix: Option<&'static [u8]>,
    /// Bech32 human-readable part of segwit addresses, where the chain has segwit.
    pub bech32_hrp: Option<&'static str>,
    /// The native coin's ticker.
    pub symbol: &'static str,
    /// Whether the chain carries MimbleWimble extension blocks (Litecoin).
    pub mweb: bool,
    /// Whether tracehound can read this chain's blocks today.
    pub ingest_supported: bool,
}

const BTC_MAIN: UtxoParams = UtxoParams {
    magic: [0xf9, 0xbe, 0xb4, 0xd9],
    genesis: "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
    p2pkh_prefix: &[0x00],
    p2sh_prefix: &[0x05],
    legacy_p2sh_prefix: None,
    bech32_hrp: Some("bc"),
    symbol: "BTC",
    mweb: false,
    ingest_supported: true,
};
const BTC_TEST: UtxoParams = UtxoParams {
    magic: [0x0b, 0x11, 0x09, 0x07],
    genesis: "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
    p2pkh_prefix: &[0x6f],
    p2sh_prefix: &[0xc4],
    bech32_hrp: Some("tb"),
    symbol: "tBTC",
    ..BTC_MAIN
};
const BTC_TEST4: UtxoParams = UtxoParams {
    magic: [0x1c, 0x16, 0x3f, 0x28],
    genesis: "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043",
    ..BTC_TEST
};
const BTC_SIGNET: UtxoParams = UtxoParams {
    magic: [0x0a, 0x03, 0xcf, 0x40],
    genesis: "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6",
    ..BTC_TEST
};
const BTC_REGTEST: UtxoParams = UtxoParams {
    magic: [0xfa, 0xbf, 0xb5, 0xda],
    genesis: "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
    bech32_hrp: Some("bcrt"),
    ..BTC_TEST
};
const LTC_MAIN: UtxoParams = UtxoParams {
    magic: [0xfb, 0xc0, 0xb6, 0xdb],
    genesis: "12a765e31ffd4059bada1e25190f6e98c99d9714d334efa41a195a7e7e04bfe2",
    p2pkh_prefix: &[0x30],
    p2sh_prefix: &[0x32],
    legacy_p2sh_prefix: Some(&[0x05]),
    bech32_hrp: Some("ltc"),
    symbol: "LTC",
    mweb: true,
    ingest_supported: true,
};
const LTC_TEST: UtxoParams = UtxoParams {
    magic: [0xfd, 0xd2, 0xc8, 0xf1],
    genesis: "4966625a4b2851d9fdee139e56211a0d88575f59ed816ff5e6a63deb4e3e29a0",
    p2pkh_prefix: &[0x6f],
    p2sh_prefix: &[0x3a],
    legacy_p2sh_prefix: Some(&[0xc4]),
    bech32_hrp: Some("tltc"),
    symbol: "tLTC",
    ..LTC_MAIN
};
const LTC_REGTEST: UtxoParams = UtxoParams {
    magic: [0xfa, 0xbf, 0xb5, 0xda],
    genesis: "530827f38f93b43ed12af0b3ad25a288dc02ed74d6d7857862df51fc56c416f9",
    bech32_hrp: Some("rltc"),
    ..LTC_TEST
};
const DOGE_MAIN: UtxoParams = UtxoParams {
    magic: [0xc0, 0xc0, 0xc0, 0xc0],
    genesis: "1a91e3dace36e2be3bf030a65679fe821aa1d6ef92e7c9902eb318182c355691",
    p2pkh_prefix: &[0x1e],
    p2sh_prefix: &[0x16],
    legacy_p2sh_prefix: None,
    bech32_hrp: None,
    symbol: "DOGE",
    mweb: false,
    ingest_supported: false,
};
const BCH_MAIN: UtxoParams = UtxoParams {
    magic: [0xe3, 0xe1, 0xf3, 0xe8],
    bech32_hrp: None,
    symbol: "BCH",
    ingest_supported: false,
    ..BTC_MAIN
};
const ZEC_MAIN: UtxoParams = UtxoParams {
    magic: [0x24, 0xe9, 0x27, 0x64],
    genesis: "00040fe8ec8471911baa1db1266ea15dd06b4a8a5c453883c000b031973dce08",
    p2pkh_prefix: &[0x1c, 0xb8],
    p2sh_prefix: &[0x1c, 0xbd],
    legacy_p2sh_prefix: None,
    bech32_hrp: None,
    symbol: "ZEC",
    mweb: false,
    ingest_supported: false,
};

/// Names accepted on the command line and written in exports, with their chains.
const NAMES: &[(&str, Chain)] = &[
    ("bitcoin", Chain::BitcoinMainnet),
    ("bitcoin-testnet", Chain::BitcoinTestnet),
    ("bitcoin-testnet4", Chain::BitcoinTestnet4),
    ("bitcoin-signet", Chain::BitcoinSignet),
    ("bitcoin-regtest", Chain::BitcoinRegtest),
    ("litecoin", Chain::LitecoinMainnet),
    ("litecoin-testnet", Chain::LitecoinTestnet),
    ("litecoin-regtest", Chain::LitecoinRegtest),
    ("dogecoin", Chain::DogecoinMainnet),
    ("bitcoin-cash", Chain::BitcoinCashMainnet),
    ("zcash", Chain::ZcashMainnet),
    ("ethereum", Chain::Evm(1)),
    ("optimism", Chain::Evm(10)),
    ("bsc", Chain::Evm(56)),
    ("polygon", Chain::Evm(137)),
    ("base", Chain::Evm(8453)),
    ("arbitrum", Chain::Evm(42161)),
];

/// Store keys give EVM chains this bit so they never collide with the UTXO chain codes.
const EVM_CODE_BIT: u32 = 1 << 31;

impl Chain {
    /// Every UTXO chain, in a stable order.
    pub const UTXO: [Chain; 11] = [
        Chain::BitcoinMainnet,
        Chain::BitcoinTestnet,
        Chain::BitcoinTestnet4,
        Chain::BitcoinSignet,
        Chain::BitcoinRegtest,
        Chain::LitecoinMainnet,
        Chain::LitecoinTestnet,
        Chain::LitecoinRegtest,
        Chain::DogecoinMainnet,
        Chain::BitcoinCashMainnet,
        Chain::ZcashMainnet,
    ];

    /// Which shape value moves in on this chain.
    pub fn family(self) -> ChainFamily {
        match self {
            Chain::Evm(_) => ChainFamily::Account,
            _ => ChainFamily::Utxo,
        }
    }

    /// Parameters of a UTXO chain; `None` for account chains.
    pub fn utxo_params(self) -> Option<&'static UtxoParams> {
        Some(match self {
            Chain::BitcoinMainnet => &BTC_MAIN,
            Chain::BitcoinTestnet => &BTC_TEST,
            Chain::BitcoinTestnet4 => &BTC_TEST4,
            Chain::BitcoinSignet => &BTC_SIGNET,
            Chain::BitcoinRegtest => &BTC_REGTEST,
            Chain::LitecoinMainnet => &LTC_MAIN,
            Chain::LitecoinTestnet => &LTC_TEST,
            Chain::LitecoinRegtest => &LTC_REGTEST,
            Chain::DogecoinMainnet => &DOGE_MAIN,
            Chain::BitcoinCashMainnet => &BCH_MAIN,
            Chain::ZcashMainnet => &ZEC_MAIN,
            Chain::Evm(_) => return None,
        })
    }

    /// The stable name used on the command line, in exports and in JSON.
    pub fn name(self) -> String {
        NAMES
            .iter()
            .find(|(_, c)| *c == self)
            .map(|(n, _)| (*n).to_string())
            .unwrap_or_else(|| match self {
                Chain::Evm(id) => format!("evm-{id}"),
                _ => unreachable!("every UTXO chain has a name in NAMES"),
            })
    }

    /// A stable 32-bit code for store keys. Never renumber: stored data depends on it.
    pub fn code(self) -> u32 {
        match self {
            Chain::BitcoinMainnet => 1,
            Chain::BitcoinTestnet => 2,
            Chain::BitcoinSignet => 3,
            Chain::BitcoinRegtest => 4,
            Chain::BitcoinTestnet4 => 5,
            Chain::LitecoinMainnet => 11,
            Chain::LitecoinTestnet => 12,
            Chain::LitecoinRegtest => 13,
            Chain::DogecoinMainnet => 21,
            Chain::BitcoinCashMainnet => 31,
            Chain::ZcashMainnet => 41,
            // Chain ids above 2^31 are rejected by `FromStr`, so the bit is free.
            Chain::Evm(id) => EVM_CODE_BIT | (id as u32 & !EVM_CODE_BIT),
        }
    }

    /// The chain a store code stands for.
    pub fn from_code(code: u32) -> Option<Chain> {
        if code & EVM_CODE_BIT != 0 {
            return Some(Chain::Evm(u64::from(code & !EVM_CODE_BIT)));
        }
        Chain::UTXO.into_iter().find(|c| c.code() == code)
    }

    /// The chain's native asset (BTC, LTC, ETH, …) with its decimals.
    pub fn native_asset(self) -> Asset {
        match self.utxo_params() {
            Some(p) => Asset {
                chain: self,
                id: AssetId::Native,
                symbol: p.symbol.into(),
                decimals: 8,
            },
            None => {
                let symbol = match self {
                    Chain::Evm(56) => "BNB",
                    Chain::Evm(137) => "POL",
                    _ => "ETH",
                };
                Asset {
                    chain: self,
                    id: AssetId::Native,
                    symbol: symbol.into(),
                    decimals: 18,
                }
            }
        }
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A chain name that tracehound does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown chain {input:?}: expected one of {known}, or a numeric EVM chain id below 2^31")]
pub struct ChainParseError {
    /// What was given.
    pub input: String,
    /// The accepted names.
    pub known: String,
}

impl FromStr for Chain {
    type Err = ChainParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        if let Some((_, c)) = NAMES.iter().find(|(n, _)| *n == lower) {
            return Ok(*c);
        }
        let id = lower.strip_prefix("evm-").unwrap_or(&lower);
        match id.parse::<u64>() {
            Ok(id) if id < u64::from(EVM_CODE_BIT) && id > 0 => Ok(Chain::Evm(id)),
            _ => Err(ChainParseError {
                input: s.to_string(),
                known: NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
            }),
        }
    }
}

impl serde::Serialize for Chain {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Chain {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Which asset on a chain: the native coin or a token contract.
#[derive(
    Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum AssetId {
    /// The chain's own coin.
    Native,
    /// A token, named by its contract.
    Contract(Address),
}

/// An asset: where it lives, what it is called and how many decimals its base unit has.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct Asset {
    /// The chain it lives on.
    pub chain: Chain,
    /// Native coin or contract.
    pub id: AssetId,
    /// Ticker, as the issuer or chain names it.
    pub symbol: String,
    /// Decimal places of one whole unit (8 for BTC, 18 for ETH, 6 for USDC).
    pub decimals: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for c in Chain::UTXO
            .into_iter()
            .chain([Chain::Evm(1), Chain::Evm(31337)])
        {
            assert_eq!(c.name().parse::<Chain>().unwrap(), c);
            assert_eq!(Chain::from_code(c.code()), Some(c));
        }
        assert_eq!("31337".parse::<Chain>().unwrap(), Chain::Evm(31337));
        assert_eq!("ethereum".parse::<Chain>().unwrap(), Chain::Evm(1));
        let err = "bitcoin-mainnet".parse::<Chain>().unwrap_err().to_string();
        assert!(err.contains("litecoin-regtest"), "{err}");
        assert!("0".parse::<Chain>().is_err());
        assert!(u64::MAX.to_string().parse::<Chain>().is_err());
    }

    #[test]
    fn genesis_hashes_are_well_formed() {
        for c in Chain::UTXO {
            let g: crate::Hash32 = c.utxo_params().unwrap().genesis.parse().unwrap();
            assert_ne!(g, crate::Hash32::ZERO, "{c}");
        }
    }
}
