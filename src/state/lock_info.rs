//! Who holds a state lock: the lock info written into `<state>.lock` (local) or the
//! `KEY.lock` object (S3) while it is held, naming the user, host, process and operation.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Who holds a state lock; the JSON body of `<state>.lock` while it is held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Random id, the argument `stsform force-unlock` asks for.
    pub id: String,
    /// The command holding the lock (`apply`, `destroy`, ...).
    pub operation: String,
    /// User name of the holder (`$USER`, `$LOGNAME`, the uid's name, or `uid N`).
    pub who: String,
    /// Host the holder runs on.
    pub host: String,
    /// Process id of the holder.
    pub pid: u32,
    /// When the lock was taken, RFC 3339 UTC.
    pub created: String,
}

impl LockInfo {
    /// A description of the current process taking the lock for `operation`, with a
    /// fresh random id (the owner token of a remote lock).
    pub fn current(operation: &str) -> LockInfo {
        let who = user_name(
            |k| std::env::var(k).ok(),
            &std::fs::read_to_string("/etc/passwd").unwrap_or_default(),
            rustix::process::getuid().as_raw(),
        );
        let host = hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "unknown".into());
        // Whole seconds: the time is for people, and `…:00Z` reads better than nanoseconds.
        let now = time::OffsetDateTime::now_utc();
        let created = now
            .replace_nanosecond(0)
            .unwrap_or(now)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| "unknown".into());
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            operation: operation.to_string(),
            who,
            host,
            pid: std::process::id(),
            created,
        }
    }
}

/// Who runs this process: `$USER` or `$LOGNAME` (what people call themselves), else the
/// name `/etc/passwd` gives the uid (containers and CI jobs often set neither variable),
/// else `uid N`.
fn user_name(env: impl Fn(&str) -> Option<String>, passwd: &str, uid: u32) -> String {
    if let Some(name) = ["USER", "LOGNAME"]
        .into_iter()
        .find_map(|k| env(k).filter(|v| !v.is_empty()))
    {
        return name;
    }
    passwd
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let id = fields.nth(1)?;
            (id.parse() == Ok(uid) && !name.is_empty()).then(|| name.to_string())
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{} (pid {}, operation {}, since {}, lock id {})",
            self.who, self.host, self.pid, self.operation, self.created, self.id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_holder_is_named_from_the_environment_or_the_uid() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nci:x:1001:1001::/home/ci:/bin/sh\n";
        let env = |user: Option<&str>, logname: Option<&str>| {
            let (user, logname) = (user.map(String::from), logname.map(String::from));
            move |k: &str| match k {
                "USER" => user.clone(),
                "LOGNAME" => logname.clone(),
                _ => None,
            }
        };
        assert_eq!(
            user_name(env(Some("alice"), Some("bob")), passwd, 1001),
            "alice"
        );
        assert_eq!(user_name(env(Some(""), Some("bob")), passwd, 1001), "bob");
        assert_eq!(user_name(env(None, None), passwd, 1001), "ci");
        assert_eq!(user_name(env(None, None), passwd, 0), "root");
        assert_eq!(user_name(env(None, None), passwd, 4242), "uid 4242");
        // This process: never the old `unknown`.
        let me = LockInfo::current("plan");
        assert!(!me.who.is_empty() && me.who != "unknown", "{}", me.who);
    }
}
