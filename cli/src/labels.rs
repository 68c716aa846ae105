//! The labels every object of a deployment carries, and the roles they
//! name. Pure: the plan writes these labels, `discover`, `status` and `down`
//! read them back through the runtime.

/// The deployment an object belongs to (`mesh` by default).
pub const LABEL_DEPLOYMENT: &str = "meshctl.deployment";
/// What an object is: see [`Role`].
pub const LABEL_ROLE: &str = "meshctl.role";
/// The object's logical name inside its deployment: `peer-3`, `origin-db`,
/// `edge-db-a`, `redis`, `tracker`, `micro-net`, ...
pub const LABEL_COMPONENT: &str = "meshctl.component";
/// On edge peers: the edge database they read (`edge-db-a`).
pub const LABEL_EDGE: &str = "meshctl.edge";
/// On objects made by tests: the test run's id.
pub const LABEL_TEST: &str = "meshctl.test";
/// On helper containers that change something: one line saying what, e.g.
/// `netem peer-3 delay=200ms to=peer-4`, `partition peer-1,peer-2 | peer-3`,
/// `heal peer-3`. Their engine events (create, start) record the fault.
pub const LABEL_FAULT: &str = "meshctl.fault";
/// On helper containers: the component whose network namespace they join.
pub const LABEL_TARGET: &str = "meshctl.target";
/// On shaper containers (long-lived helpers running `mesh-shaper`): the
/// direction they shape, a peer name or `all`.
pub const LABEL_SHAPER: &str = "meshctl.shaper";

/// Values of [`LABEL_ROLE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Peer,
    Db,
    Control,
    Network,
    Volume,
    Legacy,
    /// A short-lived container that acts on another one (the network
    /// faults' `tc` and `iptables`).
    Helper,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Peer => "peer",
            Role::Db => "db",
            Role::Control => "control",
            Role::Network => "network",
            Role::Volume => "volume",
            Role::Legacy => "legacy",
            Role::Helper => "helper",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "peer" => Role::Peer,
            "db" => Role::Db,
            "control" => Role::Control,
            "network" => Role::Network,
            "volume" => Role::Volume,
            "legacy" => Role::Legacy,
            "helper" => Role::Helper,
            _ => return None,
        })
    }
}

/// Sort key that orders `peer-2` before `peer-10`.
pub fn natural_key(name: &str) -> (String, u64, String) {
    let digits_at = name
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    let (stem, num) = name.split_at(digits_at);
    (stem.to_string(), num.parse().unwrap_or(0), name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec!["peer-10", "peer-2", "peer-1"];
        v.sort_by_key(|n| natural_key(n));
        assert_eq!(v, ["peer-1", "peer-2", "peer-10"]);
    }
}
