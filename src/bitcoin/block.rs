//! Block headers, transactions and blocks: parsing and the few
//! serializations the pool needs (header, witness commitment).

use super::encode::{DecodeError, Reader};
use super::hash::{sha256d, Hash32};
use super::merkle::merkle_root;

/// The 80-byte block header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u32,
    /// Previous block hash, internal order.
    pub prev_hash: Hash32,
    /// Merkle root, internal order.
    pub merkle_root: Hash32,
    pub time: u32,
    pub bits: u32,
    pub nonce: u32,
}

impl Header {
    pub const SIZE: usize = 80;

    pub fn serialize(&self) -> [u8; 80] {
        let mut out = [0u8; 80];
        out[0..4].copy_from_slice(&self.version.to_le_bytes());
        out[4..36].copy_from_slice(&self.prev_hash);
        out[36..68].copy_from_slice(&self.merkle_root);
        out[68..72].copy_from_slice(&self.time.to_le_bytes());
        out[72..76].copy_from_slice(&self.bits.to_le_bytes());
        out[76..80].copy_from_slice(&self.nonce.to_le_bytes());
        out
    }

    pub fn parse(bytes: &[u8; 80]) -> Header {
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
        Header {
            version: u32_at(0),
            prev_hash: bytes[4..36].try_into().unwrap(),
            merkle_root: bytes[36..68].try_into().unwrap(),
            time: u32_at(68),
            bits: u32_at(72),
            nonce: u32_at(76),
        }
    }

    /// The block hash, internal order.
    pub fn hash(&self) -> Hash32 {
        sha256d(&self.serialize())
    }
}

/// One input of a parsed transaction.
#[derive(Debug, Clone)]
pub struct TxIn<'a> {
    pub prev_txid: Hash32,
    pub prev_vout: u32,
    pub script_sig: &'a [u8],
    pub sequence: u32,
    /// Witness stack items (empty without witness).
    pub witness: Vec<&'a [u8]>,
}

/// One output of a parsed transaction.
#[derive(Debug, Clone)]
pub struct TxOut<'a> {
    pub value_sats: u64,
    pub script_pubkey: &'a [u8],
}

/// A transaction parsed from its serialization, borrowing the bytes.
#[derive(Debug, Clone)]
pub struct Tx<'a> {
    /// The full serialization, with witness if it had one.
    pub raw: &'a [u8],
    pub version: u32,
    pub inputs: Vec<TxIn<'a>>,
    pub outputs: Vec<TxOut<'a>>,
    pub lock_time: u32,
    pub has_witness: bool,
    /// sha256d of the serialization without witness, internal order.
    pub txid: Hash32,
    /// Where inputs and outputs lie in `raw` (start, end).
    io_range: (usize, usize),
    /// sha256d of the full serialization, internal order.
    pub wtxid: Hash32,
}

/// Upper bounds that keep a hostile serialization from allocating much.
const MAX_TX_IO: usize = 100_000;

