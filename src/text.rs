//! Text helpers for strings that may come from a miner, a node or a
//! datagram: every cut of such text goes through [`prefix`], so no byte
//! count can land inside a multi-byte character (slicing there panics).

/// The longest prefix of `s` that is at most `max_bytes` long and ends on
/// a character boundary.
pub fn prefix(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Cut `s` in place to [`prefix`]`(s, max_bytes)`; whether it was cut.
pub fn truncate(s: &mut String, max_bytes: usize) -> bool {
    let len = prefix(s, max_bytes).len();
    let cut = len < s.len();
    s.truncate(len);
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_cuts_inside_a_character() {
        let s = format!("{}é", "a".repeat(127));
        assert_eq!(prefix(&s, 128), "a".repeat(127));
        assert_eq!(prefix(&s, 129), s);
        assert_eq!(prefix("ééé", 0), "");
        assert_eq!(prefix("ééé", 3), "é");
        assert_eq!(prefix("€", 2), "");
        let mut t = String::from("a€b");
        assert!(truncate(&mut t, 3));
        assert_eq!(t, "a");
        assert!(!truncate(&mut t, 10));
    }
}
