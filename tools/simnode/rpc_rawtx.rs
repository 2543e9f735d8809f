//! `decoderawtransaction`: a transaction's fields in bitcoind's
//! `TxToUniv` shape (without `asm`, `desc` and `address`).

use tbg_pool::bitcoin::block::{Tx, TxIn};
use tbg_pool::bitcoin::hex;

use crate::json::{self, JsonObject};
use crate::params::Params;
use crate::rpc::{RpcError, RpcResult, RPC_DESERIALIZATION_ERROR};
use crate::validate::tx_weight;

/// Script opcodes the output classification looks at.
const OP_0: u8 = 0x00;
const OP_PUSHDATA1: u8 = 0x4c;
const OP_PUSHDATA2: u8 = 0x4d;
const OP_PUSHDATA4: u8 = 0x4e;
const OP_1: u8 = 0x51;
const OP_16: u8 = 0x60;
const OP_RETURN: u8 = 0x6a;
const OP_DUP: u8 = 0x76;
const OP_EQUAL: u8 = 0x87;
const OP_EQUALVERIFY: u8 = 0x88;
const OP_HASH160: u8 = 0xa9;
const OP_CHECKSIG: u8 = 0xac;
/// BIP141 witness program length bounds.
const MIN_WITNESS_PROGRAM: usize = 2;
const MAX_WITNESS_PROGRAM: usize = 40;

/// `decoderawtransaction hexstring (iswitness)`. With `iswitness` false a
/// witness serialization does not decode, as in bitcoind.
pub fn decoderawtransaction(params: &Params) -> RpcResult {
    let decode_failed = || RpcError::new(RPC_DESERIALIZATION_ERROR, "TX decode failed");
    let text = params.str(0, "hexstring")?;
    let witness_allowed = params.opt_bool(1, "iswitness")?.unwrap_or(true);
    let raw = hex::decode(text).map_err(|_| decode_failed())?;
    let tx = Tx::parse_exact(&raw).map_err(|_| decode_failed())?;
    if tx.has_witness && !witness_allowed {
        return Err(decode_failed());
    }
    Ok(tx_json(&tx))
}

/// bitcoind's `TxToUniv` members for a decoded transaction.
fn tx_json(tx: &Tx) -> String {
    let weight = tx_weight(tx);
    let coinbase = tx.is_coinbase();
    let vin: Vec<String> = tx.inputs.iter().map(|i| input_json(i, coinbase)).collect();
    let vout: Vec<String> = tx
        .outputs
        .iter()
        .enumerate()
        .map(|(n, o)| {
            let script = JsonObject::new()
                .str("hex", &hex::encode(o.script_pubkey))
                .str("type", script_type(o.script_pubkey))
                .finish();
            JsonObject::new()
                .raw("value", &json::btc(o.value_sats))
                .uint("n", n as u64)
                .raw("scriptPubKey", &script)
                .finish()
        })
        .collect();
    JsonObject::new()
        .str("txid", &hex::encode_display(&tx.txid))
        .str("hash", &hex::encode_display(&tx.wtxid))
        .uint("version", u64::from(tx.version))
        .uint("size", tx.raw.len() as u64)
        .uint("vsize", weight.div_ceil(4))
        .uint("weight", weight)
        .uint("locktime", u64::from(tx.lock_time))
        .raw("vin", &format!("[{}]", vin.join(",")))
        .raw("vout", &format!("[{}]", vout.join(",")))
        .finish()
}

/// One `vin` entry: `coinbase` for a coinbase's input, else the outpoint
/// and `scriptSig`; then `txinwitness` when there is one, and `sequence`.
fn input_json(input: &TxIn, coinbase: bool) -> String {
    let mut o = JsonObject::new();
    if coinbase {
        o.str("coinbase", &hex::encode(input.script_sig));
    } else {
        let script_sig = JsonObject::new()
            .str("hex", &hex::encode(input.script_sig))
            .finish();
        o.str("txid", &hex::encode_display(&input.prev_txid))
            .uint("vout", u64::from(input.prev_vout))
            .raw("scriptSig", &script_sig);
    }
    if !input.witness.is_empty() {
        let items = input.witness.iter().map(|item| hex::encode(item));
        o.raw("txinwitness", &json::string_array(items));
    }
    o.uint("sequence", u64::from(input.sequence)).finish()
}

