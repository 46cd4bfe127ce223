//! The list files a rule file names (`host_list`, `ip_list`): read once per compile however many
//! rules name them, their skipped lines collected for the operator, their paths kept so the policy
//! process reloads when one changes.
//!
//! Reading goes through a [`ReadList`] callback: the compile stays pure (tests hand it text), and
//! [`read_list_file`] is the file-system shell.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::host_list::{HostList, MAX_REPORTED, Skipped};
use crate::ip_list::IpList;

/// Largest list file read: a 1,000,000-name hosts file is about 30 MiB; 256 MiB bounds a runaway.
pub const MAX_LIST_BYTES: u64 = 256 << 20;

/// Returns the text of the list named as written in the rule file, or why it cannot be read.
pub type ReadList<'r> = dyn FnMut(&str) -> Result<String, String> + 'r;

/// The lists of one compile.
pub(crate) struct Lists<'r> {
    read: &'r mut ReadList<'r>,
    hosts: HashMap<String, Arc<HostList>>,
    ips: HashMap<String, Arc<IpList>>,
    /// Paths as written, in the order first named.
    pub files: Vec<String>,
    /// Skipped-line messages and per-list totals.
    pub warnings: Vec<String>,
}

impl<'r> Lists<'r> {
    pub(crate) fn new(read: &'r mut ReadList<'r>) -> Lists<'r> {
        Lists {
            read,
            hosts: HashMap::new(),
            ips: HashMap::new(),
            files: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub(crate) fn host_list(&mut self, name: &str) -> Result<Arc<HostList>, String> {
        if let Some(l) = self.hosts.get(name) {
            return Ok(l.clone());
        }
        let text = self.text(name)?;
        let (list, skipped) = HostList::parse(name, &text)?;
        self.report(name, skipped);
        let list = Arc::new(list);
        self.hosts.insert(name.to_string(), list.clone());
        Ok(list)
    }

    pub(crate) fn ip_list(&mut self, name: &str) -> Result<Arc<IpList>, String> {
        if let Some(l) = self.ips.get(name) {
            return Ok(l.clone());
        }
        let text = self.text(name)?;
        let (list, skipped) = IpList::parse(name, &text)?;
        self.report(name, skipped);
        let list = Arc::new(list);
        self.ips.insert(name.to_string(), list.clone());
        Ok(list)
    }

    fn text(&mut self, name: &str) -> Result<String, String> {
        if name.trim().is_empty() {
            return Err("empty list file name".into());
        }
        if !self.files.iter().any(|f| f == name) {
            self.files.push(name.to_string());
        }
        (self.read)(name).map_err(|e| format!("{name}: cannot read: {e}"))
    }

    fn report(&mut self, name: &str, s: Skipped) {
        self.warnings.extend(s.messages);
        if s.count > MAX_REPORTED {
            self.warnings.push(format!(
                "{name}: {} lines skipped in all (the first {MAX_REPORTED} shown)",
                s.count
            ));
        }
    }
}

/// Reads list `name` relative to `dir` (the rule file's directory): a regular file of at most
/// [`MAX_LIST_BYTES`]; bytes that are not UTF-8 become U+FFFD (their lines are then skipped as
/// invalid names, the rest of the list still counts).
///
/// # Errors
/// The I/O error, or why the file is refused.
pub fn read_list_file(dir: &Path, name: &str) -> Result<String, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    // O_NONBLOCK: a FIFO without a writer would block the policy process at open.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| e.to_string())?;
    let meta = f.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file (FIFOs, devices and directories are refused)".into());
    }
    if meta.len() > MAX_LIST_BYTES {
        return Err(format!(
            "{} bytes is more than the {MAX_LIST_BYTES} a list may have",
            meta.len()
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    f.take(MAX_LIST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_LIST_BYTES {
        return Err(format!(
            "grew past the {MAX_LIST_BYTES} bytes a list may have while read"
        ));
    }
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn files_are_read_once_and_refused_when_not_regular() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "a.test\n").unwrap();
        let mut reads = 0;
        let mut read = |n: &str| {
            reads += 1;
            read_list_file(dir.path(), n)
        };
        let mut lists = Lists::new(&mut read);
        let a = lists.host_list("a.txt").unwrap();
        let b = lists.host_list("a.txt").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(lists.files, ["a.txt"]);
        let missing = lists.host_list("missing.txt").unwrap_err();
        assert!(
            missing.starts_with("missing.txt: cannot read: No such file"),
            "{missing}"
        );
        drop(lists);
        assert_eq!(reads, 2);
        assert_eq!(
            read_list_file(dir.path(), ".").unwrap_err(),
            "not a regular file (FIFOs, devices and directories are refused)"
        );
        std::fs::write(dir.path().join("latin1.txt"), b"# caf\xe9\nb.test\n").unwrap();
        let t = read_list_file(dir.path(), "latin1.txt").unwrap();
        assert!(t.ends_with("b.test\n"));
    }
}
