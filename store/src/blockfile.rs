//! Sealed block bodies as files beside the sled database (DESIGN §8, a deliberate deviation from
//! "everything in sled"): `<db dir>/nfguard-blocks/<id as 16 hex digits>.blk`, one file per block.
//!
//! Why not sled: sled 0.34 writes any leaf over 128 KiB (a sealed block is ~140 KiB) as a blob file,
//! and the rewritten versions of a leaf stay on disk until sled reclaims the log segment that points
//! at them, so deleting blocks gave no space back. Measured with `examples/bench.rs` (1 M flows):
//! blocks in a sled tree, 49.2 MiB before retention of the older half and 57 MiB after; as files,
//! 41.4 MiB before and 36.8 MiB after (the block files halve, 17.8 → 8.9 MiB; sled's own log grows by
//! ~4 MiB of rewritten aggregate leaves). `examples/steady.rs` (500 flows/s, 300 s retention, 10
//! windows): 16 → 49 MiB before, 21.6 → 17.4 MiB (between 10.5 and 23.2, sled's log cleaning) after.
//!
//! Crash safety: a body is written to `<id>.tmp`, fsynced, renamed to `<id>.blk` and the directory
//! fsynced before the sled batch that adds its summary (the commit point) is applied; a summary is
//! removed before its file. So after a crash there can be files without summary (orphans) but never a
//! summary without its file; [`BlockFiles::remove_orphans`] deletes them at open.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Directory name inside the database directory (sled only reads `conf`, `db`, `snap.*` and `blobs/`).
pub const BLOCKS_DIR: &str = "nfguard-blocks";
const EXT: &str = "blk";
const TMP_EXT: &str = "tmp";

/// The block files of one database.
#[derive(Debug)]
pub struct BlockFiles {
    dir: PathBuf,
}

impl BlockFiles {
    /// The block directory of the database in `db_dir`, created if missing.
    ///
    /// # Errors
    /// The I/O error creating it.
    pub fn open(db_dir: &Path) -> io::Result<Self> {
        let dir = db_dir.join(BLOCKS_DIR);
        fs::create_dir_all(&dir)?;
        Ok(BlockFiles { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: u64, ext: &str) -> PathBuf {
        self.dir.join(format!("{id:016x}.{ext}"))
    }

    /// Writes the bodies durably (each fsynced and renamed into place, then the directory fsynced).
    ///
    /// # Errors
    /// The first I/O error (ENOSPC on a full disk); the temporary file of a failed write is removed.
    pub fn write_all<'a>(
        &self,
        bodies: impl IntoIterator<Item = (u64, &'a [u8])>,
    ) -> io::Result<()> {
        let mut any = false;
        for (id, body) in bodies {
            let tmp = self.path(id, TMP_EXT);
            let res = (|| {
                let mut f = File::create(&tmp)?;
                f.write_all(body)?;
                f.sync_all()?;
                fs::rename(&tmp, self.path(id, EXT))
            })();
            if res.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            res?;
            any = true;
        }
        if any {
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }

    /// The body of block `id`, `None` when it has no file.
    ///
    /// # Errors
    /// An I/O error other than "not found".
    pub fn read(&self, id: u64) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.path(id, EXT)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes the files of these blocks (a missing one is not an error). Not fsynced: a deletion that
    /// a crash undoes leaves an orphan, which the next open removes.
    ///
    /// # Errors
    /// The first I/O error other than "not found"; the rest are still tried.
    pub fn remove_all(&self, ids: impl IntoIterator<Item = u64>) -> io::Result<()> {
        let mut first = Ok(());
        for id in ids {
            match fs::remove_file(self.path(id, EXT)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound && first.is_ok() => first = Err(e),
                _ => {}
            }
        }
        first
    }

    /// Deletes temporary files and block files for which `keep` is false; returns how many went.
    ///
    /// # Errors
    /// The I/O error listing the directory or deleting a file.
    pub fn remove_orphans(&self, keep: impl Fn(u64) -> bool) -> io::Result<usize> {
        let mut gone = 0;
        for e in fs::read_dir(&self.dir)? {
            let e = e?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            let orphan = match parse_name(&name) {
                Some((id, ext)) => ext != EXT || !keep(id),
                // Not ours: left alone.
                None => false,
            };
            if orphan {
                fs::remove_file(e.path())?;
                gone += 1;
            }
        }
        Ok(gone)
    }
}

/// (id, extension) of a file name this module writes.
fn parse_name(name: &str) -> Option<(u64, &str)> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() != 16 || (ext != EXT && ext != TMP_EXT) {
        return None;
    }
    Some((u64::from_str_radix(stem, 16).ok()?, ext))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn write_read_remove_and_orphans() {
        let dir = tempfile::tempdir().unwrap();
        let f = BlockFiles::open(dir.path()).unwrap();
        f.write_all([(1, &b"one"[..]), (0xabc, &b"two"[..])])
            .unwrap();
        assert_eq!(f.read(1).unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(f.read(2).unwrap(), None);
        // A crash mid-write leaves a temporary file; an aborted flush a file without summary.
        fs::write(f.path(7, TMP_EXT), b"partial").unwrap();
        fs::write(f.dir().join("README"), b"not ours").unwrap();
        assert_eq!(f.remove_orphans(|id| id == 1).unwrap(), 2);
        assert_eq!(f.read(0xabc).unwrap(), None);
        assert!(f.dir().join("README").exists());
        f.remove_all([1, 99]).unwrap();
        assert_eq!(f.read(1).unwrap(), None);
        assert_eq!(parse_name("00000000000000ff.blk"), Some((255, "blk")));
        assert_eq!(parse_name("ff.blk"), None);
    }
}
