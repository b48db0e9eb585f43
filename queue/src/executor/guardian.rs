//! A process-group guardian: a tiny forked process that kills an executor command's whole process
//! group if lull dies (even by SIGKILL) while the command runs, so no orphan outlives lull.
//!
//! The guardian is forked *before* the command and leads the group the command then joins, so
//! there is no moment when the command runs unguarded: if lull dies between the fork and the
//! spawn, the guardian only kills its own group of one.
//!
//! The guardian holds one end of a socket pair whose other end only lull holds. A byte means
//! "the command finished normally: exit quietly"; end-of-file means lull is gone (or gave up on
//! the command): kill the group, then exit. A socket rather than a pipe, so that disarming a
//! guardian that the command's own `kill 0` already took down is an error, not a SIGPIPE.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Leads a new process group and kills it unless disarmed.
#[derive(Debug)]
pub(crate) struct GroupGuardian {
    pid: libc::pid_t,
    write: Option<OwnedFd>,
}

impl GroupGuardian {
    /// Forks the guardian as the leader of a new process group; the command joins [`Self::pgid`].
    pub(crate) fn arm() -> io::Result<Self> {
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
            unsafe { guard(read) }
        }
        // SAFETY: `read` is ours and no longer needed in this process.
        unsafe { libc::close(read) };
        if pid < 0 {
            let error = io::Error::last_os_error();
            // SAFETY: `write` is ours.
            unsafe { libc::close(write) };
            return Err(error);
        }
        // Both sides set the group (the classic shell idiom), so it exists before this returns
        // whichever runs first; the command's own setpgid would fail otherwise.
        // SAFETY: `pid` is our child, which never execs, so this cannot race an exec.
        unsafe { libc::setpgid(pid, pid) };
        Ok(Self {
            pid,
            // SAFETY: `write` is a fresh descriptor owned by nothing else.
            write: Some(unsafe { OwnedFd::from_raw_fd(write) }),
        })
    }

    /// The process group the command must join.
    pub(crate) fn pgid(&self) -> libc::pid_t {
        self.pid
    }

    /// The command finished normally: the guardian exits without killing anything.
    pub(crate) fn disarm(mut self) {
        if let Some(write) = self.write.take() {
            // SAFETY: sends one byte from a local on a socket we own; MSG_NOSIGNAL because the
            // guardian may already be gone (killed with its group), which is fine.
            unsafe {
                libc::send(
                    write.as_raw_fd(),
                    b"x".as_ptr().cast(),
                    1,
                    libc::MSG_NOSIGNAL,
                )
            };
        }
    }
}

impl Drop for GroupGuardian {
    fn drop(&mut self) {
        // Not disarmed: closing the pipe tells the guardian to kill the group.
        drop(self.write.take());
        // SAFETY: reaps our own child; it exits as soon as it reads the byte or end-of-file.
        unsafe { libc::waitpid(self.pid, std::ptr::null_mut(), 0) };
    }
}

/// The guardian's whole life. Only async-signal-safe calls: the parent may have had many threads.
unsafe fn guard(read: libc::c_int) -> ! {
    // SAFETY (whole body): plain syscalls on integers and a local buffer; no allocation, no locks.
    unsafe {
        libc::setpgid(0, 0);
        // Hold nothing of lull's: not its sockets, its database lock, or other guardians' pipes.
        close_all_except(read);
        // A Ctrl-C for lull's terminal group must not kill the guardian before lull handles it.
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
            libc::signal(signal, libc::SIG_IGN);
        }
        let mut byte = 0u8;
        loop {
            let n = libc::read(read, (&raw mut byte).cast(), 1);
            if n == 1 {
                libc::_exit(0);
            }
            if n == 0 || *libc::__errno_location() != libc::EINTR {
                break;
            }
        }
        // Takes the guardian down too, last: it is one of the group.
        libc::kill(0, libc::SIGKILL);
        libc::_exit(0)
    }
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
