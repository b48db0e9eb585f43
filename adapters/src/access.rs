//! Who may reach a profile's control socket: its owner only (the profile directory 0700, the
//! socket 0600), or, with `[api] socket_group = "NAME"`, also that group's members (the
//! directory 0750 and the socket 0660, both given to the group) — how a gateway running as
//! another OS user talks to lull (docs/relay.md, docs/hermes.md). Applied at every start, so a
//! mode changed by hand is put back.
//!
//! The store inside stays its owner's alone (0700) either way: a group member reaches lull
//! through the socket, never by reading its files.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, bail};

/// The modes and group a profile's files get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SocketAccess {
    /// The group that shares the socket, if any.
    group: Option<libc::gid_t>,
}

impl SocketAccess {
    /// From `[api] socket_group`: the owner only without it; a group unknown here is an error.
    pub(crate) fn of(socket_group: Option<&str>) -> anyhow::Result<Self> {
        let group = match socket_group {
            None => None,
            Some(name) => Some(gid_of(name)?),
        };
        Ok(Self { group })
    }

    fn dir_mode(self) -> u32 {
        if self.group.is_some() { 0o750 } else { 0o700 }
    }

    fn socket_mode(self) -> u32 {
        if self.group.is_some() { 0o660 } else { 0o600 }
    }

    /// The profile directory, before anything is opened in it.
    pub(crate) fn apply_to_profile(self, dir: &Path) -> anyhow::Result<()> {
        self.give(dir, self.dir_mode())
    }

    /// The store inside it, once opened (created, the first time): its owner's alone, whatever
    /// the group may see of the directory.
    pub(crate) fn apply_to_store(store: &Path) -> anyhow::Result<()> {
        std::fs::set_permissions(store, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot set the mode of {}", store.display()))
    }

    /// The control socket, once bound.
    pub(crate) fn apply_to_socket(self, socket: &Path) -> anyhow::Result<()> {
        self.give(socket, self.socket_mode())
    }

    fn give(self, path: &Path, mode: u32) -> anyhow::Result<()> {
        if let Some(gid) = self.group {
            let c_path = CString::new(path.as_os_str().as_encoded_bytes())
                .with_context(|| format!("{} has a NUL byte", path.display()))?;
            // SAFETY: a valid NUL-terminated path; uid -1 leaves the owner as it is.
            let done = unsafe { libc::chown(c_path.as_ptr(), libc::uid_t::MAX, gid) };
            if done != 0 {
                let error = std::io::Error::last_os_error();
                bail!(
                    "cannot give {} to the group of [api] socket_group (gid {gid}): {error}; lull's user must be a member of that group",
                    path.display()
                );
            }
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set the mode of {}", path.display()))
    }
}

/// The id of the group `name`.
fn gid_of(name: &str) -> anyhow::Result<libc::gid_t> {
    let c_name = CString::new(name).context("[api] socket_group has a NUL byte")?;
    // SAFETY: a plain C struct of pointers and integers, for getgrnam_r to fill.
    let mut group: libc::group = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::group = std::ptr::null_mut();
    let mut size = 16 * 1024;
    let error = loop {
        let mut buffer = vec![0 as libc::c_char; size];
        // SAFETY: every pointer is valid for the call; the buffer's length is passed with it.
        let error = unsafe {
            libc::getgrnam_r(
                c_name.as_ptr(),
                &mut group,
                buffer.as_mut_ptr(),
                buffer.len(),
                &mut found,
            )
        };
        // A group with many members needs a larger buffer.
        if error == libc::ERANGE && size < 1 << 20 {
            size *= 4;
            continue;
        }
        break error;
    };
    if error != 0 {
        bail!(
            "[api] socket_group {name:?}: cannot look the group up: {}",
            std::io::Error::from_raw_os_error(error)
        );
    }
    if found.is_null() {
        bail!(
            "[api] socket_group {name:?}: no such group on this system (create it with `groupadd {name}`, and add lull's and the gateway's users to it)"
        );
    }
    Ok(group.gr_gid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_group_is_a_clear_error() {
        let error = SocketAccess::of(Some("no-such-group-lull"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("no such group"), "{error}");
    }

    #[test]
    fn without_a_group_only_the_owner_gets_in() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("state");
        std::fs::create_dir(&store).unwrap();
        let socket = dir.path().join("control.sock");
        std::fs::write(&socket, "").unwrap();
        let access = SocketAccess::of(None).unwrap();
        access.apply_to_profile(dir.path()).unwrap();
        SocketAccess::apply_to_store(&store).unwrap();
        access.apply_to_socket(&socket).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            (mode(dir.path()), mode(&store), mode(&socket)),
            (0o700, 0o700, 0o600)
        );
    }
}
