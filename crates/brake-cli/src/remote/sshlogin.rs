//! Sshlogins: the machines a run's jobs go to, as `-S`/`--sshlogin` and `--slf` name them, in
//! GNU parallel's syntax: `host`, `user@host`, `host:port`, `N/host` (N jobs at once there),
//! and `:` for this machine; comma-separated lists, and the option repeated.

use std::fmt;
use std::path::Path;

/// One machine jobs run on, and how many at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshLogin {
    /// `N/`: jobs at once there; `None` takes `-j` (or the number of local CPUs).
    pub slots: Option<usize>,
    /// Where.
    pub place: Place,
}

/// Where an sshlogin's jobs run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// `:`, this machine, without ssh.
    Local,
    /// Another machine, over ssh.
    Remote {
        /// `user@`, if given.
        user: Option<String>,
        /// The host name or address.
        host: String,
        /// `:port`, if given.
        port: Option<u16>,
    },
}

impl SshLogin {
    /// Whether its jobs run on this machine.
    pub fn is_local(&self) -> bool {
        self.place == Place::Local
    }

    /// `user@host`, or `host`: what ssh is given as its destination.
    pub fn destination(&self) -> Option<String> {
        match &self.place {
            Place::Local => None,
            Place::Remote {
                user: Some(user),
                host,
                ..
            } => Some(format!("{user}@{host}")),
            Place::Remote { host, .. } => Some(host.clone()),
        }
    }

    /// `:port`, if given.
    pub fn port(&self) -> Option<u16> {
        match self.place {
            Place::Remote { port, .. } => port,
            Place::Local => None,
        }
    }
}

impl fmt::Display for SshLogin {
    /// The sshlogin without its `N/`: the joblog's Host column and brake's messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.place {
            Place::Local => f.write_str(":"),
            Place::Remote { port, .. } => {
                f.write_str(&self.destination().unwrap_or_default())?;
                match port {
                    Some(port) => write!(f, ":{port}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Parses every `-S` value (each a comma-separated list) and the lines of every `--slf` file
/// (one sshlogin or list a line; blank lines and `#` comments skipped), in order; an sshlogin
/// given twice is used once. The error names the bad item.
pub fn parse_all(values: &[String], files: &[impl AsRef<Path>]) -> Result<Vec<SshLogin>, String> {
    let mut logins: Vec<SshLogin> = Vec::new();
    let mut add = |item: &str, origin: &str| -> Result<(), String> {
        let login = parse_one(item).map_err(|why| format!("{origin}: {item:?}: {why}"))?;
        if !logins.iter().any(|known| known.place == login.place) {
            logins.push(login);
        }
        Ok(())
    };
    for value in values {
        for item in value.split(',') {
            add(item.trim(), "-S")?;
        }
    }
    for file in files {
        let path = file.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("--slf {}: {err}", path.display()))?;
        let origin = format!("--slf {}", path.display());
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            for item in line.split(',') {
                add(item.trim(), &origin)?;
            }
        }
    }
    Ok(logins)
}

/// One sshlogin: `[N/]:` or `[N/][user@]host[:port]`.
pub fn parse_one(item: &str) -> Result<SshLogin, String> {
    if item.is_empty() {
        return Err("an empty sshlogin (expected host, user@host, host:port, N/host or :)".into());
    }
    let (slots, rest) = match item.split_once('/') {
        Some((count, rest)) => match count.parse::<usize>() {
            Ok(n) if n > 0 => (Some(n), rest),
            _ => {
                return Err(format!(
                    "{count:?} is not a number of jobs (N/host wants a whole number from 1)"
                ))
            }
        },
        None => (None, item),
    };
    if rest == ":" {
        return Ok(SshLogin {
            slots,
            place: Place::Local,
        });
    }
    if rest
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(
            "a host name holds no spaces, slashes or control characters (give ssh options \
             with --ssh)"
                .into(),
        );
    }
    let (user, host_port) = match rest.rsplit_once('@') {
        Some((user, host)) if !user.is_empty() && !user.contains('@') => {
            (Some(user.to_owned()), host)
        }
        Some(_) => return Err("no user name before @".into()),
        None => (None, rest),
    };
    let (host, port) = match host_port.split_once(':') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(p) if p > 0 => (host, Some(p)),
            _ => return Err(format!("{port:?} is not a port (1 to 65535)")),
        },
        None => (host_port, None),
    };
    if host.is_empty() || host.starts_with('-') {
        return Err("no host name".into());
    }
    Ok(SshLogin {
        slots,
        place: Place::Remote {
            user,
            host: host.to_owned(),
            port,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(user: Option<&str>, host: &str, port: Option<u16>) -> Place {
        Place::Remote {
            user: user.map(str::to_owned),
            host: host.to_owned(),
            port,
        }
    }

    #[test]
    fn the_forms_parse() {
        assert_eq!(parse_one("a").unwrap().place, remote(None, "a", None));
        assert_eq!(
            parse_one("me@a").unwrap().place,
            remote(Some("me"), "a", None)
        );
        assert_eq!(
            parse_one("a:2222").unwrap().place,
            remote(None, "a", Some(2222))
        );
        let full = parse_one("4/me@a.example:22").unwrap();
        assert_eq!(full.slots, Some(4));
        assert_eq!(full.place, remote(Some("me"), "a.example", Some(22)));
        assert_eq!(full.to_string(), "me@a.example:22");
        assert_eq!(full.destination().as_deref(), Some("me@a.example"));
        let local = parse_one("2/:").unwrap();
        assert!(local.is_local());
        assert_eq!(local.slots, Some(2));
        assert_eq!(local.to_string(), ":");
    }

    #[test]
    fn bad_items_are_named() {
        for bad in [
            "", "0/a", "x/a", "a:", "a:99999", "a:x", "@a", "me@", "a b", "-oProxy",
        ] {
            assert!(parse_one(bad).is_err(), "{bad:?}");
        }
        let err = parse_all(&["a,b:nope".to_owned()], &[] as &[&Path]).unwrap_err();
        assert!(err.contains("\"b:nope\""), "{err}");
    }

    #[test]
    fn lists_files_and_repeats_combine() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hosts");
        std::fs::write(&file, "# comment\n\n2/c\nd,a\n").unwrap();
        let logins = parse_all(&["a,b".to_owned(), ":".to_owned()], &[&file]).unwrap();
        let names: Vec<String> = logins.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["a", "b", ":", "c", "d"]);
        assert_eq!(logins[3].slots, Some(2));
    }
}
