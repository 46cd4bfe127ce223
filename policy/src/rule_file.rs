//! Rewriting the rule file for `PutPolicy` (`PUT /api/v1/policy`) without changing what the operator
//! set up around it: a symlink stays a symlink (its target is rewritten), the file keeps its mode and
//! owner, and a reader or a crash sees the old text or the new one, never half of one.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of a rule file that did not exist yet: rules can name internal hosts and networks.
const NEW_FILE_MODE: u32 = 0o600;

/// Writes `text` to a temporary file beside the file `path` resolves to, syncs it, gives it the old
/// file's mode and owner, and renames it over that file.
///
/// # Errors
/// Any I/O error; the temporary file is removed again.
pub(crate) fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let target = resolve(path)?;
    let old = std::fs::metadata(&target).ok();
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let name = target.file_name().map_or_else(
        || "policy.toml".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let mode = old
        .as_ref()
        .map_or(NEW_FILE_MODE, |m| m.permissions().mode() & 0o7777);
    let result = (|| {
        // create_new: never follows a link planted at the temporary name.
        let mut f: File = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have taken bits off; the old file's mode is what the operator chose.
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        if let Some(m) = &old {
            // Only root may give a file away; as the file's own user this is a no-op that succeeds.
            match std::os::unix::fs::fchown(&f, Some(m.uid()), Some(m.gid())) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(1) => {} // EPERM: not root, keep ours
                Err(e) => return Err(e),
            }
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The file a rule-file path names: symlinks followed (relative ones against their own directory),
/// at most 40 of them as the kernel's `MAXSYMLINKS`; a missing file is written where it is named.
fn resolve(path: &Path) -> std::io::Result<PathBuf> {
    const MAX_SYMLINKS: usize = 40;
    let mut p = path.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(std::io::Error::other(format!(
        "{}: more than {MAX_SYMLINKS} symbolic links",
        path.display()
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_mode_of_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("policy.toml");
        std::fs::write(&p, "default = \"drop\"\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomically(&p, "default = \"accept\"\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "default = \"accept\"\n"
        );
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o600);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&p, "x").unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
    }

    #[test]
    fn a_symlink_stays_and_its_target_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        let real = dir.path().join("real/rules.toml");
        std::fs::write(&real, "old").unwrap();
        let link = dir.path().join("policy.toml");
        std::os::unix::fs::symlink("real/rules.toml", &link).unwrap();
        write_atomically(&link, "new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("real"))
            .unwrap()
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn a_new_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("policy.toml");
        write_atomically(&p, "default = \"accept\"\n").unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            NEW_FILE_MODE
        );
    }
}
