//! What an output pays, in binary form: cheap to copy, hash and compare on hot paths.
//!
//! Encoding an address as text (base58check, bech32) costs more than decoding the whole
//! transaction, so parsers name payees in this form and text is made only where a person or an
//! export needs it ([`Payee::to_address`]), or once per new address in the store.

use crate::{Address, Chain};

/// The binary form of what an output pays.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum PayeeRepr {
    /// A key hash (P2PKH, and P2PK attributed to its key's hash).
    KeyHash([u8; 20]),
    /// A script hash (P2SH).
    ScriptHash([u8; 20]),
    /// A segwit program (v0–v16, 2–40 bytes; valid for its version).
    Witness {
        /// Witness version.
        version: u8,
        /// Program length.
        len: u8,
        /// Program bytes, zero-padded.
        program: [u8; 40],
    },
    /// Bare multisig: `m` of `n`, named by the script's HASH160.
    Multisig {
        /// Signatures required.
        m: u8,
        /// Keys.
        n: u8,
        /// HASH160 of the script.
        hash: [u8; 20],
    },
    /// A non-standard script, named by its SHA-256.
    Script([u8; 32]),
    /// A Litecoin MWEB peg-in (the kernel id).
    MwebPegin([u8; 32]),
    /// The Litecoin MWEB integration pool.
    MwebHogAddr,
    /// An EVM account.
    Evm([u8; 20]),
    /// An account-chain pseudo-address: where value is burnt, minted or wrapped (see
    /// [`AccountPseudo`]); `contract` is the wrapping contract for [`AccountPseudo::Wrap`].
    AccountPseudo {
        /// Which one.
        kind: AccountPseudo,
        /// The contract of a `wrap:` address, else zero.
        contract: [u8; 20],
    },
}

/// The pseudo-addresses of account chains, with their text (`burn:fee`, `wrap:0x…`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[repr(u8)]
pub enum AccountPseudo {
    /// `burn:fee`: base and blob fees.
    BurnFee = 1,
    /// `burn:selfdestruct`: ether destroyed by SELFDESTRUCT.
    BurnSelfDestruct = 2,
    /// `mint:withdrawal`: validator withdrawals.
    MintWithdrawal = 3,
    /// `mint:block-reward`.
    MintBlockReward = 4,
    /// `mint:uncle-reward`.
    MintUncleReward = 5,
    /// `mint:other-reward`.
    MintOtherReward = 6,
    /// `wrap:<contract>`: the native side of a wrapped-native token.
    Wrap = 7,
    /// `mint:opening`: what an account held before it first appears in the store (its
    /// opening balance, read from the node's state).
    MintOpening = 8,
}

impl AccountPseudo {
    /// Every kind.
    pub const ALL: [AccountPseudo; 8] = [
        AccountPseudo::BurnFee,
        AccountPseudo::BurnSelfDestruct,
        AccountPseudo::MintWithdrawal,
        AccountPseudo::MintBlockReward,
        AccountPseudo::MintUncleReward,
        AccountPseudo::MintOtherReward,
        AccountPseudo::Wrap,
        AccountPseudo::MintOpening,
    ];

    /// The `kind:rest` text, without the contract of `wrap:`.
    pub fn text(self) -> (&'static str, &'static str) {
        match self {
            AccountPseudo::BurnFee => ("burn", "fee"),
            AccountPseudo::BurnSelfDestruct => ("burn", "selfdestruct"),
            AccountPseudo::MintWithdrawal => ("mint", "withdrawal"),
            AccountPseudo::MintBlockReward => ("mint", "block-reward"),
            AccountPseudo::MintUncleReward => ("mint", "uncle-reward"),
            AccountPseudo::MintOtherReward => ("mint", "other-reward"),
            AccountPseudo::Wrap => ("wrap", ""),
            AccountPseudo::MintOpening => ("mint", "opening"),
        }
    }

    /// The kind with this code.
    pub fn from_code(code: u8) -> Option<AccountPseudo> {
        AccountPseudo::ALL.into_iter().find(|k| *k as u8 == code)
    }
}

/// What an output pays on a chain, in binary form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Payee {
    /// The chain.
    pub chain: Chain,
    /// The binary form.
    pub repr: PayeeRepr,
}

impl Payee {
    /// A segwit payee, if `program` is valid for `version` (BIP141/BIP350) and the chain has
    /// segwit addresses.
    pub fn witness(chain: Chain, version: u8, program: &[u8]) -> Option<Payee> {
        chain.utxo_params()?.bech32_hrp?;
        let ok = match version {
            0 => program.len() == 20 || program.len() == 32,
            1..=16 => (2..=40).contains(&program.len()),
            _ => false,
        };
        if !ok {
            return None;
        }
        let mut buf = [0u8; 40];
        buf.get_mut(..program.len())?.copy_from_slice(program);
        let len = u8::try_from(program.len()).ok()?;
        Some(Payee {
            chain,
            repr: PayeeRepr::Witness {
                version,
                len,
                program: buf,
            },
        })
    }

    /// The canonical address text of this payee.
    pub fn to_address(&self) -> Address {
        let chain = self.chain;
        match &self.repr {
            PayeeRepr::KeyHash(h) => Address::p2pkh(chain, h),
            PayeeRepr::ScriptHash(h) => Address::p2sh(chain, h),
            PayeeRepr::Witness {
                version,
                len,
                program,
            } => {
                let program = program.get(..usize::from(*len)).unwrap_or_default();
                Address::segwit(chain, *version, program)
                    // Unreachable for payees built by `Payee::witness`; kept total all the same.
                    .unwrap_or_else(|| Address::pseudo(chain, "script", &hex::encode(program)))
            }
            PayeeRepr::Multisig { m, n, hash } => Address::pseudo(
                chain,
                "multisig",
                &format!("{m}of{n}:{}", hex::encode(hash)),
            ),
            PayeeRepr::Script(h) => Address::pseudo(chain, "script", &hex::encode(h)),
            PayeeRepr::MwebPegin(p) => {
                Address::pseudo(chain, "mweb", &format!("pegin:{}", hex::encode(p)))
            }
            PayeeRepr::MwebHogAddr => Address::pseudo(chain, "mweb", "hogaddr"),
            PayeeRepr::Evm(b) => Address::evm(chain, b),
            PayeeRepr::AccountPseudo { kind, contract } => match kind {
                AccountPseudo::Wrap => {
                    Address::pseudo(chain, "wrap", &format!("0x{}", hex::encode(contract)))
                }
                k => {
                    let (kind, rest) = k.text();
                    Address::pseudo(chain, kind, rest)
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn witness_rules_and_text() {
        let c = Chain::BitcoinMainnet;
        assert!(Payee::witness(c, 0, &[1; 21]).is_none());
        assert!(Payee::witness(c, 1, &[1; 41]).is_none());
        assert!(
            Payee::witness(Chain::DogecoinMainnet, 0, &[1; 20]).is_none(),
            "no segwit on dogecoin"
        );
        let p = Payee::witness(c, 0, &[0x75; 20]).unwrap();
        assert!(p.to_address().as_str().starts_with("bc1q"));
        let t = Payee::witness(c, 1, &[0x79; 32]).unwrap();
        assert!(t.to_address().as_str().starts_with("bc1p"));
        assert_eq!(
            Payee {
                chain: c,
                repr: PayeeRepr::MwebHogAddr
            }
            .to_address()
            .as_str(),
            "mweb:hogaddr"
        );
    }
}
