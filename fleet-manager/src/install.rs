//! Installing an agent on a new cluster: the agent chart (`deploy/charts/fleet-agent`,
//! embedded in this binary) rendered by fleet-bundle's Helm engine into the manifest that
//! `/install/agent.yaml?token=…` serves, the same chart as an archive for `helm install`,
//! and the two one-line commands `fleet-manager cluster join` prints. Both commands give
//! the chart the same values: the manager's URL, the join token, the cluster name and the
//! manager's CA (pinned as the agent's `--ca-file`).

use std::io::Write as _;

use fleet_bundle::helm::chart::ChartFile;
use fleet_bundle::helm::load::{load_files, LoadLimits};
use fleet_bundle::helm::output::StreamOptions;
use fleet_bundle::helm::render::{render_loaded, GoTemplateEngine, HelmError, TemplateOptions};
use fleet_bundle::helm::values::Values;
use serde_json::{json, Value};

include!(concat!(env!("OUT_DIR"), "/agent_chart.rs"));

/// The Helm release name of an installed agent (its objects are named `fleet-agent`).
pub const RELEASE_NAME: &str = "fleet-agent";
/// The namespace the agent is installed into.
pub const NAMESPACE: &str = "fleet-system";
/// Where the manager serves the chart archive.
pub const CHART_PATH: &str = "/install/fleet-agent.tgz";
/// Where the manager serves the rendered manifest (`?token=…`).
pub const MANIFEST_PATH: &str = "/install/agent.yaml";

/// What one agent installation is given.
#[derive(Debug, Clone)]
pub struct AgentInstall {
    /// The manager as the agent reaches it, without a trailing `/`.
    pub manager_url: String,
    pub token: String,
    pub cluster_name: String,
    /// PEM of the CA of the manager's certificate, when it is a private one.
    pub ca_pem: Option<String>,
}

impl AgentInstall {
    /// The chart values both install commands set.
    fn values(&self) -> Values {
        let mut manager = json!({ "url": self.manager_url });
        if let Some(ca) = &self.ca_pem {
            manager["caCert"] = Value::String(ca.clone());
        }
        let v = json!({
            "manager": manager,
            "registration": { "token": self.token },
            "cluster": { "name": self.cluster_name },
        });
        match v {
            Value::Object(map) => map,
            _ => Values::new(),
        }
    }

    /// The manifest `kubectl apply -f` takes: the namespace, then every object of the
    /// chart as `helm template` prints it for these values.
    pub fn manifest(&self) -> Result<String, HelmError> {
        let chart = load_files(
            chart_files(),
            "fleet-agent (embedded)",
            LoadLimits::default(),
        )?;
        let opts = TemplateOptions {
            release_name: RELEASE_NAME.into(),
            namespace: NAMESPACE.into(),
            ..TemplateOptions::default()
        };
        let rendered = render_loaded(chart, &self.values(), &opts, &GoTemplateEngine)?;
        let body = rendered.stream(&StreamOptions::default())?;
        Ok(format!(
            "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n{body}"
        ))
    }

    /// `kubectl apply -f 'https://MANAGER/install/agent.yaml?token=…'`.
    pub fn kubectl_command(&self) -> String {
        let url = format!("{}{MANIFEST_PATH}?token={}", self.manager_url, self.token);
        format!("kubectl apply -f {}", shell_quote(&url))
    }

    /// The `helm install` of the served chart archive with the same values.
    pub fn helm_command(&self) -> String {
        let mut line = format!(
            "helm install {RELEASE_NAME} {} --namespace {NAMESPACE} --create-namespace --set-string {}",
            shell_quote(&format!("{}{CHART_PATH}", self.manager_url)),
            shell_quote(&format!(
                "manager.url={},registration.token={},cluster.name={}",
                self.manager_url, self.token, self.cluster_name
            )),
        );
        if let Some(ca) = &self.ca_pem {
            let json = serde_json::to_string(ca).unwrap_or_default();
            line.push_str(&format!(
                " --set-json {}",
                shell_quote(&format!("manager.caCert={json}"))
            ));
        }
        line
    }
}

/// The embedded chart's files.
pub fn chart_files() -> Vec<ChartFile> {
    AGENT_CHART
        .iter()
        .map(|(name, data)| ChartFile {
            name: (*name).to_string(),
            data: data.to_vec(),
        })
        .collect()
}

