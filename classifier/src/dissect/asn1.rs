//! A bounded BER cursor (ITU-T X.690 §8.1) for the dissectors that recognise ASN.1 messages
//! (Kerberos, LDAP). It tells "the bytes end too early" ([`Fail::Short`], which the probes turn
//! into `NeedMore`) from "these bytes are not the expected encoding" ([`Fail::Bad`], `NoMatch`).

/// Why a read stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fail {
    /// The input ends before the value: a longer prefix could still match.
    Short,
    /// The input contradicts the expected encoding.
    Bad,
}

/// Longest definite length form accepted: 4 length octets (X.690 §8.1.3.5 allows 126; no message
/// these dissectors look at exceeds 4 GiB).
const MAX_LEN_OCTETS: u8 = 4;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Ber<'a> {
    buf: &'a [u8],
}

impl<'a> Ber<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Ber { buf }
    }

    pub(crate) fn byte(&mut self) -> Result<u8, Fail> {
        let (&b, rest) = self.buf.split_first().ok_or(Fail::Short)?;
        self.buf = rest;
        Ok(b)
    }

    /// The next bytes must be `want`.
    pub(crate) fn expect(&mut self, want: &[u8]) -> Result<(), Fail> {
        for &w in want {
            if self.byte()? != w {
                return Err(Fail::Bad);
            }
        }
        Ok(())
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), Fail> {
        let (_, rest) = self.buf.split_at_checked(n).ok_or(Fail::Short)?;
        self.buf = rest;
        Ok(())
    }

    /// A definite length, short or long form (X.690 §8.1.3); the indefinite form is refused.
    pub(crate) fn len(&mut self) -> Result<usize, Fail> {
        let first = self.byte()?;
        if first < 0x80 {
            return Ok(usize::from(first));
        }
        let octets = first & 0x7f;
        if octets == 0 || octets > MAX_LEN_OCTETS {
            return Err(Fail::Bad);
        }
        let mut len = 0usize;
        for _ in 0..octets {
            let b = self.byte()?;
            len = len
                .checked_mul(256)
                .and_then(|l| l.checked_add(usize::from(b)))
                .ok_or(Fail::Bad)?;
        }
        Ok(len)
    }

    /// Bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }
}
