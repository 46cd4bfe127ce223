//! The reserve: a file of incompressible bytes next to the database, held while the store writes and
//! deleted when a write fails, so the reopen that follows has room. sled 0.34 cannot be reopened on a
//! full disk (recovery writes a fresh `snap.*` file and fails with ENOSPC), and until it is reopened the
//! failed instance refuses writes and some reads too (see `db.rs`). Writing the reserve again, with
//! headroom, is how the store learns that space has returned.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name inside the database directory (sled only reads `conf`, `db`, `snap.*` and `blobs/`).
pub const RESERVE_FILE: &str = "nfguard-reserve";
/// Base size: four of sled's 512 KiB segments. Measured (2026-11-27) by filling a 6 MiB tmpfs through
/// sled 0.34 until ENOSPC, dropping the handle, freeing N bytes and reopening: N = 0 and 256 KiB failed,
/// 512 KiB and 1 MiB succeeded every time, so this is twice the largest amount seen to be needed.
pub const RESERVE_BASE: u64 = 2 << 20;
/// Free space that must be writable before ingest resumes, beyond the reserve and the room a reopen
/// needs: two segments' worth, so the first batches after a pause do not fill the disk again at once.
pub const RESUME_HEADROOM: u64 = 1 << 20;

/// Bytes the reserve should hold for the database in `dir`: the base plus twice the largest snapshot,
/// since a reopen writes a new snapshot before it removes the old one.
pub fn size_for(dir: &Path) -> u64 {
    let snap = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("snap."))
        .filter_map(|e| e.metadata().ok().map(|m| m.len()))
        .max()
        .unwrap_or(0);
    RESERVE_BASE.saturating_add(snap.saturating_mul(2))
}

/// The reserve file of one database directory.
#[derive(Debug)]
pub struct Reserve {
    path: PathBuf,
}

impl Reserve {
    pub fn new(dir: &Path) -> Self {
        Reserve {
            path: dir.join(RESERVE_FILE),
        }
    }

    /// Current size in bytes (0 when absent).
    pub fn len(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the reserve as `bytes` of data, after proving that `headroom` more could be written too
    /// (the file is written `bytes + headroom` long, synced, then cut to `bytes`).
    ///
    /// # Errors
    /// The I/O error, typically ENOSPC; the file is then removed so a partial reserve takes no space.
    pub fn fill(&self, bytes: u64, headroom: u64) -> std::io::Result<()> {
        let res = self.write(bytes, headroom);
        if res.is_err() {
            let _ = std::fs::remove_file(&self.path);
        }
        res
    }

    fn write(&self, bytes: u64, headroom: u64) -> std::io::Result<()> {
        let total = bytes.saturating_add(headroom);
        let mut f = File::create(&self.path)?;
        // Pseudo-random bytes: zeros or a repeated pattern would take no blocks on a compressing file
        // system (ZFS, btrfs compress), and a sparse file (set_len) takes none anywhere.
        let mut chunk = vec![0u8; 64 << 10];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut written = 0u64;
        while written < total {
            for word in chunk.chunks_exact_mut(8) {
                // xorshift64 (Marsaglia 2003).
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                word.copy_from_slice(&state.to_le_bytes());
            }
            let n = usize::try_from(total - written)
                .unwrap_or(usize::MAX)
                .min(chunk.len());
            f.write_all(chunk.get(..n).unwrap_or(&chunk))?;
            written += n as u64;
        }
        f.sync_all()?;
        f.set_len(bytes)?;
        f.sync_all()
    }

    /// Deletes the reserve, returning its space to the file system.
    pub fn release(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fill_writes_exact_size_and_release_removes() {
        let dir = tempfile::tempdir().unwrap();
        let r = Reserve::new(dir.path());
        assert!(r.is_empty());
        r.fill(100_000, 50_000).unwrap();
        assert_eq!(r.len(), 100_000);
        let data = std::fs::read(dir.path().join(RESERVE_FILE)).unwrap();
        // Incompressible: no 4 KiB block repeats the first.
        let first = data.get(..4096).unwrap();
        assert!(data.chunks(4096).skip(1).all(|c| c != first));
        r.release();
        assert!(r.is_empty());
    }

    #[test]
    fn size_grows_with_the_largest_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(size_for(dir.path()), RESERVE_BASE);
        std::fs::write(dir.path().join("snap.0000000000000001"), vec![1u8; 1000]).unwrap();
        std::fs::write(dir.path().join("snap.0000000000000002"), vec![1u8; 3000]).unwrap();
        std::fs::write(dir.path().join("db"), vec![1u8; 9000]).unwrap();
        assert_eq!(size_for(dir.path()), RESERVE_BASE + 6000);
    }
}
