//! The children an `nfguard run` started, on record in its `runtime_dir`, so that the next run can stop
//! those an old supervisor left behind (killed with SIGKILL before `PR_SET_PDEATHSIG` could act, or a
//! version without it): otherwise every new child finds its socket, database or port still taken and
//! crash-loops. A process is identified by its pid *and* its start time (`/proc/PID/stat` field 22),
//! so a pid reused by an unrelated process is never signalled.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// File name of the record inside `runtime_dir`.
pub const RECORD_FILE: &str = "children.pids";

/// One started child: `part pid start_time` per line in the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildRecord {
    pub part: String,
    pub pid: i32,
    /// Clock ticks after boot at which the process started (`/proc/PID/stat` field 22).
    pub start_time: u64,
}

/// Where the record of `runtime_dir` lives.
pub fn record_path(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join(RECORD_FILE)
}

/// The record for `pid` now, or `None` when the process is gone.
pub fn record_of(part: &str, pid: u32) -> Option<ChildRecord> {
    let pid = i32::try_from(pid).ok()?;
    Some(ChildRecord {
        part: part.to_string(),
        pid,
        start_time: start_time(pid)?,
    })
}

/// Replaces the record with `children` (written beside and renamed, so a crash leaves one or the other).
///
/// # Errors
/// The write or rename error.
pub fn write(runtime_dir: &Path, children: &[ChildRecord]) -> std::io::Result<()> {
    let mut text = String::new();
    for c in children {
        text.push_str(&format!("{} {} {}\n", c.part, c.pid, c.start_time));
    }
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = record_path(runtime_dir);
    let tmp = runtime_dir.join(format!(".{RECORD_FILE}.tmp"));
    // The directory belongs to the children's user: a link planted at the temporary name must not
    // make this (root) process write elsewhere, so it is removed and the file created anew.
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    std::fs::rename(tmp, path)
}

/// Parses a record; lines that do not read `part pid start_time` are skipped (the file is ours, but a
/// torn or edited one must not stop the start).
pub fn parse(text: &str) -> Vec<ChildRecord> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let part = f.next()?.to_string();
            let pid = f.next()?.parse().ok().filter(|p: &i32| *p > 1)?;
            let start_time = f.next()?.parse().ok()?;
            f.next().is_none().then_some(ChildRecord {
                part,
                pid,
                start_time,
            })
        })
        .collect()
}

/// `/proc/PID/stat` field 22; the command name (field 2) is in parentheses and may hold spaces and
/// parentheses itself, so fields are counted after its last `)`.
pub fn parse_start_time(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // rest starts at field 3 (state); field 22 is the 20th from there.
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn start_time(pid: i32) -> Option<u64> {
    parse_start_time(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Is the recorded process still the same one, and not a zombie waiting for its parent?
fn still_running(c: &ChildRecord) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", c.pid)) else {
        return false;
    };
    let zombie = stat
        .rsplit_once(')')
        .is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
    !zombie && parse_start_time(&stat) == Some(c.start_time)
}

/// The record's text if this process's user wrote it: the children's user may replace files in
/// `runtime_dir`, and a record of its making must not make the supervisor signal other processes.
fn read_own_record(path: &Path) -> std::io::Result<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_file() || meta.uid() != nix::unistd::geteuid().as_raw() {
        tracing::warn!(path = %path.display(), owner = meta.uid(), "Ignoring a children record this user did not write.");
        return Err(std::io::ErrorKind::PermissionDenied.into());
    }
    std::fs::read_to_string(path)
}