/// The embedded chart as a `.tgz` whose entries sit under `fleet-agent/`, as `helm
/// package` writes it.
pub fn chart_archive() -> std::io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, data) in AGENT_CHART {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, format!("fleet-agent/{name}"), *data)?;
    }
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    gz.finish()
}

/// The CA to pin from a certificate chain in PEM: its last certificate (the one nearest
/// the root; a self-signed certificate alone is its own CA). `None` without any.
pub fn ca_of_chain(pem: &str) -> Option<String> {
    const END: &str = "-----END CERTIFICATE-----";
    let last_end = pem.rfind(END)?;
    let begin = pem[..last_end].rfind("-----BEGIN CERTIFICATE-----")?;
    Some(format!("{}\n", &pem[begin..last_end + END.len()]))
}

/// `s` as one POSIX shell word.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn install(ca: Option<&str>) -> AgentInstall {
        AgentInstall {
            manager_url: "https://fleet.example.org:8443".into(),
            token: "fleet-reg-abc_DEF-1".into(),
            cluster_name: "edge-1".into(),
            ca_pem: ca.map(str::to_string),
        }
    }

    #[test]
    fn the_manifest_pins_url_token_name_and_ca() {
        let ca = "-----BEGIN CERTIFICATE-----\nMIIBxyz\n-----END CERTIFICATE-----\n";
        let text = install(Some(ca)).manifest().unwrap();
        let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .filter(|d: &serde_yaml::Value| !d.is_null())
            .collect();
        let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        assert_eq!(kinds[0], "Namespace");
        for kind in ["ServiceAccount", "Secret", "Deployment", "ClusterRole"] {
            assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
        }
        let secret = docs.iter().find(|d| d["kind"] == "Secret").unwrap();
        let b64 = |s: &str| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(s)
        };
        assert_eq!(
            secret["data"]["token"].as_str(),
            Some(b64("fleet-reg-abc_DEF-1").as_str())
        );
        assert_eq!(secret["data"]["ca.crt"].as_str(), Some(b64(ca).as_str()));
        let deploy = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
        let args: Vec<&str> = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str())
            .collect();
        assert!(
            args.contains(&"--manager=https://fleet.example.org:8443"),
            "{args:?}"
        );
        assert!(args.contains(&"--cluster-name=edge-1"), "{args:?}");
        assert!(
            args.contains(&"--ca-file=/etc/fleet-agent/manager/ca.crt"),
            "{args:?}"
        );
        // Without a private CA there is nothing to pin.
        let text = install(None).manifest().unwrap();
        assert!(!text.contains("ca.crt"), "{text}");
    }

    #[test]
    fn the_commands_carry_the_same_values() {
        let i = install(Some(
            "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n",
        ));
        assert_eq!(
            i.kubectl_command(),
            "kubectl apply -f 'https://fleet.example.org:8443/install/agent.yaml?token=fleet-reg-abc_DEF-1'"
        );
        assert_eq!(
            i.helm_command(),
            "helm install fleet-agent 'https://fleet.example.org:8443/install/fleet-agent.tgz' --namespace fleet-system --create-namespace \
             --set-string 'manager.url=https://fleet.example.org:8443,registration.token=fleet-reg-abc_DEF-1,cluster.name=edge-1' \
             --set-json 'manager.caCert=\"-----BEGIN CERTIFICATE-----\\nMII\\n-----END CERTIFICATE-----\\n\"'"
        );
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }

    #[test]
    fn the_archive_holds_the_chart_under_its_name() {
        let bytes = chart_archive().unwrap();
        let mut names = Vec::new();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        for entry in archive.entries().unwrap() {
            names.push(entry.unwrap().path().unwrap().display().to_string());
        }
        assert!(
            names.contains(&"fleet-agent/Chart.yaml".to_string()),
            "{names:?}"
        );
        assert!(
            names.contains(&"fleet-agent/templates/deployment.yaml".to_string()),
            "{names:?}"
        );
    }

    #[test]
    fn the_pinned_ca_is_the_last_certificate_of_the_chain() {
        let chain = "-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
        assert_eq!(
            ca_of_chain(chain).as_deref(),
            Some("-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n")
        );
        assert_eq!(ca_of_chain("no pem here"), None);
    }
}
