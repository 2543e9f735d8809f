//! JSON-RPC parameters, positional (array) or named (object) as bitcoind
//! accepts them, with bitcoind's error codes for missing or mistyped ones.

use simd_json::prelude::*;
use simd_json::OwnedValue;
use tbg_pool::bitcoin::hex;
use tbg_pool::bitcoin::Hash32;

use crate::rpc::{
    RpcError, RPC_INVALID_PARAMETER, RPC_INVALID_REQUEST, RPC_MISC_ERROR, RPC_TYPE_ERROR,
};

/// A request's `params`: absent, an array, or an object.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    value: Option<&'a OwnedValue>,
}

impl<'a> Params<'a> {
    /// Wrap a request's `params` member (absent and null mean none).
    pub fn new(value: Option<&'a OwnedValue>) -> Result<Params<'a>, RpcError> {
        match value {
            None => Ok(Params { value: None }),
            Some(v) if v.is_null() => Ok(Params { value: None }),
            Some(v) if v.as_array().is_some() || v.as_object().is_some() => {
                Ok(Params { value: Some(v) })
            }
            Some(_) => Err(RpcError::new(
                RPC_INVALID_REQUEST,
                "Params must be an array or object",
            )),
        }
    }

    /// The parameter at `index` (positional) or called `name` (named);
    /// an explicit null counts as absent, as in bitcoind.
    pub fn get(&self, index: usize, name: &str) -> Option<&'a OwnedValue> {
        let value = self.value?;
        let found = match value.as_array() {
            Some(array) => array.get(index),
            None => value.as_object()?.get(name),
        };
        found.filter(|v| !v.is_null())
    }

    /// An optional string parameter.
    pub fn opt_str(&self, index: usize, name: &str) -> Result<Option<&'a str>, RpcError> {
        match self.get(index, name) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| type_error(name, "string")),
        }
    }

    /// A required string parameter.
    pub fn str(&self, index: usize, name: &str) -> Result<&'a str, RpcError> {
        self.opt_str(index, name)?.ok_or_else(|| missing(name))
    }

    /// An optional integer parameter.
    pub fn opt_i64(&self, index: usize, name: &str) -> Result<Option<i64>, RpcError> {
        match self.get(index, name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| type_error(name, "number")),
        }
    }

    /// A required integer parameter.
    pub fn i64(&self, index: usize, name: &str) -> Result<i64, RpcError> {
        self.opt_i64(index, name)?.ok_or_else(|| missing(name))
    }

    /// An optional boolean; bitcoind also takes 0/1 for verbosity flags.
    pub fn opt_bool(&self, index: usize, name: &str) -> Result<Option<bool>, RpcError> {
        match self.get(index, name) {
            None => Ok(None),
            Some(v) => match (v.as_bool(), v.as_i64()) {
                (Some(b), _) => Ok(Some(b)),
                (None, Some(n)) => Ok(Some(n != 0)),
                _ => Err(type_error(name, "bool")),
            },
        }
    }

    /// A verbosity level: a number, or a boolean meaning 0 or 1.
    pub fn verbosity(&self, index: usize, name: &str) -> Result<Option<i64>, RpcError> {
        match self.get(index, name) {
            None => Ok(None),
            Some(v) => match (v.as_bool(), v.as_i64()) {
                (Some(b), _) => Ok(Some(i64::from(b))),
                (None, Some(n)) => Ok(Some(n)),
                _ => Err(type_error(name, "number")),
            },
        }
    }

    /// A required block or transaction hash in display hex, returned in
    /// internal order; bitcoind's ParseHashV messages on error.
    pub fn hash(&self, index: usize, name: &str) -> Result<Hash32, RpcError> {
        let text = self.str(index, name)?;
        if text.len() != 64 {
            let message = format!(
                "{name} must be of length 64 (not {}, for '{text}')",
                text.len()
            );
            return Err(RpcError::new(RPC_INVALID_PARAMETER, message));
        }
        hex::decode_display(text).map_err(|_| {
            let message = format!("{name} must be hexadecimal string (not '{text}')");
            RpcError::new(RPC_INVALID_PARAMETER, message)
        })
    }
}

/// bitcoind's RPC_TYPE_ERROR for a parameter of the wrong JSON type.
fn type_error(name: &str, expected: &str) -> RpcError {
    RpcError::new(
        RPC_TYPE_ERROR,
        format!("JSON value of parameter {name} is not of expected type {expected}"),
    )
}

/// A required parameter is absent.
fn missing(name: &str) -> RpcError {
    RpcError::new(RPC_MISC_ERROR, format!("Missing required parameter {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> OwnedValue {
        let mut bytes = json.as_bytes().to_vec();
        simd_json::to_owned_value(&mut bytes).unwrap()
    }

    #[test]
    fn positional_and_named() {
        let array = parse(r#"[5, "x", null, true]"#);
        let p = Params::new(Some(&array)).unwrap();
        assert_eq!(p.i64(0, "n").unwrap(), 5);
        assert_eq!(p.str(1, "s").unwrap(), "x");
        assert_eq!(p.opt_str(2, "z").unwrap(), None);
        assert_eq!(p.opt_bool(3, "b").unwrap(), Some(true));
        assert_eq!(p.str(0, "n").unwrap_err().code, RPC_TYPE_ERROR);
        assert_eq!(p.str(9, "q").unwrap_err().code, RPC_MISC_ERROR);
        let object = parse(r#"{"height": 7}"#);
        let p = Params::new(Some(&object)).unwrap();
        assert_eq!(p.i64(0, "height").unwrap(), 7);
        let bad = parse("3");
        assert_eq!(
            Params::new(Some(&bad)).unwrap_err().code,
            RPC_INVALID_REQUEST
        );
        let short = parse(r#"["abc"]"#);
        let err = Params::new(Some(&short))
            .unwrap()
            .hash(0, "blockhash")
            .unwrap_err();
        assert_eq!(
            err.message,
            "blockhash must be of length 64 (not 3, for 'abc')"
        );
    }
}
