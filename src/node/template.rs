//! A `getblocktemplate` result, parsed and checked.

use std::fmt;

use serde::Deserialize;

use crate::bitcoin::hex;
use crate::bitcoin::target::{compact_to_target, U256};
use crate::bitcoin::Hash32;

/// One transaction of a template.
#[derive(Debug, Clone)]
pub struct TemplateTx {
    /// Full serialization (with witness when it has one).
    pub data: Vec<u8>,
    /// Internal byte order.
    pub txid: Hash32,
    /// Internal byte order.
    pub wtxid: Hash32,
    pub fee_sats: u64,
}

/// What the pool needs from a block template.
#[derive(Debug, Clone)]
pub struct Template {
    pub version: u32,
    /// Previous block hash, internal byte order.
    pub prev_hash: Hash32,
    pub transactions: Vec<TemplateTx>,
    pub coinbase_value_sats: u64,
    /// Compact network target.
    pub bits: u32,
    /// The network target expanded from `bits`.
    pub target: U256,
    pub height: u32,
    pub cur_time: u32,
    pub min_time: u32,
    /// `default_witness_commitment`: the full output script, when present.
    pub witness_commitment_script: Option<Vec<u8>>,
    pub rules: Vec<String>,
}

/// A template we cannot mine on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad block template: {}", self.0)
    }
}

impl std::error::Error for TemplateError {}

/// The wire shape of `getblocktemplate`'s result (fields we use).
#[derive(Debug, Deserialize)]
pub(crate) struct GbtResult {
    version: u32,
    previousblockhash: String,
    transactions: Vec<GbtTx>,
    coinbasevalue: u64,
    bits: String,
    target: Option<String>,
    height: u32,
    curtime: u32,
    mintime: Option<u32>,
    default_witness_commitment: Option<String>,
    #[serde(default)]
    rules: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct GbtTx {
    data: String,
    txid: String,
    hash: Option<String>,
    #[serde(default)]
    fee: u64,
}

fn bad(what: impl Into<String>) -> TemplateError {
    TemplateError(what.into())
}

impl Template {
    /// Parse a `getblocktemplate` result object (the `result` member).
    pub fn from_json(json: &mut [u8]) -> Result<Template, TemplateError> {
        let gbt: GbtResult =
            simd_json::serde::from_slice(json).map_err(|e| bad(format!("json: {e}")))?;
        Template::from_gbt(gbt)
    }

    pub(crate) fn from_gbt(gbt: GbtResult) -> Result<Template, TemplateError> {
        let prev_hash = hex::decode_display(&gbt.previousblockhash)
            .map_err(|e| bad(format!("previousblockhash: {e}")))?;
        let bits = u32::from_str_radix(&gbt.bits, 16).map_err(|_| bad("bits: not hex"))?;
        let target = compact_to_target(bits).map_err(|_| bad("bits: invalid compact target"))?;
        if let Some(t) = &gbt.target {
            let listed = hex::decode32(t).map_err(|e| bad(format!("target: {e}")))?;
            if listed != target.to_be_bytes() {
                return Err(bad("target does not match bits"));
            }
        }
        let witness_commitment_script = match &gbt.default_witness_commitment {
            Some(h) => Some(hex::decode(h).map_err(|e| bad(format!("witness commitment: {e}")))?),
            None => None,
        };
        let transactions = gbt
            .transactions
            .iter()
            .map(parse_tx)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Template {
            version: gbt.version,
            prev_hash,
            transactions,
            coinbase_value_sats: gbt.coinbasevalue,
            bits,
            target,
            height: gbt.height,
            cur_time: gbt.curtime,
            min_time: gbt.mintime.unwrap_or(gbt.curtime),
            witness_commitment_script,
            rules: gbt.rules,
        })
    }

    /// Sum of the template's transaction fees.
    pub fn fees_sats(&self) -> u64 {
        self.transactions.iter().map(|t| t.fee_sats).sum()
    }
}

fn parse_tx(tx: &GbtTx) -> Result<TemplateTx, TemplateError> {
    let data = hex::decode(&tx.data).map_err(|e| bad(format!("tx data: {e}")))?;
    let txid = hex::decode_display(&tx.txid).map_err(|e| bad(format!("txid: {e}")))?;
    let wtxid = match &tx.hash {
        Some(h) => hex::decode_display(h).map_err(|e| bad(format!("tx hash: {e}")))?,
        None => txid,
    };
    Ok(TemplateTx {
        data,
        txid,
        wtxid,
        fee_sats: tx.fee,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real regtest GBT result in the shared vectors.
    pub(crate) const REGTEST_GBT: &str =
        include_str!("../../tests/vectors/bitcoind-regtest-getblocktemplate.json");

    #[test]
    fn parses_real_bitcoind_template() {
        let mut json = REGTEST_GBT.as_bytes().to_vec();
        let t = Template::from_json(&mut json).unwrap();
        assert_eq!(t.height, 103);
        assert_eq!(t.bits, 0x207f_ffff);
        assert_eq!(t.version, 0x2000_0000);
        assert_eq!(t.coinbase_value_sats, 5_000_000_000);
        assert_eq!(
            hex::encode_display(&t.prev_hash),
            "0fe7d6d488307c0774b9dcec79ddee22d012914a383674d1e76186710a3d7e7d"
        );
        assert!(t.transactions.is_empty());
        assert_eq!(t.min_time, 1_795_568_718);
        let wc = t.witness_commitment_script.unwrap();
        assert_eq!(&wc[..6], &[0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed]);
        assert!(t.rules.iter().any(|r| r == "!segwit"));
    }

    #[test]
    fn refuses_inconsistent_templates() {
        let json = REGTEST_GBT.replace("\"207fffff\"", "\"1d00ffff\"");
        let e = Template::from_json(&mut json.into_bytes()).unwrap_err();
        assert_eq!(e.0, "target does not match bits");
        let e = Template::from_json(&mut b"{\"version\":1}".to_vec()).unwrap_err();
        assert!(e.0.starts_with("json:"), "{e}");
    }
}
