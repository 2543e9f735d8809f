//! Payout addresses → output scripts, for the solo coinbase.
//!
//! Supported: P2PKH and P2SH (base58check), P2WPKH and P2WSH (bech32,
//! witness v0), P2TR (bech32m, witness v1), on mainnet, testnet
//! (testnet3 and testnet4), signet and regtest. Anything else is refused
//! with a reason a miner can read in the `mining.authorize` error: a block
//! reward paid to a script nobody can spend is lost for good.

use std::fmt;

use super::hash::sha256d;

/// The chain a pool mines on, as `getblockchaininfo`'s `chain` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Mainnet,
    /// testnet3 and testnet4 (same address formats).
    Testnet,
    Signet,
    Regtest,
}

impl Network {
    /// From `getblockchaininfo`'s `chain` ("main", "test", "testnet4",
    /// "signet", "regtest").
    pub fn from_chain(chain: &str) -> Option<Network> {
        match chain {
            "main" | "mainnet" | "bitcoin" => Some(Network::Mainnet),
            "test" | "testnet" | "testnet3" | "testnet4" => Some(Network::Testnet),
            "signet" => Some(Network::Signet),
            "regtest" => Some(Network::Regtest),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
            Network::Signet => "signet",
            Network::Regtest => "regtest",
        }
    }

    /// The bech32 human-readable part of this network's segwit addresses.
    pub fn bech32_hrp(self) -> &'static str {
        match self {
            Network::Mainnet => "bc",
            Network::Testnet | Network::Signet => "tb",
            Network::Regtest => "bcrt",
        }
    }

    /// Base58 version bytes (P2PKH, P2SH).
    fn base58_versions(self) -> (u8, u8) {
        match self {
            Network::Mainnet => (0x00, 0x05),
            _ => (0x6f, 0xc4),
        }
    }
}

/// Why a username cannot be used as a payout address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutAddressError {
    Empty,
    /// Not base58check and not bech32/bech32m.
    NotAnAddress,
    BadChecksum,
    /// A valid address of another network.
    WrongNetwork {
        address: &'static str,
        pool: &'static str,
    },
    /// A valid encoding with a length or version we will not pay to.
    Unsupported(&'static str),
}

impl fmt::Display for PayoutAddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayoutAddressError::Empty => write!(f, "empty address"),
            PayoutAddressError::NotAnAddress => write!(f, "not a bitcoin address"),
            PayoutAddressError::BadChecksum => write!(f, "address checksum mismatch"),
            PayoutAddressError::WrongNetwork { address, pool } => {
                write!(f, "{address} address on a {pool} pool")
            }
            PayoutAddressError::Unsupported(what) => write!(f, "unsupported address: {what}"),
        }
    }
}

impl std::error::Error for PayoutAddressError {}

/// Longest address we will look at (P2WSH/P2TR on regtest are 64 chars).
const MAX_ADDRESS_LEN: usize = 90;

/// The output script paying `address` on `network`.
pub fn script_pubkey(address: &str, network: Network) -> Result<Vec<u8>, PayoutAddressError> {
    if address.is_empty() {
        return Err(PayoutAddressError::Empty);
    }
    if address.len() > MAX_ADDRESS_LEN || !address.is_ascii() {
        return Err(PayoutAddressError::NotAnAddress);
    }
    let lower = address.to_ascii_lowercase();
    let segwit_prefix = ["bc1", "tb1", "bcrt1"].iter().any(|p| lower.starts_with(p));
    if segwit_prefix {
        segwit_script(address, network)
    } else {
        base58_script(address, network)
    }
}