impl<'a> Tx<'a> {
    /// Parse one transaction from the reader's position.
    pub fn parse(r: &mut Reader<'a>) -> Result<Tx<'a>, DecodeError> {
        let start = r.position();
        let version = r.u32_le()?;
        let mut has_witness = false;
        if r.peek_u8()? == 0 {
            let _marker = r.u8()?;
            if r.u8()? != 1 {
                return Err(DecodeError("bad segwit flag"));
            }
            has_witness = true;
        }
        let io_start = r.position();
        let inputs = parse_inputs(r)?;
        let outputs = parse_outputs(r)?;
        let io_end = r.position();
        let mut inputs = inputs;
        if has_witness {
            for input in inputs.iter_mut() {
                let items = r.length()?;
                for _ in 0..items {
                    let len = r.length()?;
                    input.witness.push(r.take(len)?);
                }
            }
        }
        let lock_time = r.u32_le()?;
        let end = r.position();
        let raw = &r.data()[start..end];
        let wtxid = sha256d(raw);
        let io_range = (io_start - start, io_end - start);
        let txid = if has_witness {
            sha256d(&strip_witness(raw, io_range))
        } else {
            wtxid
        };
        Ok(Tx {
            io_range,
            raw,
            version,
            inputs,
            outputs,
            lock_time,
            has_witness,
            txid,
            wtxid,
        })
    }

    /// Parse a transaction that must span all of `bytes`.
    pub fn parse_exact(bytes: &'a [u8]) -> Result<Tx<'a>, DecodeError> {
        let mut r = Reader::new(bytes);
        let tx = Tx::parse(&mut r)?;
        if r.remaining() != 0 {
            return Err(DecodeError("trailing bytes after transaction"));
        }
        Ok(tx)
    }

    /// The serialization without marker, flag and witness (what the
    /// txid commits to, and what Stratum's coinb1/coinb2 split).
    pub fn without_witness(&self) -> Vec<u8> {
        strip_witness(self.raw, self.io_range)
    }

    /// A coinbase has one input spending the null outpoint.
    pub fn is_coinbase(&self) -> bool {
        self.inputs.len() == 1
            && self.inputs[0].prev_txid == [0; 32]
            && self.inputs[0].prev_vout == 0xffff_ffff
    }

    /// Sum of output values (saturating).
    pub fn output_value_sats(&self) -> u64 {
        self.outputs
            .iter()
            .fold(0u64, |acc, o| acc.saturating_add(o.value_sats))
    }

    /// The witness commitment in this (coinbase) transaction: the last
    /// output whose script starts with `OP_RETURN 0x24 aa21a9ed`.
    pub fn witness_commitment(&self) -> Option<Hash32> {
        self.outputs.iter().rev().find_map(|o| {
            let s = o.script_pubkey;
            if s.len() >= 38 && s[..6] == WITNESS_COMMITMENT_PREFIX {
                Some(s[6..38].try_into().unwrap())
            } else {
                None
            }
        })
    }
}

/// version | inputs+outputs | lock_time, without marker and witness.
fn strip_witness(raw: &[u8], (io_start, io_end): (usize, usize)) -> Vec<u8> {
    let mut stripped = Vec::with_capacity(io_end - io_start + 8);
    stripped.extend_from_slice(&raw[..4]);
    stripped.extend_from_slice(&raw[io_start..io_end]);
    stripped.extend_from_slice(&raw[raw.len() - 4..]);
    stripped
}

fn parse_inputs<'a>(r: &mut Reader<'a>) -> Result<Vec<TxIn<'a>>, DecodeError> {
    let n = r.length()?;
    if n > MAX_TX_IO {
        return Err(DecodeError("too many inputs"));
    }
    let mut inputs = Vec::with_capacity(n);
    for _ in 0..n {
        let prev_txid = r.hash32()?;
        let prev_vout = r.u32_le()?;
        let len = r.length()?;
        let script_sig = r.take(len)?;
        let sequence = r.u32_le()?;
        inputs.push(TxIn {
            prev_txid,
            prev_vout,
            script_sig,
            sequence,
            witness: Vec::new(),
        });
    }
    Ok(inputs)
}

fn parse_outputs<'a>(r: &mut Reader<'a>) -> Result<Vec<TxOut<'a>>, DecodeError> {
    let n = r.length()?;
    if n > MAX_TX_IO {
        return Err(DecodeError("too many outputs"));
    }
    let mut outputs = Vec::with_capacity(n);
    for _ in 0..n {
        let value_sats = r.u64_le()?;
        let len = r.length()?;
        outputs.push(TxOut {
            value_sats,
            script_pubkey: r.take(len)?,
        });
    }
    Ok(outputs)
}

/// `OP_RETURN OP_PUSHBYTES_36 aa21a9ed`: BIP141's commitment header.
pub const WITNESS_COMMITMENT_PREFIX: [u8; 6] = [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];

/// The BIP141 commitment: sha256d(witness merkle root ‖ reserved value).
pub fn witness_commitment(witness_root: &Hash32, reserved: &Hash32) -> Hash32 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(witness_root);
    buf[32..].copy_from_slice(reserved);
    sha256d(&buf)
}

/// The full commitment output script for a witness merkle root, with the
/// all-zero reserved value the pool puts in the coinbase witness.
pub fn witness_commitment_script(witness_root: &Hash32) -> Vec<u8> {
    let mut script = WITNESS_COMMITMENT_PREFIX.to_vec();
    script.extend_from_slice(&witness_commitment(witness_root, &[0; 32]));
    script
}

/// Witness merkle root of a block's transactions: the coinbase's wtxid
/// counts as all zeros.
pub fn witness_root(wtxids_after_coinbase: &[Hash32]) -> Hash32 {
    let mut leaves = Vec::with_capacity(wtxids_after_coinbase.len() + 1);
    leaves.push([0u8; 32]);
    leaves.extend_from_slice(wtxids_after_coinbase);
    merkle_root(&leaves)
}

/// A parsed block.
#[derive(Debug, Clone)]
pub struct Block<'a> {
    pub header: Header,
    pub txs: Vec<Tx<'a>>,
}

