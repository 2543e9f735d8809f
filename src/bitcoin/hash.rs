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

/// Double SHA-256 of one 64-byte block: a merkle node from two children.
/// Uses the specialised single-block path of `bitcoin_hashes`.
#[inline]
pub fn sha256d_64(data: &[u8; 64]) -> Hash32 {
    let mut out = [[0u8; 32]; 1];
    sha256d::Hash::hash_64_many(&mut out, std::slice::from_ref(data));
    out[0]
}

/// The hash of two merkle children.
#[inline]
pub fn merkle_parent(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(left);
    block[32..].copy_from_slice(right);
    sha256d_64(&block)
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
    fn sha256d_64_matches_generic() {
        let mut block = [0u8; 64];
        for (i, b) in block.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(7);
        }
        assert_eq!(sha256d_64(&block), sha256d(&block));
    }
}
