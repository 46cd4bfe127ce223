//! The bus secret: what authorizes a state-changing bus request (`PutPolicy`).
//!
//! zmq.rs's ipc transport tells a server nothing about its peer (no `SO_PEERCRED`, no ZAP), and every
//! nfguard process runs as the same user, so file permissions on `runtime_dir` cannot tell the gateway
//! from a compromised classifier. The request therefore carries a secret only the gateway and the
//! policy process hold: `nfguard run` makes one per run and writes it to those two children's standard
//! input (not a file, the environment or the command line, which the other children, running as the
//! same user, could read); under systemd both units read a root-only file through
//! `StandardInput=file:`. Holders mark themselves non-dumpable so a same-user process cannot read it
//! from their memory either.

use std::io::Read;

/// Shortest secret accepted: 128 bits as hex.
pub const MIN_SECRET_LEN: usize = 32;
/// Longest secret read (a generated one is 64 hex digits).
pub const MAX_SECRET_LEN: usize = 1024;
/// Random bytes in a generated secret.
const GENERATED_BYTES: usize = 32;

/// A bus secret; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct BusSecret(Vec<u8>);

impl std::fmt::Debug for BusSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BusSecret(..)")
    }
}

impl BusSecret {
    /// A fresh secret: 32 random bytes as 64 hex digits.
    pub fn generate() -> BusSecret {
        let bytes: [u8; GENERATED_BYTES] = rand::random();
        let mut hex = Vec::with_capacity(GENERATED_BYTES * 2);
        for b in bytes {
            hex.extend_from_slice(format!("{b:02x}").as_bytes());
        }
        BusSecret(hex)
    }

    /// The secret in `text`, surrounding whitespace removed.
    ///
    /// # Errors
    /// Shorter than [`MIN_SECRET_LEN`], longer than [`MAX_SECRET_LEN`], or not printable ASCII.
    pub fn parse(text: &[u8]) -> Result<BusSecret, String> {
        let s = text.trim_ascii();
        if s.len() < MIN_SECRET_LEN {
            return Err(format!(
                "the bus secret has {} characters, fewer than {MIN_SECRET_LEN}",
                s.len()
            ));
        }
        if s.len() > MAX_SECRET_LEN {
            return Err(format!(
                "the bus secret is longer than {MAX_SECRET_LEN} characters"
            ));
        }
        if !s.iter().all(u8::is_ascii_graphic) {
            return Err("the bus secret must be printable ASCII".into());
        }
        Ok(BusSecret(s.to_vec()))
    }

    /// Reads a secret from `r` (standard input) to its end, at most [`MAX_SECRET_LEN`] bytes and a line end.
    ///
    /// # Errors
    /// The read error, or as [`BusSecret::parse`].
    pub fn read_from(r: impl Read) -> Result<BusSecret, String> {
        let mut buf = Vec::new();
        r.take(MAX_SECRET_LEN as u64 + 2)
            .read_to_end(&mut buf)
            .map_err(|e| format!("reading the bus secret: {e}"))?;
        BusSecret::parse(&buf)
    }

    /// The bytes sent with a request.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// True when `given` is this secret. Takes the same time wherever the first difference is, so
    /// a prober learns nothing from how fast it is refused.
    pub fn matches(&self, given: &[u8]) -> bool {
        if given.len() != self.0.len() {
            return false;
        }
        let diff = self
            .0
            .iter()
            .zip(given)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_differ_and_parse_back() {
        let a = BusSecret::generate();
        let b = BusSecret::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_bytes().len(), 64);
        let line = [a.as_bytes(), b"\n"].concat();
        assert_eq!(BusSecret::read_from(&line[..]).unwrap(), a);
        assert_eq!(format!("{a:?}"), "BusSecret(..)");
    }

    #[test]
    fn only_the_exact_secret_matches() {
        let s = BusSecret::parse(b"0123456789abcdef0123456789abcdef").unwrap();
        assert!(s.matches(b"0123456789abcdef0123456789abcdef"));
        assert!(!s.matches(b"0123456789abcdef0123456789abcdeF"));
        assert!(!s.matches(b"0123456789abcdef0123456789abcde"));
        assert!(!s.matches(b""));
    }

    #[test]
    fn short_long_and_binary_secrets_are_refused() {
        assert!(
            BusSecret::parse(b"short")
                .unwrap_err()
                .contains("fewer than 32")
        );
        assert!(BusSecret::parse(b"   \n").is_err());
        let long = vec![b'a'; MAX_SECRET_LEN + 1];
        assert!(BusSecret::parse(&long).unwrap_err().contains("longer"));
        let mut bin = vec![b'a'; 40];
        bin[5] = 0;
        assert!(BusSecret::parse(&bin).unwrap_err().contains("printable"));
        // A stream that never ends is read only up to the bound.
        let endless = std::io::repeat(b'a');
        assert!(
            BusSecret::read_from(endless)
                .unwrap_err()
                .contains("longer")
        );
    }
}