fn segwit_script(address: &str, network: Network) -> Result<Vec<u8>, PayoutAddressError> {
    use bech32::primitives::decode::SegwitHrpstringError as E;
    let (hrp, version, program) = bech32::segwit::decode(address).map_err(|e| match e.0 {
        // A checksum failure is the common typo; say so plainly.
        E::Checksum(_) => PayoutAddressError::BadChecksum,
        _ => PayoutAddressError::NotAnAddress,
    })?;
    let hrp = hrp.to_lowercase();
    if hrp != network.bech32_hrp() {
        let address = match hrp.as_str() {
            "bc" => "mainnet",
            "tb" => "testnet/signet",
            "bcrt" => "regtest",
            _ => return Err(PayoutAddressError::NotAnAddress),
        };
        return Err(PayoutAddressError::WrongNetwork {
            address,
            pool: network.name(),
        });
    }
    let version = version.to_u8();
    let mut script = Vec::with_capacity(2 + program.len());
    match (version, program.len()) {
        (0, 20) | (0, 32) => script.push(0x00),
        (1, 32) => script.push(0x51),
        (0, _) => return Err(PayoutAddressError::Unsupported("witness v0 program length")),
        (1, _) => return Err(PayoutAddressError::Unsupported("witness v1 program length")),
        _ => return Err(PayoutAddressError::Unsupported("future witness version")),
    }
    script.push(program.len() as u8);
    script.extend_from_slice(&program);
    Ok(script)
}

fn base58_script(address: &str, network: Network) -> Result<Vec<u8>, PayoutAddressError> {
    let raw = bs58::decode(address)
        .into_vec()
        .map_err(|_| PayoutAddressError::NotAnAddress)?;
    if raw.len() != 25 {
        return Err(PayoutAddressError::NotAnAddress);
    }
    let (payload, checksum) = raw.split_at(21);
    if sha256d(payload)[..4] != *checksum {
        return Err(PayoutAddressError::BadChecksum);
    }
    let (p2pkh, p2sh) = network.base58_versions();
    let hash = &payload[1..];
    let mut script = Vec::with_capacity(25);
    match payload[0] {
        v if v == p2pkh => {
            script.extend_from_slice(&[0x76, 0xa9, 0x14]); // DUP HASH160 <20>
            script.extend_from_slice(hash);
            script.extend_from_slice(&[0x88, 0xac]); // EQUALVERIFY CHECKSIG
        }
        v if v == p2sh => {
            script.extend_from_slice(&[0xa9, 0x14]); // HASH160 <20>
            script.extend_from_slice(hash);
            script.push(0x87); // EQUAL
        }
        0x00 | 0x05 => return Err(wrong_network("mainnet", network)),
        0x6f | 0xc4 => return Err(wrong_network("testnet/signet/regtest", network)),
        _ => return Err(PayoutAddressError::NotAnAddress),
    }
    Ok(script)
}