impl<'a> Block<'a> {
    /// Parse a whole serialized block; trailing bytes are an error.
    pub fn parse(bytes: &'a [u8]) -> Result<Block<'a>, DecodeError> {
        let mut r = Reader::new(bytes);
        let header = Header::parse(r.take(80)?.try_into().unwrap());
        let n = r.length()?;
        let mut txs = Vec::with_capacity(n.min(MAX_TX_IO));
        for _ in 0..n {
            txs.push(Tx::parse(&mut r)?);
        }
        if r.remaining() != 0 {
            return Err(DecodeError("trailing bytes after block"));
        }
        Ok(Block { header, txs })
    }

    /// Merkle root computed from the transactions.
    pub fn computed_merkle_root(&self) -> Hash32 {
        let txids: Vec<Hash32> = self.txs.iter().map(|t| t.txid).collect();
        merkle_root(&txids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitcoin::encode::write_compact_size;

    /// A legacy transaction spending `inputs` (txid, vout) to outputs of
    /// (value, script).
    fn tx(inputs: &[([u8; 32], u32)], outputs: &[(u64, &[u8])]) -> Vec<u8> {
        let mut t = 2u32.to_le_bytes().to_vec();
        write_compact_size(&mut t, inputs.len() as u64);
        for (txid, vout) in inputs {
            t.extend_from_slice(txid);
            t.extend_from_slice(&vout.to_le_bytes());
            t.extend_from_slice(&[1, 0x51, 0xff, 0xff, 0xff, 0xff]);
        }
        write_compact_size(&mut t, outputs.len() as u64);
        for (value, script) in outputs {
            t.extend_from_slice(&value.to_le_bytes());
            write_compact_size(&mut t, script.len() as u64);
            t.extend_from_slice(script);
        }
        t.extend_from_slice(&0u32.to_le_bytes());
        t
    }

    const NULL: ([u8; 32], u32) = ([0; 32], 0xffff_ffff);

    #[test]
    fn coinbase_is_one_input_spending_the_null_outpoint() {
        let parse = |b: &[u8]| Tx::parse_exact(b).unwrap().is_coinbase();
        assert!(parse(&tx(&[NULL], &[(1, b"\x51")])));
        assert!(!parse(&tx(&[([0; 32], 0)], &[(1, b"\x51")])), "vout 0");
        assert!(
            !parse(&tx(&[([1; 32], 0xffff_ffff)], &[(1, b"\x51")])),
            "a txid"
        );
        assert!(!parse(&tx(&[NULL, NULL], &[(1, b"\x51")])), "two inputs");
    }

    #[test]
    fn output_value_sums_and_saturates() {
        let raw = tx(&[NULL], &[(5, b"\x51"), (7, b"\x52")]);
        assert_eq!(Tx::parse_exact(&raw).unwrap().output_value_sats(), 12);
        let raw = tx(&[NULL], &[(u64::MAX, b"\x51"), (7, b"\x52")]);
        assert_eq!(Tx::parse_exact(&raw).unwrap().output_value_sats(), u64::MAX);
    }

    /// The last output with BIP141's header and 32 bytes after it.
    #[test]
    fn witness_commitment_is_the_last_bip141_output() {
        let root = [3u8; 32];
        let script = witness_commitment_script(&root);
        assert_eq!(script.len(), 38);
        assert_eq!(script[..6], WITNESS_COMMITMENT_PREFIX);
        let commitment = witness_commitment(&root, &[0; 32]);
        assert_eq!(script[6..], commitment);
        assert_ne!(commitment, witness_commitment(&root, &[1; 32]));
        let older = witness_commitment_script(&[4; 32]);
        let short = &script[..37];
        let raw = tx(
            &[NULL],
            &[(0, &older), (0, &script), (0, short), (0, b"\x6a\x24")],
        );
        let t = Tx::parse_exact(&raw).unwrap();
        assert_eq!(t.witness_commitment(), Some(commitment));
        let raw = tx(&[NULL], &[(0, short), (0, &[0x6a; 38])]);
        assert_eq!(Tx::parse_exact(&raw).unwrap().witness_commitment(), None);
    }

    /// Counts past the bound are refused before anything is allocated;
    /// the bound itself is allowed (and then runs out of bytes, or reads
    /// nonsense).
    #[test]
    fn input_and_output_counts_are_bounded() {
        let count = |n: u64, inputs: bool| {
            let mut t = 2u32.to_le_bytes().to_vec();
            if !inputs {
                t.push(1);
                let one = tx(&[NULL], &[]);
                t.extend_from_slice(&one[5..5 + 42]); // the one input
            }
            write_compact_size(&mut t, n);
            // A count is first checked against the bytes left.
            t.resize(t.len() + MAX_TX_IO + 10, 0);
            Tx::parse_exact(&t).unwrap_err().0
        };
        let max = MAX_TX_IO as u64;
        assert_eq!(count(max + 1, true), "too many inputs");
        assert_ne!(count(max, true), "too many inputs");
        assert_eq!(count(max + 1, false), "too many outputs");
        assert_ne!(count(max, false), "too many outputs");
    }
}
