//! `[fleet]` checked before anything connects: the backend and its address, the group, the
//! slots, this replica's id and the lease TTL, each error naming the key, its line and what is
//! accepted.

use std::time::Duration;

use url::Url;

use crate::chat::settings::{Section, SettingError};
use crate::config::{Config, FleetConfig};

const FLEET: Section = Section::new("fleet");

/// The lease TTL when none is configured.
const DEFAULT_TTL: u64 = 120;
/// etcd raises shorter TTLs to its own minimum; below this a busy machine would lose slots.
const MIN_TTL: u64 = 5;
/// A day: longer, a dead holder's slot would stay taken for longer than anyone waits.
const MAX_TTL: u64 = 86_400;
/// More slots than this is no longer "k at a time".
const MAX_SLOTS: u64 = 1000;

/// The lock service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// etcd v3, through its JSON gateway, at these client URLs (tried in turn).
    Etcd {
        /// The client URLs.
        endpoints: Vec<Url>,
        /// Slots of the group.
        slots: u32,
        /// How long a silent holder keeps its slot.
        lock_ttl: Duration,
    },
    /// A FleetLock server at this base URL.
    FleetLock {
        /// The base URL (`/v1/pre-reboot` is joined to it).
        url: Url,
    },
}

/// `[fleet]`, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetSettings {
    /// The lock service.
    pub(crate) backend: Backend,
    /// The group the slots are shared in.
    pub(crate) group: String,
    /// This replica's id in the group.
    pub(crate) id: String,
}

impl FleetSettings {
    /// `[fleet]` of `config`, if it has one; `profile` is part of the default id.
    pub fn from_config(config: &Config, profile: &str) -> Result<Option<Self>, SettingError> {
        let Some(fleet) = &config.fleet else {
            return Ok(None);
        };
        Self::check(fleet, config, profile, &host_name()).map(Some)
    }

    fn check(
        fleet: &FleetConfig,
        config: &Config,
        profile: &str,
        host: &str,
    ) -> Result<Self, SettingError> {
        let group = fleet.group.clone().unwrap_or_else(|| "default".into());
        if group.is_empty()
            || group.len() > 100
            || !group
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err(FLEET.error(
                "group",
                format!("{group:?} is not a group name: use 1 to 100 of a-z, A-Z, 0-9, '.' and '-' (FleetLock's rule)"),
            ));
        }
        let id = fleet
            .id
            .clone()
            .unwrap_or_else(|| format!("{host}-{profile}"));
        if id.trim().is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
            return Err(FLEET.error(
                "id",
                format!("{id:?} is not a replica id: use 1 to 200 printable characters, unique in the group"),
            ));
        }
        let backend = match FLEET.choice(
            "backend",
            fleet.backend.as_deref(),
            &["etcd", "fleetlock"],
        )? {
            "etcd" => {
                if fleet.url.is_some() {
                    return Err(FLEET.error(
                        "url",
                        "is for backend = \"fleetlock\"; etcd's client URLs go in endpoints = [\"http://127.0.0.1:2379\"]",
                    ));
                }
                let endpoints = fleet.endpoints.clone().unwrap_or_default();
                if endpoints.is_empty() {
                    return Err(FLEET.error(
                        "endpoints",
                        "is required with backend = \"etcd\": etcd's client URLs, e.g. [\"http://127.0.0.1:2379\"]",
                    ));
                }
                let endpoints = endpoints
                    .iter()
                    .map(|e| {
                        without_credentials(
                            "endpoints",
                            FLEET.http_url("endpoints", e, "http://127.0.0.1:2379")?,
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let slots = fleet.slots.unwrap_or(1);
                if !(1..=MAX_SLOTS).contains(&slots) {
                    return Err(FLEET.error(
                        "slots",
                        format!("{slots} is not accepted: how many replicas may restart at once, from 1 to {MAX_SLOTS}"),
                    ));
                }
                let ttl = fleet.lock_ttl_seconds.unwrap_or(DEFAULT_TTL);
                if !(MIN_TTL..=MAX_TTL).contains(&ttl) {
                    return Err(FLEET.error(
                        "lock_ttl_seconds",
                        format!("{ttl} is not accepted: from {MIN_TTL} to {MAX_TTL} seconds"),
                    ));
                }
                check_ttl_covers_self_restart(ttl, config)?;
                Backend::Etcd {
                    endpoints,
                    slots: slots as u32,
                    lock_ttl: Duration::from_secs(ttl),
                }
            }
            _ => {
                if fleet.endpoints.is_some() {
                    return Err(FLEET.error(
                        "endpoints",
                        "is for backend = \"etcd\"; a FleetLock server's base URL goes in url = \"http://…\"",
                    ));
                }
                if fleet.slots.is_some() {
                    return Err(FLEET.error(
                        "slots",
                        "is for backend = \"etcd\": a FleetLock server decides how many replicas restart at once",
                    ));
                }
                if fleet.lock_ttl_seconds.is_some() {
                    return Err(FLEET.error(
                        "lock_ttl_seconds",
                        "is for backend = \"etcd\": FleetLock has no TTL (a dead holder keeps its slot until released)",
                    ));
                }
                let url = fleet.url.as_deref().ok_or_else(|| {
                    FLEET.error(
                        "url",
                        "is required with backend = \"fleetlock\": the server's base URL, e.g. \"http://fleetlock.example:8080\"",
                    )
                })?;
                Backend::FleetLock {
                    url: without_credentials(
                        "url",
                        FLEET.http_url("url", url, "http://fleetlock.example:8080")?,
                    )?,
                }
            }
        };
        Ok(Self { backend, group, id })
    }
}

/// With `restarts_self = true` lull itself is down while the gateway restarts, so nobody keeps
/// the lease alive: it must outlast the restart and the health check after it.
fn check_ttl_covers_self_restart(ttl: u64, config: &Config) -> Result<(), SettingError> {
    let executor = &config.executor;
    if !executor.restarts_self {
        return Ok(());
    }
    let health = if executor.health_command.is_some() {
        executor.timeout_seconds
    } else {
        0
    };
    let needed = executor.timeout_seconds + health;
    if ttl <= needed {
        return Err(FLEET.error(
            "lock_ttl_seconds",
            format!(
                "{ttl} is too short with restarts_self = true: lull is down while it restarts, so the lease must outlast the restart timeout plus the health check's ({} + {health} s); use more than {needed}, or lower executor.timeout_seconds",
                executor.timeout_seconds
            ),
        ));
    }
    Ok(())
}

/// A URL without a user name or password: lull sends none, and a secret in the file would end
/// up in logs and errors that name the URL.
fn without_credentials(key: &'static str, url: Url) -> Result<Url, SettingError> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FLEET.error(
            key,
            "must not carry a user name or password: lull sends no credentials to the lock service (keep it on a private network, or behind a local proxy that adds them)",
        ));
    }
    Ok(url)
}

