//! SHA-256d. `bitcoin_hashes` detects SHA-NI at run time, so a default
//! release build uses the hardware instructions where the CPU has them.
//! (Never build with `-C target-cpu=native`: see `docs/design.md`.)

use bitcoin_hashes::sha256d;

/// A 32-byte hash in internal (serialization) byte order.
pub type Hash32 = [u8; 32];

/// Double SHA-256 of `data`.
#[inline]
pub fn sha256d(data: &[u8]) -> Hash32 {
    sha256d::Hash::hash(data).to_byte_array()
}

/// The hash of two merkle children.
///
/// Uses the generic path on purpose: `bitcoin_hashes`' specialised
/// 64-byte routine (`hash_64_many`) only uses SHA-NI two inputs at a time
/// and falls back to software for a single one, ~4.5× slower (measured by
/// `cargo bench --bench share -- sha256d`). A fold is one node at a time.
#[inline]
pub fn merkle_parent(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(left);
    block[32..].copy_from_slice(right);
    sha256d(&block)
}

/// Parents of many independent pairs at once (a whole merkle level):
/// SHA-NI two at a time, about twice the speed of one by one.
pub fn merkle_parents(pairs: &[[u8; 64]]) -> Vec<Hash32> {
    let mut out = vec![[0u8; 32]; pairs.len()];
    sha256d::Hash::hash_64_many(&mut out, pairs);
    out
}

/// Reverse a hash between internal and display order.
#[inline]
pub fn reversed(hash: &Hash32) -> Hash32 {
    let mut out = *hash;
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitcoin::hex;

    #[test]
    fn sha256d_known_answer() {
        // sha256d("hello") from rust-bitcoin's test vectors.
        let h = sha256d(b"hello");
        assert_eq!(
            hex::encode(&h),
            "9595c9df90075148eb06860365df33584b75bff782a510c6cd4883a419833d50"
        );
    }

    #[test]
    fn batched_parents_match_single() {
        let pairs: Vec<[u8; 64]> = (0..5u8).map(|i| [i.wrapping_mul(37); 64]).collect();
        let batched = merkle_parents(&pairs);
        for (pair, parent) in pairs.iter().zip(&batched) {
            let (l, r) = pair.split_at(32);
            assert_eq!(
                merkle_parent(l.try_into().unwrap(), r.try_into().unwrap()),
                *parent
            );
            assert_eq!(sha256d(pair), *parent);
        }
    }

    #[test]
    fn reversed_swaps_the_byte_order() {
        let mut h = [0u8; 32];
        h.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        let r = reversed(&h);
        assert_eq!((r[0], r[31]), (31, 0));
        assert_eq!(reversed(&r), h);
    }
}
