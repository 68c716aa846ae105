//! The containers of a plan, one builder per kind: databases, control
//! services, peers. Each writes every env value, label, limit and network
//! attachment its container gets.

use std::collections::BTreeMap;

use wire::contract::{env, ports, urls};

use super::{
    control_name, object_name, Attachment, Config, ContainerSpec, ControlService, ImageRef,
    VolumeSpec, EDGE_DB_A, EDGE_DB_B, ORIGIN_DB,
};
use crate::labels::{Role, LABEL_COMPONENT, LABEL_DEPLOYMENT, LABEL_EDGE, LABEL_ROLE};

/// The Docker names of the four networks, by their part in the deployment.
pub(super) struct Networks {
    pub peer: String,
    pub edge_a: String,
    pub edge_b: String,
    pub origin: String,
}

/// The labels of every object: the deployment's extra labels, then
/// deployment, role and component.
pub(super) fn labels(config: &Config, role: Role, component: &str) -> BTreeMap<String, String> {
    let mut l = config.labels.clone();
    l.insert(LABEL_DEPLOYMENT.into(), config.name.clone());
    l.insert(LABEL_ROLE.into(), role.as_str().into());
    l.insert(LABEL_COMPONENT.into(), component.into());
    l
}

/// origin-db on the origin network, each edge database also on its edge's
/// network; each with a volume of its own.
pub(super) fn databases(config: &Config, nets: &Networks) -> (Vec<VolumeSpec>, Vec<ContainerSpec>) {
    let dep = &config.name;
    let pg_env = BTreeMap::from([
        (env::POSTGRES_DB.to_string(), config.postgres_db.clone()),
        (env::POSTGRES_USER.to_string(), config.postgres_user.clone()),
        (
            env::POSTGRES_PASSWORD.to_string(),
            config.postgres_password.clone(),
        ),
    ]);
    let mut volumes = Vec::new();
    let mut databases = Vec::new();
    for (db, extra_net) in [
        (ORIGIN_DB, None),
        (EDGE_DB_A, Some(&nets.edge_a)),
        (EDGE_DB_B, Some(&nets.edge_b)),
    ] {
        let volume = object_name(dep, &format!("{db}-data"));
        volumes.push(VolumeSpec {
            name: volume.clone(),
            labels: labels(config, Role::Volume, &format!("{db}-data")),
        });
        let networks = std::iter::once(&nets.origin)
            .chain(extra_net)
            .map(|n| Attachment {
                network: n.clone(),
                aliases: vec![db.to_string()],
            })
            .collect();
        databases.push(ContainerSpec {
            name: object_name(dep, db),
            component: db.to_string(),
            role: Role::Db,
            image: ImageRef::Postgres,
            cmd: [
                "postgres",
                "-c",
                "wal_level=logical",
                "-c",
                "max_wal_senders=10",
                "-c",
                "max_replication_slots=10",
            ]
            .map(String::from)
            .to_vec(),
            env: pg_env.clone(),
            labels: labels(config, Role::Db, db),
            networks,
            publish: vec![ports::POSTGRES],
            memory: None,
            nano_cpus: None,
            volumes: vec![(volume, "/var/lib/postgresql/data".into())],
        });
    }
    (volumes, databases)
}

/// `MESH_TOKEN` for everything that checks or sends it, when there is one:
/// the deployment secret for a control service, and for a peer only its own
/// token derived from it ([`wire::auth::peer_token`]), so a peer can speak
/// for itself and nobody else. A masked plan shows the mask.
fn token_env(config: &Config, peer: Option<&str>, env: &mut BTreeMap<String, String>) {
    if config.token.is_empty() {
        return;
    }
    let masked =
        [super::settings::GENERATED, super::settings::HIDDEN].contains(&config.token.as_str());
    let token = match peer {
        Some(p) if !masked => wire::auth::peer_token(&config.token, p),
        _ => config.token.clone(),
    };
    env.insert(env::MESH_TOKEN.into(), token);
}