/// This machine's host name, for the default replica id.
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_owned();
    if ok && !name.is_empty() {
        name
    } else {
        "localhost".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FleetSettings, String> {
        let config =
            Config::parse(text, std::path::Path::new("lull.toml")).map_err(|e| e.to_string())?;
        FleetSettings::check(config.fleet.as_ref().unwrap(), &config, "default", "host1")
            .map_err(|e| e.located_in(text).to_string())
    }

    #[test]
    fn etcd_defaults_to_one_slot_group_default_and_host_and_profile() {
        let s = parse("[fleet]\nbackend = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379\"]\n")
            .unwrap();
        assert_eq!(s.group, "default");
        assert_eq!(s.id, "host1-default");
        let Backend::Etcd {
            slots,
            lock_ttl,
            endpoints,
        } = s.backend
        else {
            panic!("not etcd");
        };
        assert_eq!((slots, lock_ttl.as_secs()), (1, 120));
        assert_eq!(endpoints[0].as_str(), "http://127.0.0.1:2379/");
    }

    #[test]
    fn bad_values_name_the_key_the_line_and_what_is_accepted() {
        let cases = [
            (
                "[fleet]\nbackend = \"zookeeper\"\n",
                "[fleet] backend (line 2): \"zookeeper\" is not accepted",
            ),
            (
                "[fleet]\nbackend = \"etcd\"\n",
                "[fleet] endpoints: is required",
            ),
            (
                "[fleet]\nendpoints = [\"127.0.0.1:2379\"]\n",
                "[fleet] endpoints (line 2): \"127.0.0.1:2379\" is not an http(s) URL",
            ),
            (
                "[fleet]\nendpoints = [\"http://e:2379\"]\nslots = 0\n",
                "[fleet] slots (line 3): 0 is not accepted",
            ),
            (
                "[fleet]\nendpoints = [\"http://e:2379\"]\ngroup = \"a/b\"\n",
                "[fleet] group (line 3): \"a/b\" is not a group name",
            ),
            (
                "[fleet]\nendpoints = [\"http://e:2379\"]\nlock_ttl_seconds = 1\n",
                "[fleet] lock_ttl_seconds (line 3): 1 is not accepted: from 5",
            ),
            (
                "[fleet]\nbackend = \"fleetlock\"\n",
                "[fleet] url: is required with backend = \"fleetlock\"",
            ),
            (
                "[fleet]\nbackend = \"fleetlock\"\nurl = \"http://f:8080\"\nslots = 2\n",
                "[fleet] slots (line 4): is for backend = \"etcd\"",
            ),
            (
                "[fleet]\nbackend = \"fleetlock\"\nurl = \"http://f:8080\"\nlock_ttl_seconds = 60\n",
                "FleetLock has no TTL",
            ),
            (
                "[fleet]\nendpoints = [\"http://e:2379\"]\nurl = \"http://f:8080\"\n",
                "[fleet] url (line 3): is for backend = \"fleetlock\"",
            ),
            (
                "[fleet]\nendpoints = [\"http://e:2379\"]\nid = \"\"\n",
                "[fleet] id (line 3): \"\" is not a replica id",
            ),
            (
                "[fleet]\nendpoints = [\"http://root:secret@e:2379\"]\n",
                "[fleet] endpoints (line 2): must not carry a user name or password",
            ),
        ];
        for (text, expected) in cases {
            let error = parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn with_restarts_self_the_ttl_must_outlast_the_restart_and_the_health_check() {
        let base = "[executor]\nrestart = [\"systemctl\", \"restart\", \"gw\"]\nrestarts_self = true\ntimeout_seconds = 60\nhealth_command = [\"true\"]\n[fleet]\nendpoints = [\"http://e:2379\"]\n";
        let error = parse(&format!("{base}lock_ttl_seconds = 120\n")).unwrap_err();
        assert!(
            error.contains(
                "[fleet] lock_ttl_seconds (line 8): 120 is too short with restarts_self = true"
            ) && error.contains("(60 + 60 s); use more than 120"),
            "{error}"
        );
        assert!(parse(&format!("{base}lock_ttl_seconds = 121\n")).is_ok());
    }

    #[test]
    fn fleetlock_takes_a_url_and_an_id() {
        let s = parse("[fleet]\nbackend = \"fleetlock\"\nurl = \"http://f:8080/base\"\nid = \"gw-a\"\ngroup = \"gateways\"\n").unwrap();
        assert_eq!(s.id, "gw-a");
        assert_eq!(s.group, "gateways");
        assert!(
            matches!(s.backend, Backend::FleetLock { url } if url.as_str() == "http://f:8080/base")
        );
    }
}
