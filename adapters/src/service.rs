//! `lull service [--user|--system] [--install]`: a systemd unit that runs this profile's
//! `lull serve`, printed or written.
//!
//! The unit runs this very binary (its absolute path) with this profile's `--home` and
//! `--profile`, restarts it on failure, reads the tokens from an optional environment file
//! beside the config (`lull.env`, never from the unit itself), and carries the hardening that
//! still lets the restart command work: lull must be able to run the gateway's restart and
//! update commands, so nothing that makes the file system read-only or hides `/home`, and no
//! private user namespace that would cut a user unit off from its own service manager
//! (`systemctl --user` needs the session's bus, which the user manager gives its units).

use std::path::{Path, PathBuf};

use crate::exit::{EXIT_ERROR, EXIT_REFUSED, Failure};
use crate::profile::Profile;

/// Which service manager runs lull.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The user's own manager (`systemctl --user`): lull runs as the user, as the gateway does.
    User,
    /// The system manager (`/etc/systemd/system`, root to install).
    System,
}

impl Scope {
    fn systemctl(self) -> &'static str {
        match self {
            Self::User => "systemctl --user",
            Self::System => "sudo systemctl",
        }
    }
}

/// The unit's name for a profile: `lull.service`, or `lull-<profile>.service`.
pub(crate) fn unit_name(profile: &Profile) -> String {
    if profile.name == "default" {
        "lull.service".into()
    } else {
        format!("lull-{}.service", profile.name)
    }
}

/// Where `--install` writes the unit.
fn unit_path(scope: Scope, name: &str) -> Result<PathBuf, Failure> {
    match scope {
        Scope::System => Ok(Path::new("/etc/systemd/system").join(name)),
        Scope::User => {
            let base = std::env::var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
                .ok_or_else(|| {
                    Failure::new(
                        EXIT_ERROR,
                        "HOME is not set: cannot tell where user units live",
                    )
                })?;
            Ok(base.join("systemd/user").join(name))
        }
    }
}

/// The unit's text.
pub(crate) fn unit(profile: &Profile, binary: &Path, scope: Scope) -> String {
    let home = profile
        .dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(&profile.dir);
    let home = std::path::absolute(home).unwrap_or_else(|_| home.to_owned());
    let env_file = std::path::absolute(profile.dir.join("lull.env")).unwrap_or_default();
    let system = scope == Scope::System;
    let user = invoking_user().filter(|u| system && u != "root");
    let mut lines = vec![
        "# Written by `lull service`; see docs/sidecar.md.".to_owned(),
        "[Unit]".to_owned(),
        format!(
            "Description=lull: gateway maintenance when the chats are quiet (profile {})",
            profile.name
        ),
    ];
    if system {
        // A user manager has no network-online.target: it would order nothing there.
        lines.push("After=network-online.target".into());
        lines.push("Wants=network-online.target".into());
    }
    lines.extend([
        String::new(),
        "[Service]".into(),
        "Type=simple".into(),
        format!(
            "ExecStart={} --home {} --profile {} serve",
            quote(binary),
            quote(&home),
            profile.name
        ),
    ]);
    lines.extend(user.map(|user| format!("User={user}")));
    lines.extend([
        "# Tokens (TELEGRAM_BOT_TOKEN=…, LULL_ADMIN_TOKEN=…): one per line, mode 0600.".into(),
        format!("EnvironmentFile=-{}", quote(&env_file)),
        "Restart=on-failure".into(),
        "RestartSec=5".into(),
        "# lull ends a running command's process group itself, within its grace, before it exits."
            .into(),
        "TimeoutStopSec=45".into(),
        "# No sudo in the restart or update command under these two (use a unit the user may restart)."
            .into(),
        "NoNewPrivileges=yes".into(),
        "LockPersonality=yes".into(),
        "RestrictRealtime=yes".into(),
        "RestrictSUIDSGID=yes".into(),
    ]);
    if system {
        lines.extend(
            [
                "PrivateTmp=yes",
                "ProtectKernelTunables=yes",
                "ProtectKernelModules=yes",
                "ProtectControlGroups=yes",
            ]
            .map(String::from),
        );
    }
    let wanted_by = if system {
        "multi-user.target"
    } else {
        "default.target"
    };
    lines.extend([
        String::new(),
        "[Install]".into(),
        format!("WantedBy={wanted_by}"),
    ]);
    lines.join("\n") + "\n"
}

/// A path as systemd reads it in `ExecStart=`: quoted when it has a space.
fn quote(path: &Path) -> String {
    let text = path.display().to_string();
    if text.contains(char::is_whitespace) {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        text
    }
}

fn this_user() -> Option<String> {
    std::env::var("USER").ok().filter(|u| !u.is_empty())
}

/// Who asked: under `sudo lull service --system --install`, the user sudo was run by (whose
/// profile this is), not root.
fn invoking_user() -> Option<String> {
    std::env::var("SUDO_USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(this_user)
}

/// Prints the unit, or writes it (`install`) and says how to enable it.
pub(crate) fn run(
    profile: &Profile,
    scope: Scope,
    install: bool,
    force: bool,
) -> Result<(), Failure> {
    let binary = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| {
            Failure::new(
                EXIT_ERROR,
                format!("cannot tell where this lull binary is: {e}"),
            )
        })?;
    let text = unit(profile, &binary, scope);
    let name = unit_name(profile);
    if !install {
        print!("{text}");
        return Ok(());
    }
    let path = unit_path(scope, &name)?;
    if let Ok(existing) = std::fs::read_to_string(&path)
        && existing != text
        && !force
    {
        return Err(Failure::new(
            EXIT_REFUSED,
            format!(
                "{} exists and differs; pass --force to replace it (or compare with `lull service`)",
                path.display()
            ),
        ));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::new(EXIT_ERROR, format!("cannot create {}: {e}", dir.display()))
        })?;
    }
    std::fs::write(&path, &text)
        .map_err(|e| Failure::new(EXIT_ERROR, format!("cannot write {}: {e}", path.display())))?;
    let systemctl = scope.systemctl();
    println!("wrote {}", path.display());
    println!("enable and start it:  {systemctl} daemon-reload && {systemctl} enable --now {name}");
    if scope == Scope::User {
        println!(
            "keep it running while you are logged out:  loginctl enable-linger {}",
            this_user().unwrap_or_else(|| "$USER".into())
        );
    }
    println!(
        "its log:  journalctl {}-u {name} -f",
        if scope == Scope::User { "--user " } else { "" }
    );
    Ok(())
}
