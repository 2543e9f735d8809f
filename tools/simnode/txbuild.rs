//! Serializing transactions the simulated node makes itself (synthetic
//! mempool transactions and coinbases), with txid, wtxid and weight.

use tbg_pool::bitcoin::encode::write_compact_size;
use tbg_pool::bitcoin::{sha256d, Hash32};

/// One input to serialize.
#[derive(Debug, Clone)]
pub struct TxInput {
    pub prev_txid: Hash32,
    pub prev_vout: u32,
    pub script_sig: Vec<u8>,
    pub sequence: u32,
    /// Witness stack items; empty for a non-witness input.
    pub witness: Vec<Vec<u8>>,
}

/// One output to serialize.
#[derive(Debug, Clone)]
pub struct TxOutput {
    pub value_sats: u64,
    pub script_pubkey: Vec<u8>,
}

/// A transaction under construction.
#[derive(Debug, Clone)]
pub struct TxBuilder {
    pub version: u32,
    pub inputs: Vec<TxInput>,
    pub outputs: Vec<TxOutput>,
    pub lock_time: u32,
}

/// A serialized transaction and its identifiers.
#[derive(Debug, Clone)]
pub struct BuiltTx {
    /// Full serialization (BIP144 form when any input has a witness).
    pub raw: Vec<u8>,
    /// Internal byte order.
    pub txid: Hash32,
    /// Internal byte order; equals `txid` without witness data.
    pub wtxid: Hash32,
    /// BIP141 weight: base size × 3 + total size.
    pub weight: u64,
}

impl TxBuilder {
    /// Whether any input carries witness data (then BIP144 serialization).
    pub fn has_witness(&self) -> bool {
        self.inputs.iter().any(|i| !i.witness.is_empty())
    }

    /// The serialization, with or without the witness section.
    pub fn serialize(&self, with_witness: bool) -> Vec<u8> {
        let witness = with_witness && self.has_witness();
        let mut out = Vec::with_capacity(64 + 180 * self.inputs.len());
        out.extend_from_slice(&self.version.to_le_bytes());
        if witness {
            out.extend_from_slice(&[0x00, 0x01]); // marker, flag
        }
        write_compact_size(&mut out, self.inputs.len() as u64);
        for input in &self.inputs {
            out.extend_from_slice(&input.prev_txid);
            out.extend_from_slice(&input.prev_vout.to_le_bytes());
            write_bytes(&mut out, &input.script_sig);
            out.extend_from_slice(&input.sequence.to_le_bytes());
        }
        write_compact_size(&mut out, self.outputs.len() as u64);
        for output in &self.outputs {
            out.extend_from_slice(&output.value_sats.to_le_bytes());
            write_bytes(&mut out, &output.script_pubkey);
        }
        if witness {
            for input in &self.inputs {
                write_compact_size(&mut out, input.witness.len() as u64);
                for item in &input.witness {
                    write_bytes(&mut out, item);
                }
            }
        }
        out.extend_from_slice(&self.lock_time.to_le_bytes());
        out
    }

    /// Serialize and hash.
    pub fn build(&self) -> BuiltTx {
        let base = self.serialize(false);
        let txid = sha256d(&base);
        if !self.has_witness() {
            let weight = base.len() as u64 * 4;
            return BuiltTx {
                raw: base,
                txid,
                wtxid: txid,
                weight,
            };
        }
        let full = self.serialize(true);
        BuiltTx {
            weight: base.len() as u64 * 3 + full.len() as u64,
            wtxid: sha256d(&full),
            txid,
            raw: full,
        }
    }
}

/// A length-prefixed byte string.
fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_compact_size(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tbg_pool::bitcoin::block::Tx;

    fn sample(witness: bool) -> TxBuilder {
        TxBuilder {
            version: 2,
            inputs: vec![TxInput {
                prev_txid: [7; 32],
                prev_vout: 1,
                script_sig: if witness { vec![] } else { vec![0x51] },
                sequence: 0xffff_fffd,
                witness: if witness {
                    vec![vec![0x30; 71], vec![0x02; 33]]
                } else {
                    vec![]
                },
            }],
            outputs: vec![TxOutput {
                value_sats: 1234,
                script_pubkey: vec![
                    0x00, 0x14, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
                    20,
                ],
            }],
            lock_time: 0,
        }
    }

    #[test]
    fn round_trips_through_the_crate_parser() {
        for witness in [false, true] {
            let built = sample(witness).build();
            let parsed = Tx::parse_exact(&built.raw).unwrap();
            assert_eq!(parsed.txid, built.txid);
            assert_eq!(parsed.wtxid, built.wtxid);
            assert_eq!(parsed.has_witness, witness);
            assert_eq!(witness, built.txid != built.wtxid);
        }
        let segwit = sample(true).build();
        let base = sample(true).serialize(false).len() as u64;
        assert_eq!(segwit.weight, base * 3 + segwit.raw.len() as u64);
    }
}
