//! Output script → what it pays: script kind, address (or pseudo-address), `OP_RETURN` payload.
//!
//! Every standard template is named with the chain's own prefixes and bech32 HRP. P2PK outputs
//! are attributed to the P2PKH address of their key (one owner, one address), as forensic
//! tools conventionally do. Bare multisig and non-standard scripts get pseudo-addresses
//! derived from the script, so identical scripts pool into one balance.
#![deny(clippy::indexing_slicing)]

use bitcoin::Script;
use bitcoin::hashes::{Hash, hash160, sha256};
use bitcoin::opcodes::all::{OP_CHECKMULTISIG, OP_PUSHNUM_1, OP_PUSHNUM_16, OP_RETURN};
use bitcoin::script::Instruction;
use tracehound_core::{Chain, Payee, PayeeRepr, ScriptKind};

/// What an output script pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedScript {
    /// The template.
    pub kind: ScriptKind,
    /// What it pays; `None` for `OP_RETURN`.
    pub payee: Option<Payee>,
    /// `OP_RETURN` payload: the pushed bytes, concatenated.
    pub data: Option<Vec<u8>>,
}

impl NamedScript {
    fn paying(kind: ScriptKind, chain: Chain, repr: PayeeRepr) -> Self {
        NamedScript {
            kind,
            payee: Some(Payee { chain, repr }),
            data: None,
        }
    }
}

/// Names the output script `script` of `chain`.
pub fn classify(chain: Chain, script: &Script) -> NamedScript {
    let b = script.as_bytes();
    if script.is_p2pkh()
        && let Some(hash) = b.get(3..23).and_then(|h| <[u8; 20]>::try_from(h).ok())
    {
        return NamedScript::paying(ScriptKind::P2pkh, chain, PayeeRepr::KeyHash(hash));
    }
    if script.is_p2sh()
        && let Some(hash) = b.get(2..22).and_then(|h| <[u8; 20]>::try_from(h).ok())
    {
        return NamedScript::paying(ScriptKind::P2sh, chain, PayeeRepr::ScriptHash(hash));
    }
    if let Some(version) = script.witness_version()
        && let Some(named) = witness(chain, version.to_num(), b.get(2..).unwrap_or_default())
    {
        return named;
    }
    if let Some(key) = script.p2pk_public_key() {
        let hash = hash160::Hash::hash(&key.to_bytes()).to_byte_array();
        return NamedScript::paying(ScriptKind::P2pk, chain, PayeeRepr::KeyHash(hash));
    }
    if let Some(key) = p2pk_raw_key(b) {
        // A P2PK output whose key is not a valid curve point still pays "that key".
        let hash = hash160::Hash::hash(key).to_byte_array();
        return NamedScript::paying(ScriptKind::P2pk, chain, PayeeRepr::KeyHash(hash));
    }
    if b.first() == Some(&OP_RETURN.to_u8()) {
        return NamedScript {
            kind: ScriptKind::NullData,
            payee: None,
            data: Some(op_return_payload(script)),
        };
    }
    if let Some((m, n)) = bare_multisig(script) {
        let hash = hash160::Hash::hash(b).to_byte_array();
        return NamedScript::paying(
            ScriptKind::Multisig,
            chain,
            PayeeRepr::Multisig { m, n, hash },
        );
    }
    let hash = sha256::Hash::hash(b).to_byte_array();
    NamedScript::paying(ScriptKind::NonStandard, chain, PayeeRepr::Script(hash))
}

fn witness(chain: Chain, version: u8, program: &[u8]) -> Option<NamedScript> {
    let mweb = chain.utxo_params().is_some_and(|p| p.mweb);
    let kind = match (version, program.len()) {
        (0, 20) => ScriptKind::P2wpkh,
        (0, 32) => ScriptKind::P2wsh,
        (1, 32) => ScriptKind::P2tr,
        (9, 32) if mweb => {
            let kernel: [u8; 32] = program.try_into().ok()?;
            return Some(NamedScript::paying(
                ScriptKind::MwebPegin,
                chain,
                PayeeRepr::MwebPegin(kernel),
            ));
        }
        (8, 32) if mweb => {
            return Some(NamedScript::paying(
                ScriptKind::MwebHogAddr,
                chain,
                PayeeRepr::MwebHogAddr,
            ));
        }
        _ => ScriptKind::WitnessUnknown,
    };
    let payee = Payee::witness(chain, version, program)?;
    Some(NamedScript {
        kind,
        payee: Some(payee),
        data: None,
    })
}

/// Core's `CPubKey::ValidSize`: the prefix byte fixes the length (0x02/0x03 → 33 bytes,
/// 0x04/0x06/0x07 → 65). Core names scripts with keys of this shape P2PK or multisig even when
/// the key is not a point on the curve, so tracehound does too.
fn valid_key_size(key: &[u8]) -> bool {
    match key.first() {
        Some(2 | 3) => key.len() == 33,
        Some(4 | 6 | 7) => key.len() == 65,
        _ => false,
    }
}

/// `<key> OP_CHECKSIG` with a key of valid size, whether or not it is a curve point.
fn p2pk_raw_key(b: &[u8]) -> Option<&[u8]> {
    let (&len, rest) = b.split_first()?;
    let (&last, key) = rest.split_last()?;
    (last == 0xac
        && (len == 33 || len == 65)
        && key.len() == usize::from(len)
        && valid_key_size(key))
    .then_some(key)
}

