//! The classifier's seccomp filter: once its sockets are bound, the process that parses hostile
//! packets may make only the system calls it was seen to make while classifying (measured with
//! `strace -f -c` on the real process under `nfguard run` replaying the demo's traffic; see
//! OPERATIONS.md "Security model"). Anything else kills the whole process (`SECCOMP_RET_KILL_PROCESS`),
//! which the supervisor reports as "killed by its seccomp filter" and restarts.
//!
//! Not allowed, among others: `execve`, `open`/`openat` (no file is read after start-up), `socket`,
//! `bind`, `connect` (the bus sockets exist already; a compromised classifier cannot reach the policy
//! process's socket or the network), `clone` (it starts no thread once running), `ptrace`, `mount`,
//! `bpf`, `setuid`.

use std::collections::BTreeMap;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, SeccompRule, TargetArch};

/// System calls of the running classifier. Measured: `strace -f -c -p` on the classifier under
/// `nfguard demo` for 70 s of its traffic and its SIGTERM stop saw accept4, brk, close, epoll_ctl,
/// epoll_wait, fcntl, getpid, getrandom, munmap, recvfrom, rt_sigreturn, sendto, sigaltstack and
/// write. The rest is what the same code may reach under other load: the allocator's other calls,
/// vectored and message I/O on the sockets it already has, futex waits, timers, the signal path
/// and `abort` on a panic (gettid, tgkill), and the exit.
const ALLOWED: &[(&str, libc::c_long)] = &[
    // I/O on the sockets it has (a reconnecting capture is accepted) and on stderr
    ("read", libc::SYS_read),
    ("write", libc::SYS_write),
    ("readv", libc::SYS_readv),
    ("writev", libc::SYS_writev),
    ("recvfrom", libc::SYS_recvfrom),
    ("sendto", libc::SYS_sendto),
    ("recvmsg", libc::SYS_recvmsg),
    ("sendmsg", libc::SYS_sendmsg),
    ("accept4", libc::SYS_accept4),
    ("shutdown", libc::SYS_shutdown),
    ("close", libc::SYS_close),
    ("fcntl", libc::SYS_fcntl),
    // the event loop, its wakers and clocks
    ("epoll_wait", libc::SYS_epoll_wait),
    ("epoll_pwait", libc::SYS_epoll_pwait),
    ("epoll_ctl", libc::SYS_epoll_ctl),
    ("futex", libc::SYS_futex),
    ("sched_yield", libc::SYS_sched_yield),
    ("clock_gettime", libc::SYS_clock_gettime),
    ("clock_nanosleep", libc::SYS_clock_nanosleep),
    ("nanosleep", libc::SYS_nanosleep),
    ("getrandom", libc::SYS_getrandom),
    ("getpid", libc::SYS_getpid),
    // shutdown_signal: is the supervisor that started us still the parent?
    ("getppid", libc::SYS_getppid),
    // memory
    ("mmap", libc::SYS_mmap),
    ("munmap", libc::SYS_munmap),
    ("mremap", libc::SYS_mremap),
    ("mprotect", libc::SYS_mprotect),
    ("madvise", libc::SYS_madvise),
    ("brk", libc::SYS_brk),
    // signals: SIGTERM/SIGINT through tokio's handler, and abort on a panic
    ("rt_sigaction", libc::SYS_rt_sigaction),
    ("rt_sigprocmask", libc::SYS_rt_sigprocmask),
    ("rt_sigreturn", libc::SYS_rt_sigreturn),
    ("sigaltstack", libc::SYS_sigaltstack),
    ("restart_syscall", libc::SYS_restart_syscall),
    ("gettid", libc::SYS_gettid),
    ("tgkill", libc::SYS_tgkill),
    ("exit", libc::SYS_exit),
    ("exit_group", libc::SYS_exit_group),
];

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("building the seccomp filter: {0}")]
    Build(String),
    #[error("installing the seccomp filter: {0}")]
    Install(String),
}

/// The names of the allowed system calls (for the docs and tests).
pub fn allowed_names() -> impl Iterator<Item = &'static str> {
    ALLOWED.iter().map(|(n, _)| *n)
}

fn target_arch() -> Result<TargetArch, SeccompError> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|e| SeccompError::Build(e.to_string()))
}

/// The compiled filter: [`ALLOWED`] pass, anything else kills the process.
///
/// # Errors
/// An architecture seccompiler does not know.
pub fn filter() -> Result<BpfProgram, SeccompError> {
    let rules: BTreeMap<i64, Vec<SeccompRule>> =
        ALLOWED.iter().map(|(_, nr)| (*nr, Vec::new())).collect();
    let f = SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        target_arch()?,
    )
    .map_err(|e| SeccompError::Build(e.to_string()))?;
    f.try_into()
        .map_err(|e: seccompiler::BackendError| SeccompError::Build(e.to_string()))
}

/// Installs the filter on every thread of this process (`SECCOMP_FILTER_FLAG_TSYNC`); it also sets
/// `NO_NEW_PRIVS`. Irreversible.
///
/// # Errors
/// The kernel refused the filter (no seccomp support, or a thread that cannot be synchronised).
pub fn install() -> Result<(), SeccompError> {
    let prog = filter()?;
    seccompiler::apply_filter_all_threads(&prog).map_err(|e| SeccompError::Install(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_compiles_and_leaves_out_what_a_compromise_needs() {
        let prog = filter().unwrap();
        assert!(prog.len() > ALLOWED.len());
        let names: Vec<&str> = allowed_names().collect();
        for forbidden in [
            "execve", "openat", "open", "socket", "connect", "bind", "clone", "clone3", "ptrace",
            "mount", "setuid",
        ] {
            assert!(!names.contains(&forbidden), "{forbidden} is allowed");
        }
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "a name is listed twice");
    }

    #[test]
    fn a_forbidden_call_kills_the_process() {
        // In a child process: the filter is irreversible, and KILL_PROCESS ends whoever made the call.
        if std::env::var_os("NFG_SECCOMP_CHILD").is_some() {
            install().unwrap();
            // Allowed: plain writes.
            eprintln!("filter installed");
            // Not allowed: opening a file.
            let _ = std::fs::File::open("/etc/hostname");
            std::process::exit(0);
        }
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "seccomp::tests::a_forbidden_call_kills_the_process",
                "--nocapture",
            ])
            .env("NFG_SECCOMP_CHILD", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("filter installed"), "{stderr}");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&out.status),
            Some(31),
            "not killed by SIGSYS: {:?} {stderr}",
            out.status
        );
    }
}