/// Stops the children an earlier run of this `runtime_dir` left running: SIGTERM (captures release
/// held packets on it), SIGKILL after `timeout`. Returns the parts that were found running.
/// Call only once this supervisor knows no other live supervisor uses the directory.
pub fn stop_leftovers(runtime_dir: &Path, timeout: Duration) -> Vec<String> {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let Ok(text) = read_own_record(&record_path(runtime_dir)) else {
        return Vec::new();
    };
    let left: Vec<ChildRecord> = parse(&text).into_iter().filter(still_running).collect();
    for c in &left {
        tracing::warn!(part = %c.part, pid = c.pid, "A child of an earlier nfguard run is still running; stopping it.");
        let _ = kill(Pid::from_raw(c.pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + timeout;
    while left.iter().any(still_running) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for c in left.iter().filter(|c| still_running(c)) {
        tracing::warn!(part = %c.part, pid = c.pid, "Leftover child ignored SIGTERM; killing it.");
        let _ = kill(Pid::from_raw(c.pid), Signal::SIGKILL);
    }
    // Killed processes are reaped by init; wait until they are gone so their sockets are free.
    let deadline = Instant::now() + Duration::from_secs(2);
    while left.iter().any(still_running) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_file(record_path(runtime_dir));
    left.into_iter().map(|c| c.part).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_field_22_even_with_odd_command_names() {
        let stat = "4242 (nf) guard (x)) S 1 4242 4242 0 -1 4194560 120 0 0 0 1 2 0 0 20 0 3 0 987654 1000 10";
        assert_eq!(parse_start_time(stat), Some(987_654));
        assert_eq!(parse_start_time("12 (x) S 1"), None);
        assert_eq!(parse_start_time("garbage"), None);
        let own = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert!(parse_start_time(&own).is_some_and(|t| t > 0));
    }

    #[test]
    fn records_round_trip_and_bad_lines_are_skipped() {
        let recs = vec![
            ChildRecord {
                part: "store".into(),
                pid: 100,
                start_time: 5,
            },
            ChildRecord {
                part: "capture-q0".into(),
                pid: 101,
                start_time: 6,
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &recs).unwrap();
        let text = std::fs::read_to_string(record_path(dir.path())).unwrap();
        assert_eq!(parse(&text), recs);
        assert_eq!(
            parse("store 1 5\npolicy x 5\npolicy 7\nx 0 1\ngateway 9 9 extra\n\npolicy 8 3\n")
                .len(),
            1
        );
    }

    #[test]
    fn a_reused_pid_is_not_signalled() {
        // This test process, recorded with another start time: not "still running" as that record.
        let me = std::process::id();
        let mut rec = record_of("store", me).unwrap();
        assert!(still_running(&rec));
        rec.start_time += 1;
        assert!(!still_running(&rec));
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[rec]).unwrap();
        assert!(stop_leftovers(dir.path(), Duration::from_millis(10)).is_empty());
        assert!(!record_path(dir.path()).exists());
    }

    #[test]
    fn a_record_of_another_user_is_not_obeyed() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root to give the record away");
            return;
        }
        let mut orphan = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap();
        let rec = record_of("classifier", orphan.id()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), std::slice::from_ref(&rec)).unwrap();
        std::os::unix::fs::chown(record_path(dir.path()), Some(65_534), None).unwrap();
        assert!(stop_leftovers(dir.path(), Duration::from_secs(1)).is_empty());
        assert!(
            still_running(&rec),
            "a process named by a foreign record was signalled"
        );
        orphan.kill().unwrap();
        orphan.wait().unwrap();
    }

    #[test]
    fn a_link_at_the_temporary_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join(format!(".{RECORD_FILE}.tmp")))
            .unwrap();
        write(dir.path(), &[]).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    }

    #[test]
    fn a_leftover_is_stopped() {
        let mut orphan = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap();
        let rec = record_of("classifier", orphan.id()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), std::slice::from_ref(&rec)).unwrap();
        // `sleep` dies of SIGTERM; it stays a zombie of this test until waited for, which counts as gone.
        assert_eq!(
            stop_leftovers(dir.path(), Duration::from_secs(5)),
            ["classifier"]
        );
        let status = orphan.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(15)
        );
    }
}