/// `OP_m <key>… OP_n OP_CHECKMULTISIG` with n keys of 33 or 65 bytes.
fn bare_multisig(script: &Script) -> Option<(u8, u8)> {
    let mut ins: Vec<Instruction<'_>> = script.instructions().collect::<Result<_, _>>().ok()?;
    let pushnum = |i: &Instruction<'_>| match i {
        Instruction::Op(op)
            if (OP_PUSHNUM_1.to_u8()..=OP_PUSHNUM_16.to_u8()).contains(&op.to_u8()) =>
        {
            Some(op.to_u8() - OP_PUSHNUM_1.to_u8() + 1)
        }
        _ => None,
    };
    if ins.pop()? != Instruction::Op(OP_CHECKMULTISIG) {
        return None;
    }
    let n = pushnum(&ins.pop()?)?;
    let (first, keys) = ins.split_first()?;
    let m = pushnum(first)?;
    let keys_ok = keys
        .iter()
        .all(|k| matches!(k, Instruction::PushBytes(p) if valid_key_size(p.as_bytes())));
    (keys_ok && keys.len() == usize::from(n) && m <= n).then_some((m, n))
}

fn op_return_payload(script: &Script) -> Vec<u8> {
    let mut out = Vec::new();
    for ins in script.instructions().skip(1) {
        match ins {
            Ok(Instruction::PushBytes(p)) => out.extend_from_slice(p.as_bytes()),
            Ok(Instruction::Op(_)) => {}
            // A malformed push: keep the raw remainder rather than lose the memo.
            Err(_) => return script.as_bytes().get(1..).unwrap_or_default().to_vec(),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::ScriptBuf;

    fn named(chain: Chain, hex_script: &str) -> NamedScript {
        classify(chain, &ScriptBuf::from_hex(hex_script).unwrap())
    }

    #[test]
    fn standard_templates_on_bitcoin() {
        let c = Chain::BitcoinMainnet;
        // Satoshi's genesis coinbase key, P2PK → its well-known P2PKH address.
        let genesis = named(
            c,
            "4104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac",
        );
        assert_eq!(genesis.kind, ScriptKind::P2pk);
        assert_eq!(
            genesis.payee.unwrap().to_address().as_str(),
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
        );
        let p2wpkh = named(c, "0014751e76e8199196d454941c45d1b3a323f1433bd6");
        assert_eq!(
            p2wpkh.payee.unwrap().to_address().as_str(),
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
        );
        let ret = named(c, "6a0b68656c6c6f20776f726c64");
        assert_eq!(
            (ret.kind, ret.payee, ret.data.as_deref()),
            (ScriptKind::NullData, None, Some(&b"hello world"[..]))
        );
        let key = "02".to_string() + &"11".repeat(32);
        let ms = named(c, &format!("5121{key}21{key}52ae"));
        assert_eq!(ms.kind, ScriptKind::Multisig);
        assert!(
            ms.payee
                .unwrap()
                .to_address()
                .as_str()
                .starts_with("multisig:1of2:")
        );
        let odd = named(c, "51");
        assert_eq!(odd.kind, ScriptKind::NonStandard);
        assert!(
            odd.payee
                .unwrap()
                .to_address()
                .as_str()
                .starts_with("script:")
        );
        let tr = named(c, &format!("5120{}", "79".repeat(32)));
        assert_eq!(tr.kind, ScriptKind::P2tr);
        assert!(tr.payee.unwrap().to_address().as_str().starts_with("bc1p"));
    }

    #[test]
    fn keys_of_invalid_size_are_nonstandard_as_in_core() {
        let c = Chain::BitcoinMainnet;
        // A 33-byte push starting 0x04 is no key: Core calls this script non-standard.
        let odd_p2pk = named(c, &format!("2104{}ac", "11".repeat(32)));
        assert_eq!(odd_p2pk.kind, ScriptKind::NonStandard);
        // A valid-size key that is not on the curve still makes P2PK, as in Core.
        let off_curve = named(c, &format!("2102{}ac", "00".repeat(32)));
        assert_eq!(off_curve.kind, ScriptKind::P2pk);
        let bad = "05".to_string() + &"11".repeat(32);
        let good = "02".to_string() + &"11".repeat(32);
        assert_eq!(
            named(c, &format!("5121{good}21{bad}52ae")).kind,
            ScriptKind::NonStandard
        );
        assert_eq!(
            named(c, &format!("5121{good}21{good}52ae")).kind,
            ScriptKind::Multisig
        );
    }

    #[test]
    fn litecoin_prefixes_and_mweb() {
        let c = Chain::LitecoinMainnet;
        let pkh = named(c, "76a914751e76e8199196d454941c45d1b3a323f1433bd688ac");
        assert!(pkh.payee.unwrap().to_address().as_str().starts_with('L'));
        let sh = named(c, "a914751e76e8199196d454941c45d1b3a323f1433bd687");
        assert!(sh.payee.unwrap().to_address().as_str().starts_with('M'));
        let wpkh = named(
            Chain::LitecoinRegtest,
            "0014751e76e8199196d454941c45d1b3a323f1433bd6",
        );
        assert!(
            wpkh.payee
                .unwrap()
                .to_address()
                .as_str()
                .starts_with("rltc1q")
        );
        let pegin = named(c, &format!("5920{}", "ab".repeat(32)));
        assert_eq!(pegin.kind, ScriptKind::MwebPegin);
        let hog = named(c, &format!("5820{}", "cd".repeat(32)));
        assert_eq!(hog.payee.unwrap().to_address().as_str(), "mweb:hogaddr");
        // The same v9 program on Bitcoin is just an unknown witness version.
        assert_eq!(
            named(Chain::BitcoinMainnet, &format!("5920{}", "ab".repeat(32))).kind,
            ScriptKind::WitnessUnknown
        );
    }
}
