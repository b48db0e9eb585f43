//! Where a profile lives: `HOME/profiles/NAME/` with `lull.toml`, the sled store and `control.sock`.

use std::path::{Path, PathBuf};

/// The default profile's name.
pub(crate) const DEFAULT_PROFILE: &str = "default";

/// The files of one profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Its name.
    pub(crate) name: String,
    /// `HOME/profiles/NAME`.
    pub(crate) dir: PathBuf,
}

/// A home or profile that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// No `--home`, no `LULL_HOME`, and no `HOME` to default from.
    #[error("no lull home: pass --home DIR or set LULL_HOME (HOME is not set either)")]
    NoHome,
    /// A name that would escape the profiles folder or is unusable.
    #[error("invalid profile name {0:?}: use 1 to 64 letters, digits, '-' or '_'")]
    BadName(String),
}

impl Profile {
    /// Resolves `--home`/`LULL_HOME` (default `~/.lull`) and `--profile`/`LULL_PROFILE`
    /// (default `default`); clap has already applied the environment variables.
    pub fn resolve(home: Option<&Path>, name: Option<&str>) -> Result<Self, ProfileError> {
        let home = match home {
            Some(home) => home.to_owned(),
            None => {
                PathBuf::from(std::env::var_os("HOME").ok_or(ProfileError::NoHome)?).join(".lull")
            }
        };
        let name = name.unwrap_or(DEFAULT_PROFILE);
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(ProfileError::BadName(name.to_owned()));
        }
        Ok(Self {
            name: name.to_owned(),
            dir: home.join("profiles").join(name),
        })
    }

    /// `lull.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("lull.toml")
    }

    /// The sled store's directory.
    pub(crate) fn store_path(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// The control socket.
    pub(crate) fn socket_path(&self) -> PathBuf {
        self.dir.join("control.sock")
    }
}
