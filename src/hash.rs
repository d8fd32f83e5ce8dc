//! One stable hash for everything ctmuxd writes down or names by hash (socket names of
//! `-S` paths, checkpoint line hashes): 64-bit FNV-1a, the same across Rust versions and
//! processes, unlike `DefaultHasher`.

/// 64-bit FNV-1a of `bytes`.
///
/// # Example
/// ```
/// assert_eq!(ctmuxd::hash::fnv1a(b""), 0xcbf2_9ce4_8422_2325);
/// ```
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    #[test]
    fn fnv_is_the_reference_function() {
        // Reference values of 64-bit FNV-1a.
        assert_eq!(super::fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
