//! Reassembly of a stream's first bytes (the start of each TCP direction, QUIC CRYPTO frames), up
//! to `MAX_HANDSHAKE_BYTES` (DESIGN §6), in any arrival order: [`StreamBuf`] holds the bytes,
//! [`StreamStart`] places one TCP direction's segments by sequence number.

/// Bytes of a TCP direction or QUIC CRYPTO stream reassembled at most (DESIGN §6): a ClientHello
/// with post-quantum key shares, or a server's first certificate, fits.
pub const MAX_HANDSHAKE_BYTES: usize = 8192;

/// A bounded reassembly buffer: bytes stored at their stream offset, and which prefix is
/// contiguous. QUIC CRYPTO frames and the start of each TCP direction use it.
#[derive(Debug, Default, Clone)]
pub struct StreamBuf {
    buf: Vec<u8>,
    /// Received ranges, merged, sorted; bounded by `MAX_RANGES`.
    ranges: Vec<(u16, u16)>,
}

const MAX_RANGES: usize = 16;

impl StreamBuf {
    /// Stores `data` at `offset`; data past `MAX_HANDSHAKE_BYTES` is dropped.
    pub fn insert(&mut self, offset: u64, data: &[u8]) {
        let Ok(start) = usize::try_from(offset) else {
            return;
        };
        if start >= MAX_HANDSHAKE_BYTES {
            return;
        }
        let end = start.saturating_add(data.len()).min(MAX_HANDSHAKE_BYTES);
        let Some(data) = data.get(..end.saturating_sub(start)) else {
            return;
        };
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        if let Some(dst) = self.buf.get_mut(start..end) {
            dst.copy_from_slice(data);
        }
        let (Ok(s), Ok(e)) = (u16::try_from(start), u16::try_from(end)) else {
            return;
        };
        if self.ranges.len() >= MAX_RANGES {
            return;
        }
        self.ranges.push((s, e));
        self.ranges.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(self.ranges.len());
        for &(s, e) in &self.ranges {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.ranges = merged;
    }

    /// Heap bytes held (buffer and range list).
    pub fn heap_len(&self) -> usize {
        self.buf
            .capacity()
            .saturating_add(self.ranges.capacity().saturating_mul(4))
    }

    /// The contiguous bytes from offset 0.
    pub fn contiguous(&self) -> &[u8] {
        match self.ranges.first() {
            Some(&(0, e)) => self.buf.get(..usize::from(e)).unwrap_or(&[]),
            _ => &[],
        }
    }
}

/// One TCP direction's stream position and, while reassembling, its buffer.
#[derive(Debug, Default)]
pub struct StreamStart {
    /// Sequence number of the stream's first byte (SYN + 1, else the first payload seen).
    base: Option<u32>,
    buf: Option<Box<StreamBuf>>,
    /// Reassembly stopped (bound reached or nothing asked for more).
    done: bool,
}

impl StreamStart {
    /// Records the SYN's sequence number: the stream starts one byte later.
    pub fn syn(&mut self, seq: u32) {
        self.base = Some(seq.wrapping_add(1));
    }

    /// The stream offset of a segment starting at `seq` (the first segment seen fixes offset 0
    /// when no SYN was); `usize::MAX` when it does not fit.
    pub fn offset(&mut self, seq: u32) -> usize {
        let base = *self.base.get_or_insert(seq);
        usize::try_from(seq.wrapping_sub(base)).unwrap_or(usize::MAX)
    }

    /// The buffer while reassembling (not after [`StreamStart::stop`]).
    pub fn active(&mut self) -> Option<&mut StreamBuf> {
        if self.done {
            return None;
        }
        self.buf.as_deref_mut()
    }

    /// Starts reassembling with `data` at `offset`, unless reassembly was stopped.
    pub fn start(&mut self, offset: usize, data: &[u8]) {
        if !self.done {
            let mut buf = Box::<StreamBuf>::default();
            buf.insert(offset as u64, data);
            self.buf = Some(buf);
        }
    }

    /// The buffer, created if needed, even after a stop (the server's certificate is read
    /// through it).
    pub fn buffer(&mut self) -> &mut StreamBuf {
        self.buf.get_or_insert_with(Box::default)
    }

    pub fn is_stopped(&self) -> bool {
        self.done
    }

    pub fn is_buffering(&self) -> bool {
        self.buf.is_some()
    }

    /// Stops reassembling for good and frees the buffer.
    pub fn stop(&mut self) {
        self.buf = None;
        self.done = true;
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.buf.as_ref().map_or(0, |b| b.heap_len())
    }
}