/// bitcoind's output type name (`GetTxnOutputType` of `Solver`); bare
/// multisig is reported as `nonstandard`.
fn script_type(script: &[u8]) -> &'static str {
    if script == [OP_1, 0x02, 0x4e, 0x73] {
        return "anchor";
    }
    if let [OP_HASH160, 0x14, hash @ .., OP_EQUAL] = script {
        if hash.len() == 20 {
            return "scripthash";
        }
    }
    if let Some((version, program)) = witness_program(script) {
        return match (version, program.len()) {
            (0, 20) => "witness_v0_keyhash",
            (0, 32) => "witness_v0_scripthash",
            (0, _) => "nonstandard",
            (1, 32) => "witness_v1_taproot",
            _ => "witness_unknown",
        };
    }
    if script.first() == Some(&OP_RETURN) && is_push_only(&script[1..]) {
        return "nulldata";
    }
    if is_pay_to_pubkey(script) {
        return "pubkey";
    }
    if let [OP_DUP, OP_HASH160, 0x14, hash @ .., OP_EQUALVERIFY, OP_CHECKSIG] = script {
        if hash.len() == 20 {
            return "pubkeyhash";
        }
    }
    "nonstandard"
}

/// BIP141: a version opcode then one direct push of 2..=40 bytes.
fn witness_program(script: &[u8]) -> Option<(u8, &[u8])> {
    let (&op, rest) = script.split_first()?;
    let (&len, program) = rest.split_first()?;
    let version = match op {
        OP_0 => 0,
        OP_1..=OP_16 => op - OP_1 + 1,
        _ => return None,
    };
    let sized = (MIN_WITNESS_PROGRAM..=MAX_WITNESS_PROGRAM).contains(&program.len());
    (sized && usize::from(len) == program.len()).then_some((version, program))
}

/// `<33- or 65-byte public key> OP_CHECKSIG` with a key prefix that fits
/// its length.
fn is_pay_to_pubkey(script: &[u8]) -> bool {
    match script {
        [33, 0x02 | 0x03, key @ .., OP_CHECKSIG] => key.len() == 32,
        [65, 0x04 | 0x06 | 0x07, key @ .., OP_CHECKSIG] => key.len() == 64,
        _ => false,
    }
}

/// Whether `script` is only data pushes (opcodes up to OP_16), each
/// complete: bitcoind's `IsPushOnly`.
fn is_push_only(mut script: &[u8]) -> bool {
    while let Some((&op, rest)) = script.split_first() {
        if op > OP_16 {
            return false;
        }
        let (len, rest) = match op {
            OP_PUSHDATA1 => match rest {
                [n, tail @ ..] => (usize::from(*n), tail),
                _ => return false,
            },
            OP_PUSHDATA2 => match rest {
                [a, b, tail @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), tail),
                _ => return false,
            },
            OP_PUSHDATA4 => match rest {
                [a, b, c, d, tail @ ..] => (u32::from_le_bytes([*a, *b, *c, *d]) as usize, tail),
                _ => return false,
            },
            n if n < OP_PUSHDATA1 => (usize::from(n), rest),
            _ => (0, rest),
        };
        match rest.get(len..) {
            Some(tail) => script = tail,
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_types() {
        let h20 = [7u8; 20];
        let h32 = [7u8; 32];
        let cat = |parts: &[&[u8]]| parts.concat();
        let cases: [(Vec<u8>, &str); 10] = [
            (cat(&[&[0x00, 0x14], &h20]), "witness_v0_keyhash"),
            (cat(&[&[0x00, 0x20], &h32]), "witness_v0_scripthash"),
            (cat(&[&[0x51, 0x20], &h32]), "witness_v1_taproot"),
            (cat(&[&[0x52, 0x02], &[1, 2]]), "witness_unknown"),
            (vec![0x51, 0x02, 0x4e, 0x73], "anchor"),
            (cat(&[&[0xa9, 0x14], &h20, &[0x87]]), "scripthash"),
            (
                cat(&[&[0x76, 0xa9, 0x14], &h20, &[0x88, 0xac]]),
                "pubkeyhash",
            ),
            (cat(&[&[0x21, 0x02], &h32, &[0xac]]), "pubkey"),
            (
                cat(&[&[0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed], &h32]),
                "nulldata",
            ),
            (vec![0x51], "nonstandard"),
        ];
        for (script, want) in cases {
            assert_eq!(script_type(&script), want, "{}", hex::encode(&script));
        }
        assert_eq!(script_type(&[0x6a, 0x4c, 0x01, 0x00]), "nulldata");
        assert_eq!(script_type(&[0x6a, 0x02, 0x00]), "nonstandard");
        assert_eq!(script_type(&[0x6a, 0xac]), "nonstandard");
    }
}