/// One control service on the peer network, under its service name.
pub(super) fn control(config: &Config, nets: &Networks, service: ControlService) -> ContainerSpec {
    let listen = format!("0.0.0.0:{}", service.port());
    let mut env = BTreeMap::new();
    let (image, cmd) = match service {
        ControlService::Redis => (ImageRef::Redis, vec![]),
        ControlService::Topology => {
            env.insert(env::TOPOLOGY_ADDR.into(), listen);
            (
                ImageRef::Control(config.control_image.clone()),
                vec!["/topology"],
            )
        }
        ControlService::Tracker => {
            env.insert(env::TRACKER_ADDR.into(), listen);
            env.insert(env::REDIS_ADDR.into(), urls::REDIS_ADDR.into());
            env.insert(env::TOPOLOGY_URL.into(), urls::TOPOLOGY.into());
            env.insert(
                env::TRACKER_TTL_SECONDS.into(),
                config.tracker_ttl.to_string(),
            );
            (
                ImageRef::Control(config.control_image.clone()),
                vec!["/tracker"],
            )
        }
        ControlService::Signalling => {
            env.insert(env::SIGNAL_ADDR.into(), listen);
            (
                ImageRef::Control(config.control_image.clone()),
                vec!["/signalling"],
            )
        }
    };
    if service != ControlService::Redis {
        token_env(config, None, &mut env);
    }
    let name = service.name();
    ContainerSpec {
        name: control_name(&config.name, name),
        component: name.to_string(),
        role: Role::Control,
        image,
        cmd: cmd.into_iter().map(String::from).collect(),
        env,
        labels: labels(config, Role::Control, name),
        networks: vec![Attachment {
            network: nets.peer.clone(),
            aliases: vec![name.to_string()],
        }],
        publish: vec![service.port()],
        memory: None,
        nano_cpus: None,
        volumes: vec![],
    }
}

/// One peer on the peer network and, for an edge peer, on its edge's
/// network: `edge` is (edge database, edge network).
pub(super) fn peer(
    config: &Config,
    nets: &Networks,
    name: &str,
    neighbors: &[String],
    edge: Option<(&str, &String)>,
) -> ContainerSpec {
    let o = config.peers.get(name).cloned().unwrap_or_default();
    let mut env = BTreeMap::from([
        (env::PEER_ID.to_string(), name.to_string()),
        (env::NEIGHBORS.to_string(), neighbors.join(",")),
        (env::TRACKER_URL.to_string(), config.tracker_url.clone()),
        (env::SIGNAL_URL.to_string(), config.signal_url.clone()),
        (
            env::PEER_ROOM.to_string(),
            o.room.unwrap_or_else(|| config.peer_room.clone()),
        ),
        (
            env::PEER_REGION.to_string(),
            o.region.unwrap_or_else(|| config.peer_region.clone()),
        ),
        (
            env::PEER_RTT_MS.to_string(),
            o.rtt_ms.unwrap_or(config.peer_rtt_ms).to_string(),
        ),
        (
            env::CACHE_CAPACITY.to_string(),
            config.cache_capacity.to_string(),
        ),
        (
            env::HEARTBEAT_INTERVAL_SEC.to_string(),
            config.heartbeat_interval_sec.to_string(),
        ),
    ]);
    token_env(config, Some(name), &mut env);
    let mut labels = labels(config, Role::Peer, name);
    let mut networks = vec![Attachment {
        network: nets.peer.clone(),
        aliases: vec![name.to_string()],
    }];
    if let Some((db, net)) = edge {
        env.insert(
            env::EDGE_DB_URL.into(),
            crate::conninfo::postgres_url_at(
                db,
                ports::POSTGRES,
                &config.postgres_user,
                &config.postgres_password,
                &config.postgres_db,
            ),
        );
        labels.insert(LABEL_EDGE.into(), db.into());
        networks.push(Attachment {
            network: net.clone(),
            aliases: vec![name.to_string()],
        });
    }
    ContainerSpec {
        name: object_name(&config.name, name),
        component: name.to_string(),
        role: Role::Peer,
        image: ImageRef::Peer(config.image.clone()),
        cmd: vec![],
        env,
        labels,
        networks,
        publish: vec![ports::PEER],
        memory: Some(config.peer_memory),
        nano_cpus: (config.peer_cpus > 0.0).then(|| (config.peer_cpus * 1e9).round() as i64),
        volumes: vec![],
    }
}
