//! A process-group guardian: a tiny forked process that kills an executor command's whole process
//! group if lull dies (even by SIGKILL) while the command runs, so no orphan outlives lull.
//!
//! The guardian is forked *before* the command, and the command itself tells it its group: the
//! forked command, before it execs, sends its pid (its own group's id) on the guardian's socket.
//! So there is no moment when the command runs unguarded. If lull dies before the command was
//! forked, the guardian reads end-of-file without a group and kills nothing; if it dies after,
//! the command's close-on-exec copy of the socket keeps end-of-file away until the group id was
//! sent and the command's group exists. The command leads its group (rather than joining the
//! guardian's), so `setpgid(0, 0)` in it (as coreutils `timeout` does) changes nothing.
//!
//! After the group id, a byte from lull means "stand down: exit quietly"; end-of-file without it
//! means lull is gone (or stopped, or abandoned a command it could not watch): the guardian sends
//! the group SIGTERM, gives it the kill grace to end, then SIGKILL, and exits. lull need not
//! outlive the grace: a stopping lull leaves the command to its guardian.
//! While lull lives it deals with the group itself, so dropping the guardian stands it down: a
//! second kill from the guardian, after lull reaped the command, could hit a reused pid.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Kills the process group the command reports if lull dies first.
#[derive(Debug)]
pub(crate) struct GroupGuardian {
    pid: libc::pid_t,
    write: Option<OwnedFd>,
    /// Already handed to a thread that reaps it (see [`GroupGuardian::abandon`]).
    reaped_elsewhere: bool,
}

impl GroupGuardian {
    /// Forks the guardian, which gives a group it must end `grace` between SIGTERM and SIGKILL.
    /// The command must then call [`GroupReport::send`] before it execs.
    pub(crate) fn arm(grace: std::time::Duration) -> io::Result<Self> {
        let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
        let mut fds = [0; 2];
        // SAFETY: socketpair writes two descriptors into the array we own.
        let paired = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if paired != 0 {
            return Err(io::Error::last_os_error());
        }
        let (read, write) = (fds[0], fds[1]);
        // SAFETY: the child runs only async-signal-safe calls (see `guard`) and never returns.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: we are the freshly forked child.
            unsafe { guard(read, grace_ms) }
        }
        // SAFETY: `read` is ours and no longer needed in this process.
        unsafe { libc::close(read) };
        if pid < 0 {
            let error = io::Error::last_os_error();
            // SAFETY: `write` is ours.
            unsafe { libc::close(write) };
            return Err(error);
        }
        Ok(Self {
            pid,
            // SAFETY: `write` is a fresh descriptor owned by nothing else.
            write: Some(unsafe { OwnedFd::from_raw_fd(write) }),
            reaped_elsewhere: false,
        })
    }

    /// What the forked command uses to report its group (valid while `self` lives).
    pub(crate) fn report(&self) -> GroupReport {
        GroupReport(self.write.as_ref().map_or(-1, AsRawFd::as_raw_fd))
    }

    /// Lull dealt with the command (it finished, or lull killed its group): the guardian exits
    /// without killing anything. Dropping the guardian does the same.
    pub(crate) fn disarm(self) {
        drop(self);
    }

    /// lull stops watching the command (the spawn failed after a fork, or lull is stopping):
    /// the guardian ends the group the command reported, if it reported one, TERM first. Never
    /// waits: a thread reaps the guardian once it is done, and then the command's `leader`,
    /// which the caller left unreaped so the group's id stayed the command's meanwhile.
    pub(crate) fn abandon(mut self, leader: Option<libc::pid_t>) {
        drop(self.write.take());
        let pid = self.pid;
        self.reaped_elsewhere = true;
        let reap = move || {
            for child in std::iter::once(pid).chain(leader) {
                // SAFETY: reaps our own children: the guardian exits within its grace, and the
                // leader is dead by then (SIGKILL at the latest).
                while unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) } < 0
                    && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
                {
                }
            }
        };
        if std::thread::Builder::new()
            .name("lull-guardian-reaper".into())
            .spawn(reap)
            .is_err()
        {
            // A zombie until lull exits is better than blocking a stop for the grace.
            tracing::warn!("could not start a thread to reap a process-group guardian");
        }
    }
}

