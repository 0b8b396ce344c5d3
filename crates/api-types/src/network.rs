//! Network models: `/networks`, `/networks/create`, `/networks/{id}`,
//! `/networks/{id}/connect`, `/networks/{id}/disconnect` and `/networks/prune`.
//!
//! Field names and order follow moby's `api/types/network` (API v1.47+), so `docker network
//! inspect` prints the same document. Request types accept `null` for every list, map and
//! string (Go clients send `null` for nil values, docker-compose and docker-py leave fields out
//! or send `None`).

use crate::container::EndpointSettings;
use crate::nullable::or_default;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /networks/create` body (`network.CreateRequest`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkCreateRequest {
    /// The network's name (required).
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    /// Deprecated (API < 1.44): refuse a duplicate name. Daemons always do now; kept so old
    /// clients' bodies round-trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_duplicate: Option<bool>,
    /// Driver (`bridge` when empty).
    #[serde(default, deserialize_with = "or_default")]
    pub driver: String,
    /// `local`, `global` or `swarm`; empty lets the driver decide.
    #[serde(default, deserialize_with = "or_default")]
    pub scope: String,
    /// Whether to assign IPv4 addresses; `None` is the daemon's default (enabled).
    #[serde(
        rename = "EnableIPv4",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_ipv4: Option<bool>,
    /// Whether to assign IPv6 addresses; `None` is the daemon's default (disabled).
    #[serde(
        rename = "EnableIPv6",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_ipv6: Option<bool>,
    /// Address management; `None` (or `null`) means the default driver with automatic subnets.
    #[serde(rename = "IPAM", default)]
    pub ipam: Option<Ipam>,
    /// Restrict external access (no gateway, no masquerading).
    #[serde(default, deserialize_with = "or_default")]
    pub internal: bool,
    /// Swarm: allow manual container attachment.
    #[serde(default, deserialize_with = "or_default")]
    pub attachable: bool,
    /// Swarm: the routing-mesh network.
    #[serde(default, deserialize_with = "or_default")]
    pub ingress: bool,
    /// A configuration-only placeholder network.
    #[serde(default, deserialize_with = "or_default")]
    pub config_only: bool,
    /// The config-only network to take the configuration from.
    #[serde(default)]
    pub config_from: Option<ConfigReference>,
    /// Driver options (`com.docker.network.bridge.name`, …).
    #[serde(default, deserialize_with = "or_default")]
    pub options: BTreeMap<String, String>,
    /// Labels.
    #[serde(default, deserialize_with = "or_default")]
    pub labels: BTreeMap<String, String>,
}

/// `POST /networks/create` response.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetworkCreateResponse {
    /// The new network's id.
    #[serde(rename = "Id", default, deserialize_with = "or_default")]
    pub id: String,
    /// A non-fatal problem met while creating the network; empty when none.
    #[serde(rename = "Warning", default, deserialize_with = "or_default")]
    pub warning: String,
}

/// IP address management of a network.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    /// IPAM driver (`default`).
    #[serde(default, deserialize_with = "or_default")]
    pub driver: String,
    /// IPAM driver options; `null` when none were given (as Docker sends them).
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    /// One entry per subnet.
    #[serde(default, deserialize_with = "or_default")]
    pub config: Vec<IpamConfig>,
}

/// One subnet of a network. Empty fields are left out, as Docker writes them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct IpamConfig {
    /// Subnet in CIDR form (`172.20.0.0/16`).
    #[serde(
        rename = "Subnet",
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub subnet: String,
    /// Sub-range containers get their addresses from, CIDR form.
    #[serde(
        rename = "IPRange",
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub ip_range: String,
    /// Gateway address.
    #[serde(
        rename = "Gateway",
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub gateway: String,
    /// Reserved addresses, host name → address.
    #[serde(
        rename = "AuxiliaryAddresses",
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub auxiliary_addresses: BTreeMap<String, String>,
}

/// The config-only network a network takes its configuration from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigReference {
    /// Its name; empty when none.
    #[serde(default, deserialize_with = "or_default")]
    pub network: String,
}

/// A network as `GET /networks` and `GET /networks/{id}` return it (`network.Inspect`, which
/// is also `network.Summary`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Network {
    /// Name.
    #[serde(rename = "Name", default, deserialize_with = "or_default")]
    pub name: String,
    /// Id (64 hex characters).
    #[serde(rename = "Id", default, deserialize_with = "or_default")]
    pub id: String,
    /// Creation time, RFC 3339 with nanoseconds.
    #[serde(rename = "Created", default, deserialize_with = "or_default")]
    pub created: String,
    /// `local`, `global` or `swarm`.
    #[serde(rename = "Scope", default, deserialize_with = "or_default")]
    pub scope: String,
    /// Driver (`bridge`, `host`, `null`, …).
    #[serde(rename = "Driver", default, deserialize_with = "or_default")]
    pub driver: String,
    /// Whether IPv4 addresses are assigned.
    #[serde(rename = "EnableIPv4", default, deserialize_with = "or_default")]
    pub enable_ipv4: bool,
    /// Whether IPv6 addresses are assigned.
    #[serde(rename = "EnableIPv6", default, deserialize_with = "or_default")]
    pub enable_ipv6: bool,
    /// Address management.
    #[serde(rename = "IPAM", default, deserialize_with = "or_default")]
    pub ipam: Ipam,
    /// No external access.
    #[serde(rename = "Internal", default, deserialize_with = "or_default")]
    pub internal: bool,
    /// Swarm: manually attachable.
    #[serde(rename = "Attachable", default, deserialize_with = "or_default")]
    pub attachable: bool,
    /// Swarm: the routing mesh.
    #[serde(rename = "Ingress", default, deserialize_with = "or_default")]
    pub ingress: bool,
    /// Where the configuration comes from (`{"Network": ""}` when nowhere).
    #[serde(rename = "ConfigFrom", default, deserialize_with = "or_default")]
    pub config_from: ConfigReference,
    /// A configuration-only placeholder.
    #[serde(rename = "ConfigOnly", default, deserialize_with = "or_default")]
    pub config_only: bool,
    /// Container id → endpoint; only filled by inspect (`{}` in lists).
    #[serde(rename = "Containers", default, deserialize_with = "or_default")]
    pub containers: BTreeMap<String, EndpointResource>,
    /// Driver options.
    #[serde(rename = "Options", default, deserialize_with = "or_default")]
    pub options: BTreeMap<String, String>,
    /// Labels.
    #[serde(rename = "Labels", default, deserialize_with = "or_default")]
    pub labels: BTreeMap<String, String>,
    /// Overlay networks: the peer nodes; left out otherwise.
    #[serde(rename = "Peers", default, skip_serializing_if = "Option::is_none")]
    pub peers: Option<Vec<PeerInfo>>,
    /// Swarm services on the network (verbose inspect only); left out otherwise.
    #[serde(rename = "Services", default, skip_serializing_if = "Option::is_none")]
    pub services: Option<BTreeMap<String, serde_json::Value>>,
}

/// `GET /networks/{id}`: the same document as a list entry.
pub type NetworkInspect = Network;

/// An entry of `GET /networks`.
pub type NetworkSummary = Network;

/// A container's endpoint as a network's `Containers` map shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct EndpointResource {
    /// Container name (without `/`).
    #[serde(rename = "Name", default, deserialize_with = "or_default")]
    pub name: String,
    /// Endpoint id.
    #[serde(rename = "EndpointID", default, deserialize_with = "or_default")]
    pub endpoint_id: String,
    /// MAC address.
    #[serde(rename = "MacAddress", default, deserialize_with = "or_default")]
    pub mac_address: String,
    /// IPv4 address with prefix length (`172.18.0.2/16`); empty when none.
    #[serde(rename = "IPv4Address", default, deserialize_with = "or_default")]
    pub ipv4_address: String,
    /// IPv6 address with prefix length; empty when none.
    #[serde(rename = "IPv6Address", default, deserialize_with = "or_default")]
    pub ipv6_address: String,
}

/// A peer node of an overlay network.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct PeerInfo {
    /// Node name.
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    /// Node address.
    #[serde(rename = "IP", default, deserialize_with = "or_default")]
    pub ip: String,
}

/// `POST /networks/{id}/connect` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkConnectRequest {
    /// Container id or name.
    #[serde(default, deserialize_with = "or_default")]
    pub container: String,
    /// Addresses, aliases, links and driver options for the new endpoint; left out when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_config: Option<EndpointSettings>,
}

/// `POST /networks/{id}/disconnect` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkDisconnectRequest {
    /// Container id or name.
    #[serde(default, deserialize_with = "or_default")]
    pub container: String,
    /// Disconnect even if the container is not running (or no longer exists).
    #[serde(default, deserialize_with = "or_default")]
    pub force: bool,
}

/// `POST /networks/prune` response.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkPruneResponse {
    /// Names of the networks removed; `null` when none, as Docker sends.
    #[serde(default)]
    pub networks_deleted: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::EndpointIpamConfig;
    use serde_json::json;

    #[test]
    fn create_request_as_the_docker_cli_sends_it() {
        // `docker network create --subnet 172.28.0.0/16 --ip-range 172.28.5.0/24
        //  --gateway 172.28.5.254 -o com.docker.network.bridge.name=br0 --label a=b net1`
        let raw = r#"{"Name":"net1","Driver":"bridge","Scope":"","EnableIPv4":true,
            "IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"172.28.0.0/16",
            "IPRange":"172.28.5.0/24","Gateway":"172.28.5.254","AuxiliaryAddresses":{}}]},
            "Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,
            "ConfigFrom":null,"Options":{"com.docker.network.bridge.name":"br0"},
            "Labels":{"a":"b"}}"#;
        let r: NetworkCreateRequest = serde_json::from_str(raw).unwrap();
        assert_eq!(r.name, "net1");
        assert_eq!(r.driver, "bridge");
        assert_eq!(r.enable_ipv4, Some(true));
        assert_eq!(r.enable_ipv6, None);
        let ipam = r.ipam.as_ref().unwrap();
        assert_eq!(ipam.driver, "default");
        assert_eq!(ipam.config[0].subnet, "172.28.0.0/16");
        assert_eq!(ipam.config[0].ip_range, "172.28.5.0/24");
        assert_eq!(ipam.config[0].gateway, "172.28.5.254");
        assert_eq!(r.options["com.docker.network.bridge.name"], "br0");
        assert_eq!(r.labels["a"], "b");
        assert_eq!(r.config_from, None);
        // Round trip: empty IPAM fields are left out, optional booleans too.
        let v = serde_json::to_value(&r).unwrap();
        assert!(v.get("EnableIPv6").is_none());
        assert!(v.get("CheckDuplicate").is_none());
        assert!(v["IPAM"]["Config"][0].get("AuxiliaryAddresses").is_none());
        let back: NetworkCreateRequest = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn create_request_as_compose_and_old_clients_send_it() {
        // docker-compose v2 (and older CLIs): CheckDuplicate, EnableIPv6 as a plain bool,
        // nulls for what is unset.
        let raw = r#"{"Name":"proj_default","CheckDuplicate":true,"Driver":"","Scope":null,
            "EnableIPv6":false,"IPAM":null,"Internal":false,"Attachable":true,"Ingress":false,
            "ConfigOnly":false,"ConfigFrom":null,"Options":null,
            "Labels":{"com.docker.compose.network":"default","com.docker.compose.project":"proj"}}"#;
        let r: NetworkCreateRequest = serde_json::from_str(raw).unwrap();
        assert_eq!(r.check_duplicate, Some(true));
        assert_eq!(r.enable_ipv6, Some(false));
        assert!(r.ipam.is_none());
        assert!(r.attachable);
        assert!(r.options.is_empty());
        assert_eq!(r.labels.len(), 2);
        // The bare minimum.
        let r: NetworkCreateRequest = serde_json::from_str(r#"{"Name":"n"}"#).unwrap();
        assert_eq!(
            r,
            NetworkCreateRequest {
                name: "n".into(),
                ..Default::default()
            }
        );
        // IPAM with nulls inside.
        let r: NetworkCreateRequest = serde_json::from_str(
            r#"{"Name":"n","IPAM":{"Driver":null,"Options":null,"Config":null}}"#,
        )
        .unwrap();
        assert_eq!(r.ipam, Some(Ipam::default()));
    }

    #[test]
    fn create_response() {
        let r: NetworkCreateResponse =
            serde_json::from_str(r#"{"Id":"abc","Warning":""}"#).unwrap();
        assert_eq!(r.id, "abc");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v, json!({"Id": "abc", "Warning": ""}));
        let r: NetworkCreateResponse = serde_json::from_str(r#"{"Id":"abc"}"#).unwrap();
        assert_eq!(r.warning, "");
    }

    #[test]
    fn inspect_document_in_docker_order() {
        let mut n = Network {
            name: "net1".into(),
            id: "a".repeat(64),
            created: "2025-01-02T03:04:05.123456789Z".into(),
            scope: "local".into(),
            driver: "bridge".into(),
            enable_ipv4: true,
            ipam: Ipam {
                driver: "default".into(),
                config: vec![IpamConfig {
                    subnet: "172.18.0.0/16".into(),
                    gateway: "172.18.0.1".into(),
                    ..Default::default()
                }],
                // A user network's (predefined ones have none: null).
                options: Some(Default::default()),
            },
            ..Default::default()
        };
        n.containers.insert(
            "c".repeat(64),
            EndpointResource {
                name: "web".into(),
                endpoint_id: "e".repeat(64),
                mac_address: "02:42:ac:12:00:02".into(),
                ipv4_address: "172.18.0.2/16".into(),
                ipv6_address: String::new(),
            },
        );
        let v = serde_json::to_value(&n).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "Name",
                "Id",
                "Created",
                "Scope",
                "Driver",
                "EnableIPv4",
                "EnableIPv6",
                "IPAM",
                "Internal",
                "Attachable",
                "Ingress",
                "ConfigFrom",
                "ConfigOnly",
                "Containers",
                "Options",
                "Labels"
            ]
        );
        assert_eq!(v["ConfigFrom"], json!({"Network": ""}));
        assert_eq!(
            v["IPAM"],
            json!({"Driver": "default", "Options": {}, "Config": [
                {"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]})
        );
        assert_eq!(
            v["Containers"]["c".repeat(64)]["IPv4Address"],
            "172.18.0.2/16"
        );
        assert!(v["Labels"].is_object());
        let back: Network = serde_json::from_value(v).unwrap();
        assert_eq!(back, n);
    }

    #[test]
    fn inspect_from_docker_with_nulls() {
        // What dockerd 28 answers for the default bridge (abridged), with nulls.
        let raw = r#"[{"Name":"bridge","Id":"3d5c","Created":"2025-06-01T10:00:00.000000000Z",
            "Scope":"local","Driver":"bridge","EnableIPv4":true,"EnableIPv6":false,
            "IPAM":{"Driver":"default","Options":null,"Config":[{"Subnet":"172.17.0.0/16",
            "Gateway":"172.17.0.1"}]},"Internal":false,"Attachable":false,"Ingress":false,
            "ConfigFrom":{"Network":""},"ConfigOnly":false,"Containers":{},
            "Options":{"com.docker.network.bridge.default_bridge":"true"},"Labels":null,
            "Peers":[{"Name":"node1","IP":"10.0.0.1"}]}]"#;
        let list: Vec<NetworkSummary> = serde_json::from_str(raw).unwrap();
        let n = &list[0];
        assert_eq!(n.name, "bridge");
        assert!(n.ipam.options.is_none());
        assert!(n.labels.is_empty());
        assert_eq!(n.peers.as_ref().unwrap()[0].ip, "10.0.0.1");
        assert_eq!(n.ipam.config[0].gateway, "172.17.0.1");
        let v = serde_json::to_value(n).unwrap();
        assert!(v.get("Services").is_none());
        let n: Network = serde_json::from_str("{}").unwrap();
        assert_eq!(n, Network::default());
    }

    #[test]
    fn connect_and_disconnect_bodies() {
        // `docker network connect --ip 172.20.0.5 --alias db --link web:w net1 c1`
        let raw = r#"{"Container":"c1","EndpointConfig":{"IPAMConfig":{"IPv4Address":"172.20.0.5",
            "IPv6Address":""},"Links":["web:w"],"Aliases":["db"],"DriverOpts":{},
            "GwPriority":0,"MacAddress":"","NetworkID":"","EndpointID":"","Gateway":"",
            "IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"",
            "GlobalIPv6PrefixLen":0,"DNSNames":null}}"#;
        let r: NetworkConnectRequest = serde_json::from_str(raw).unwrap();
        assert_eq!(r.container, "c1");
        let ep = r.endpoint_config.as_ref().unwrap();
        assert_eq!(
            ep.ipam_config,
            Some(EndpointIpamConfig {
                ipv4_address: "172.20.0.5".into(),
                ..Default::default()
            })
        );
        assert_eq!(ep.aliases, ["db"]);
        assert_eq!(ep.links, ["web:w"]);
        let back: NetworkConnectRequest =
            serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        // docker-py: no endpoint config at all, or null.
        let r: NetworkConnectRequest =
            serde_json::from_str(r#"{"Container":"c1","EndpointConfig":null}"#).unwrap();
        assert!(r.endpoint_config.is_none());
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v, json!({"Container": "c1"}));

        let d: NetworkDisconnectRequest =
            serde_json::from_str(r#"{"Container":"c1","Force":true}"#).unwrap();
        assert!(d.force);
        let d: NetworkDisconnectRequest =
            serde_json::from_str(r#"{"Container":"c1","Force":null}"#).unwrap();
        assert!(!d.force);
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            json!({"Container": "c1", "Force": false})
        );
    }

    #[test]
    fn prune_response() {
        let r: NetworkPruneResponse =
            serde_json::from_str(r#"{"NetworksDeleted":["a","b"]}"#).unwrap();
        assert_eq!(r.networks_deleted.unwrap(), ["a", "b"]);
        let r: NetworkPruneResponse = serde_json::from_str(r#"{"NetworksDeleted":null}"#).unwrap();
        assert!(r.networks_deleted.is_none());
        let v = serde_json::to_value(NetworkPruneResponse::default()).unwrap();
        assert!(v["NetworksDeleted"].is_null());
    }
}
