//! Who is on the other end of the control socket: the peer's credentials (`SO_PEERCRED`: pid
//! and uid, read by the kernel, so a caller cannot claim another's), with the uid's user name.
//! Every call through the socket is audited as `local:<user> (pid <pid>)` — the CLI, curl and a
//! host's plugin alike.

use std::ffi::CStr;

/// The local process that opened a connection to the control socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LocalPeer {
    /// The user name of its uid (`uid 1000` when the system has none).
    pub(crate) user: String,
    /// Its user id, when the system tells.
    pub(crate) uid: Option<u32>,
    /// Its process id, when the system tells.
    pub(crate) pid: Option<i32>,
}

impl LocalPeer {
    /// The peer of `stream`; unknown fields when the kernel does not say.
    pub(crate) fn of(stream: &tokio::net::UnixStream) -> Self {
        match stream.peer_cred() {
            Ok(cred) => Self {
                user: user_name(cred.uid()),
                uid: Some(cred.uid()),
                pid: cred.pid(),
            },
            Err(error) => {
                tracing::warn!(%error, "cannot read the control socket peer's credentials");
                Self::unknown()
            }
        }
    }

    /// A peer whose credentials could not be read.
    pub(crate) fn unknown() -> Self {
        Self {
            user: "unknown".into(),
            uid: None,
            pid: None,
        }
    }

    /// This process, for commands that act on the store directly.
    pub(crate) fn this_process() -> Self {
        // SAFETY: getuid cannot fail and touches no memory.
        let uid = unsafe { libc::getuid() };
        Self {
            user: user_name(uid),
            uid: Some(uid),
            pid: i32::try_from(std::process::id()).ok(),
        }
    }

    /// `pid 4242`, what the audit shows after the identity.
    pub(crate) fn via(&self) -> Option<String> {
        self.pid.map(|pid| format!("pid {pid}"))
    }

    /// `via local:alice, pid 4242`: what the audit shows after an agent whose tool call came
    /// through this process.
    pub(crate) fn relayed(&self) -> String {
        match self.pid {
            Some(pid) => format!("via local:{}, pid {pid}", self.user),
            None => format!("via local:{}", self.user),
        }
    }

    /// `via local:alice, uid 1000, pid 4242`: what the audit shows after a relay's sender,
    /// since whoever can call the relay can speak as any of its admins (docs/relay.md).
    pub(crate) fn relay_via(&self) -> String {
        let mut via = format!("via local:{}", self.user);
        if let Some(uid) = self.uid {
            via.push_str(&format!(", uid {uid}"));
        }
        if let Some(pid) = self.pid {
            via.push_str(&format!(", pid {pid}"));
        }
        via
    }

    /// `local:alice (pid 4242)`.
    pub(crate) fn by(&self) -> String {
        match self.via() {
            Some(via) => format!("local:{} ({via})", self.user),
            None => format!("local:{}", self.user),
        }
    }
}

/// The user name of `uid`, looked up once per uid: the lookup may block (NSS can ask a
/// directory service), and it runs as a connection is accepted.
fn user_name(uid: libc::uid_t) -> String {
    static NAMES: std::sync::LazyLock<
        std::sync::Mutex<std::collections::HashMap<libc::uid_t, String>>,
    > = std::sync::LazyLock::new(Default::default);
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    names.entry(uid).or_insert_with(|| look_up(uid)).clone()
}

/// The user name of `uid` from the system's user database, or `uid <n>`.
fn look_up(uid: libc::uid_t) -> String {
    let mut buffer = vec![0 as libc::c_char; 4096];
    // SAFETY: an all-zero passwd is a valid value for getpwuid_r to fill.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; the buffer outlives the use of `entry`.
    let status = unsafe {
        libc::getpwuid_r(
            uid,
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if status != 0 || found.is_null() || entry.pw_name.is_null() {
        return format!("uid {uid}");
    }
    // SAFETY: getpwuid_r succeeded, so pw_name points at a NUL-terminated name in `buffer`.
    unsafe { CStr::from_ptr(entry.pw_name) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_named_by_its_user_and_pid() {
        let me = LocalPeer::this_process();
        assert_eq!(me.pid, i32::try_from(std::process::id()).ok());
        assert!(!me.user.is_empty());
        assert_eq!(
            me.by(),
            format!("local:{} (pid {})", me.user, std::process::id())
        );
        // root has a name on every system this runs on.
        assert_eq!(user_name(0), "root");
        assert_eq!(user_name(4_000_000_000), "uid 4000000000");
    }

    #[tokio::test]
    async fn a_socket_peer_is_the_connecting_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        // Another process connects (Python's socket module, as a host plugin would).
        let mut child = std::process::Command::new("python3")
            .arg("-c")
            .arg("import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(10)")
            .arg(&path)
            .spawn()
            .expect("python3 runs");
        let (server_side, _) =
            tokio::time::timeout(std::time::Duration::from_secs(10), listener.accept())
                .await
                .expect("the child connects")
                .unwrap();
        let peer = LocalPeer::of(&server_side);
        let child_pid = i32::try_from(child.id()).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(
            peer.pid,
            Some(child_pid),
            "the connecting process, not this one"
        );
        assert_eq!(peer.user, LocalPeer::this_process().user, "same user");
    }
}
