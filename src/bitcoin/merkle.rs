//! Merkle trees as Bitcoin builds them (odd levels duplicate their last
//! node), and the coinbase branch Stratum sends to miners.

use super::hash::{merkle_parent, merkle_parents, Hash32};

/// Merkle root of `leaves` (txids in internal order). Empty → all zeros.
pub fn merkle_root(leaves: &[Hash32]) -> Hash32 {
    if leaves.is_empty() {
        return [0; 32];
    }
    let mut level: Vec<Hash32> = leaves.to_vec();
    while level.len() > 1 {
        level = next_level(&level);
    }
    level[0]
}

/// The parents of a level; an odd last node is paired with itself.
fn next_level(level: &[Hash32]) -> Vec<Hash32> {
    let pairs: Vec<[u8; 64]> = level
        .chunks(2)
        .map(|pair| {
            let mut block = [0u8; 64];
            block[..32].copy_from_slice(&pair[0]);
            block[32..].copy_from_slice(pair.get(1).unwrap_or(&pair[0]));
            block
        })
        .collect();
    merkle_parents(&pairs)
}

/// The branch that proves leaf 0 (the coinbase): the sibling at every
/// level, bottom up. `others` are the txids of every transaction after the
/// coinbase, in block order. A miner (or the pool) folds the coinbase txid
/// through this branch with [`fold_branch`] to get the merkle root.
pub fn coinbase_branch(others: &[Hash32]) -> Vec<Hash32> {
    let mut branch = Vec::new();
    // Level 0 with a placeholder for the coinbase; its value never matters,
    // because every parent on the coinbase's path is left out.
    let mut level: Vec<Hash32> = Vec::with_capacity(others.len() + 1);
    level.push([0; 32]);
    level.extend_from_slice(others);
    while level.len() > 1 {
        branch.push(level[1]);
        // Parents of pairs 1.. are all that later levels need besides the
        // coinbase path (index 0), which stays a placeholder.
        let mut next = vec![[0; 32]];
        next.extend(next_level(&level[2..]));
        level = next;
    }
    branch
}

/// Fold a leaf through a coinbase branch to the merkle root.
#[inline]
pub fn fold_branch(leaf: Hash32, branch: &[Hash32]) -> Hash32 {
    let mut node = leaf;
    for sibling in branch {
        node = merkle_parent(&node, sibling);
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash32> {
        (0..n)
            .map(|i| {
                let mut h = [0u8; 32];
                h[..8].copy_from_slice(&(i as u64 * 0x9e37_79b9 + 1).to_le_bytes());
                h
            })
            .collect()
    }

    #[test]
    fn branch_folds_to_root_for_every_size() {
        for n in 1..40 {
            let all = leaves(n);
            let branch = coinbase_branch(&all[1..]);
            assert_eq!(fold_branch(all[0], &branch), merkle_root(&all), "n={n}");
            let depth = if n == 1 {
                0
            } else {
                (n - 1).ilog2() as usize + 1
            };
            assert_eq!(branch.len(), depth, "n={n}");
        }
    }

    #[test]
    fn single_leaf_root_is_the_leaf() {
        let all = leaves(1);
        assert_eq!(merkle_root(&all), all[0]);
    }
}