impl Drop for GroupGuardian {
    fn drop(&mut self) {
        if self.reaped_elsewhere {
            return;
        }
        if let Some(write) = self.write.take() {
            // SAFETY: sends one byte from a local on a socket we own. MSG_NOSIGNAL: should the
            // guardian be gone, that is an error to ignore, not a SIGPIPE.
            unsafe {
                libc::send(
                    write.as_raw_fd(),
                    b"x".as_ptr().cast(),
                    1,
                    libc::MSG_NOSIGNAL,
                )
            };
        }
        loop {
            // SAFETY: reaps our own child; it exits as soon as it reads the byte or end-of-file.
            let reaped = unsafe { libc::waitpid(self.pid, std::ptr::null_mut(), 0) };
            if reaped >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                break;
            }
        }
    }
}

/// The command's side: sends its pid, which is its process group's id (it is spawned with
/// `process_group(0)`), to the guardian. Runs in the forked command before exec.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GroupReport(RawFd);

impl GroupReport {
    /// Only async-signal-safe calls: this runs between fork and exec of a threaded process.
    /// A failure is ignored: the command runs unguarded rather than not at all.
    pub(crate) fn send(self) {
        // SAFETY: getpid and send on integers and a local buffer; the descriptor is the
        // guardian's socket, inherited from lull (closed by exec).
        unsafe {
            let pgid = libc::getpid().to_ne_bytes();
            libc::send(self.0, pgid.as_ptr().cast(), pgid.len(), libc::MSG_NOSIGNAL);
        }
    }
}

/// The guardian's whole life. Only async-signal-safe calls: the parent may have had many threads.
unsafe fn guard(read: libc::c_int, grace_ms: u64) -> ! {
    // SAFETY (whole body): plain syscalls on integers and local buffers; no allocation, no locks.
    unsafe {
        // Hold nothing of lull's: not its sockets, its database lock, or other guardians' pipes.
        close_all_except(read);
        // A Ctrl-C for lull's terminal group must not kill the guardian before lull handles it.
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
            libc::signal(signal, libc::SIG_IGN);
        }
        let mut pgid = [0u8; size_of::<libc::pid_t>()];
        if read_full(read, &mut pgid) < pgid.len() {
            // No command was started (or lull gave up first): there is nothing to kill.
            libc::_exit(0);
        }
        let pgid = libc::pid_t::from_ne_bytes(pgid);
        let mut byte = [0u8; 1];
        if read_full(read, &mut byte) == 1 {
            libc::_exit(0);
        }
        // Never a group that could be lull's own, or "every process" (-1).
        if pgid > 1 && pgid != libc::getpgrp() {
            libc::kill(-pgid, libc::SIGTERM);
            // Until the group is gone (every member reaped by its parent) or the grace ends.
            let step = libc::timespec {
                tv_sec: 0,
                tv_nsec: 50_000_000,
            };
            let mut waited_ms = 0u64;
            while waited_ms < grace_ms && libc::kill(-pgid, 0) == 0 {
                libc::nanosleep(&step, std::ptr::null_mut());
                waited_ms += 50;
            }
            libc::kill(-pgid, libc::SIGKILL);
        }
        libc::_exit(0)
    }
}

/// Reads until `buf` is full, end-of-file or an error other than EINTR; returns bytes read.
unsafe fn read_full(fd: libc::c_int, buf: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: reads into the unfilled rest of a buffer we own.
        let n = unsafe { libc::read(fd, buf[filled..].as_mut_ptr().cast(), buf.len() - filled) };
        if n > 0 {
            filled += n as usize;
            continue;
        }
        // SAFETY: errno is thread-local and readable after a failed call.
        if n == 0 || unsafe { *libc::__errno_location() } != libc::EINTR {
            break;
        }
    }
    filled
}

unsafe fn close_all_except(keep: libc::c_int) {
    // SAFETY: closing descriptors is async-signal-safe; close_range needs Linux 5.9, else loop.
    unsafe {
        let keep = keep as libc::c_uint;
        let below = keep == 0 || libc::syscall(libc::SYS_close_range, 0u32, keep - 1, 0u32) == 0;
        let above = libc::syscall(libc::SYS_close_range, keep + 1, libc::c_uint::MAX, 0u32) == 0;
        if !(below && above) {
            for fd in 0..65_536 {
                if fd != keep as libc::c_int {
                    libc::close(fd);
                }
            }
        }
    }
}