fn wrong_network(address: &'static str, pool: Network) -> PayoutAddressError {
    PayoutAddressError::WrongNetwork {
        address,
        pool: pool.name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitcoin::hex;

    fn script(addr: &str, net: Network) -> String {
        hex::encode(&script_pubkey(addr, net).unwrap())
    }

    #[test]
    fn mainnet_formats() {
        // Satoshi's genesis-block address.
        assert_eq!(
            script("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", Network::Mainnet),
            "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac"
        );
        // BIP-13-style P2SH example.
        assert_eq!(
            script("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", Network::Mainnet),
            "a914b472a266d0bd89c13706a4132ccfb16f7c3b9fcb87"
        );
        // BIP-173 vectors.
        assert_eq!(
            script(
                "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
                Network::Mainnet
            ),
            "0014751e76e8199196d454941c45d1b3a323f1433bd6"
        );
        assert_eq!(
            script(
                "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
                Network::Mainnet
            ),
            "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"
        );
        // BIP-350 vector (P2TR).
        assert_eq!(
            script(
                "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
                Network::Mainnet
            ),
            "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
        );
    }

    #[test]
    fn test_networks() {
        assert_eq!(
            script(
                "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
                Network::Testnet
            ),
            "0014751e76e8199196d454941c45d1b3a323f1433bd6"
        );
        assert_eq!(
            script(
                "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
                Network::Signet
            ),
            "0014751e76e8199196d454941c45d1b3a323f1433bd6"
        );
        assert_eq!(
            script("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", Network::Testnet),
            "76a914243f1394f44554f4ce3fd68649c19adc483ce92488ac"
        );
        assert_eq!(
            script(
                "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
                Network::Regtest
            ),
            "0014751e76e8199196d454941c45d1b3a323f1433bd6"
        );
        // Regtest shares testnet's base58 versions.
        assert!(script_pubkey("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", Network::Regtest).is_ok());
    }

    #[test]
    fn refusals_are_clear() {
        let main = Network::Mainnet;
        assert_eq!(script_pubkey("", main), Err(PayoutAddressError::Empty));
        assert_eq!(
            script_pubkey("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", main),
            Err(PayoutAddressError::BadChecksum)
        );
        assert_eq!(
            script_pubkey("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", main),
            Err(PayoutAddressError::BadChecksum)
        );
        let e = script_pubkey("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", main).unwrap_err();
        assert_eq!(e.to_string(), "testnet/signet address on a mainnet pool");
        let e = script_pubkey("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", Network::Regtest).unwrap_err();
        assert_eq!(e.to_string(), "mainnet address on a regtest pool");
        assert_eq!(
            script_pubkey("worker1", main),
            Err(PayoutAddressError::NotAnAddress)
        );
        assert_eq!(
            script_pubkey("not an address at all!", main),
            Err(PayoutAddressError::NotAnAddress)
        );
        // Witness v2 is valid bech32m but not spendable today.
        assert!(matches!(
            script_pubkey("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", main),
            Err(PayoutAddressError::Unsupported(_))
        ));
    }

    #[test]
    fn chains_as_bitcoind_names_them() {
        for (chain, net) in [
            ("main", Network::Mainnet),
            ("mainnet", Network::Mainnet),
            ("bitcoin", Network::Mainnet),
            ("test", Network::Testnet),
            ("testnet", Network::Testnet),
            ("testnet3", Network::Testnet),
            ("testnet4", Network::Testnet),
            ("signet", Network::Signet),
            ("regtest", Network::Regtest),
        ] {
            assert_eq!(Network::from_chain(chain), Some(net), "{chain}");
        }
        assert_eq!(Network::from_chain("liquid"), None);
        assert_eq!(Network::from_chain(""), None);
    }

    /// Every other network's address is named in the refusal.
    #[test]
    fn wrong_networks_are_named() {
        let bc = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
        let bcrt = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
        let m = "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn";
        let p2sh = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy";
        for (address, pool, refusal) in [
            (bc, Network::Regtest, "mainnet address on a regtest pool"),
            (bcrt, Network::Mainnet, "regtest address on a mainnet pool"),
            (bcrt, Network::Signet, "regtest address on a signet pool"),
            (
                m,
                Network::Mainnet,
                "testnet/signet/regtest address on a mainnet pool",
            ),
            (p2sh, Network::Testnet, "mainnet address on a testnet pool"),
        ] {
            let e = script_pubkey(address, pool).unwrap_err();
            assert_eq!(e.to_string(), refusal, "{address}");
        }
    }

    /// Witness programs of a length the pool will not pay to, by version.
    #[test]
    fn witness_program_lengths() {
        use bech32::{segwit, Fe32, Hrp};
        let hrp = Hrp::parse("bc").unwrap();
        let v1_short = segwit::encode(hrp, Fe32::P, &[7; 20]).unwrap();
        assert_eq!(
            script_pubkey(&v1_short, Network::Mainnet),
            Err(PayoutAddressError::Unsupported("witness v1 program length"))
        );
        let v2 = segwit::encode(hrp, Fe32::Z, &[7; 32]).unwrap();
        assert_eq!(
            script_pubkey(&v2, Network::Mainnet),
            Err(PayoutAddressError::Unsupported("future witness version"))
        );
        // v0 programs are 20 or 32 bytes: the codec refuses others itself.
        assert!(segwit::encode(hrp, Fe32::Q, &[7; 24]).is_err());
    }
}
