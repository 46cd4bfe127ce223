//! Byte-string search, shared by the dissectors that look for a token anywhere in a payload.

/// The first offset of `needle` in `hay` (0 for an empty needle).
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}
