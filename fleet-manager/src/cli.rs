//! The `fleet-manager` command line: `serve` runs a manager; every other subcommand is a
//! client of a running one (`--server`/`--token` or `FLEET_SERVER`/`FLEET_TOKEN`).

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::Value;

use crate::auth::oidc::OidcConfig;
use crate::server::{self, ServeOptions};
use crate::tls::ClientCertMode;

#[derive(Parser, Debug)]
#[command(
    name = "fleet-manager",
    version,
    about = "The Fleet manager: GitOps for many clusters"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "FLEET_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where a client command sends its calls.
#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// Manager URL, e.g. https://fleet.example.org:8443
    #[arg(
        long,
        global = true,
        env = "FLEET_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// Admin token, or an OIDC bearer token when the manager accepts them.
    #[arg(long, global = true, env = "FLEET_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM CA bundle to trust for the manager's certificate (a private CA), in addition to
    /// the system's roots.
    #[arg(long, global = true, env = "FLEET_CA_FILE")]
    pub ca_file: Option<PathBuf>,
}

impl ClientArgs {
    /// An HTTP client builder that trusts `--ca-file` besides the system's roots; a missing
    /// or unparsable bundle is an error naming the file, not a later "unknown issuer".
    pub fn http_builder(&self) -> Result<reqwest::ClientBuilder> {
        let mut builder = reqwest::Client::builder();
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading the CA bundle {}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("parsing the CA bundle {}", path.display()))?;
            anyhow::ensure!(
                !certs.is_empty(),
                "the CA bundle {} holds no certificate",
                path.display()
            );
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(builder)
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the manager.
    Serve(Box<ServeArgs>),
    /// Create or update GitRepo, ClusterGroup and Secret resources from files.
    Apply {
        #[command(flatten)]
        client: ClientArgs,
        /// A YAML/JSON file, a directory of them, or `-` for stdin.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<String>,
    },
    /// Show resources: gitrepos, clustergroups, secrets, bundles, clusters.
    Get {
        #[command(flatten)]
        client: ClientArgs,
        kind: String,
        name: Option<String>,
        #[arg(short, long)]
        namespace: Option<String>,
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Delete a resource.
    Delete {
        #[command(flatten)]
        client: ClientArgs,
        kind: String,
        name: String,
        #[arg(short, long, default_value = crate::resources::DEFAULT_WORKSPACE)]
        namespace: String,
    },
    /// Manage clusters.
    Cluster {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Registration tokens for agents.
    Token {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Named admin tokens.
    AdminToken {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: AdminTokenCommand,
    },
    /// Status as the dashboard shows it: the fleet, or `gitrepo|bundle|cluster|group NAME`,
    /// with counts per state and the failing resources (`--watch` redraws on changes).
    Status(crate::dashboard::cli_status::StatusArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
    Yaml,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[arg(long, default_value = "127.0.0.1:8080", env = "FLEET_LISTEN")]
    pub listen: SocketAddr,
    #[arg(long, default_value = "./fleet-data", env = "FLEET_DATA_DIR")]
    pub data_dir: PathBuf,
    /// `sqlite:///path/file.db` or `postgres://user@host/db` (default: SQLite in the data dir).
    #[arg(long, env = "FLEET_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
    #[arg(long, env = "FLEET_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    #[arg(long, env = "FLEET_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// PEM of the CA that signs --tls-cert, pinned in agents that `cluster join`
    /// installs (default: the last certificate of --tls-cert's chain).
    #[arg(long, env = "FLEET_TLS_CA", requires = "tls_cert")]
    pub tls_ca: Option<PathBuf>,
    /// The URL agents reach this manager at, e.g. https://fleet.example.org:8443, for
    /// `cluster join`'s install commands (default: the URL the admin client used).
    #[arg(long, env = "FLEET_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// PEM bundle of the CA that signs agents' client certificates: turns on mTLS for the
    /// agent API (a certificate must name the cluster by CN or DNS SAN). Needs --tls-cert.
    #[arg(long, env = "FLEET_CLIENT_CA", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
    /// With --client-ca: `required` refuses agent calls without a certificate;
    /// `optional` serves them on their credential alone (while a fleet moves to mTLS).
    #[arg(
        long,
        value_enum,
        default_value_t = ClientCertMode::Required,
        env = "FLEET_CLIENT_CERT_MODE",
        requires = "client_ca"
    )]
    pub client_cert_mode: ClientCertMode,
    #[command(flatten)]
    pub oidc: OidcArgs,
    /// Seconds without an agent call after which a cluster is offline.
    #[arg(long, default_value_t = 300)]
    pub offline_after: u64,
    /// Concurrent Git fetches.
    #[arg(long, default_value_t = 4)]
    pub git_concurrency: usize,
}

/// OIDC bearer tokens for the admin API and the dashboard API, named as
/// kube-apiserver's flags.
#[derive(Args, Debug, Clone)]
pub struct OidcArgs {
    /// Issuer URL of the OIDC provider (the `iss` of its tokens); turns OIDC on.
    #[arg(long, env = "FLEET_OIDC_ISSUER_URL", requires = "oidc_client_id")]
    pub oidc_issuer_url: Option<String>,
    /// Client ID registered at the provider: the audience (`aud`) tokens must carry.
    #[arg(long, env = "FLEET_OIDC_CLIENT_ID", requires = "oidc_issuer_url")]
    pub oidc_client_id: Option<String>,
    /// Claim naming the user in the audit log.
    #[arg(long, default_value = "email", env = "FLEET_OIDC_USERNAME_CLAIM")]
    pub oidc_username_claim: String,
    /// Prefix of OIDC user names (`oidc:alice@example.com`), so they never look like
    /// admin token names.
    #[arg(long, default_value = "oidc:", env = "FLEET_OIDC_USERNAME_PREFIX")]
    pub oidc_username_prefix: String,
    /// Claim listing the user's groups.
    #[arg(long, default_value = "groups", env = "FLEET_OIDC_GROUPS_CLAIM")]
    pub oidc_groups_claim: String,
    /// Groups whose members get the admin role (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', env = "FLEET_OIDC_ADMIN_GROUPS")]
    pub oidc_admin_groups: Vec<String>,
    /// Groups whose members get the read-only role (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', env = "FLEET_OIDC_READONLY_GROUPS")]
    pub oidc_readonly_groups: Vec<String>,
    /// Extra CA (PEM) to trust for the provider's HTTPS.
    #[arg(long, env = "FLEET_OIDC_CA_FILE")]
    pub oidc_ca_file: Option<PathBuf>,
}

impl OidcArgs {
    /// The OIDC configuration, `None` when OIDC is off.
    pub fn config(&self) -> Option<OidcConfig> {
        let issuer = self.oidc_issuer_url.as_deref()?;
        let mut c = OidcConfig::new(issuer, self.oidc_client_id.as_deref().unwrap_or_default());
        let groups = |g: &[String]| {
            g.iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        c.username_claim = self.oidc_username_claim.clone();
        c.username_prefix = self.oidc_username_prefix.clone();
        c.groups_claim = self.oidc_groups_claim.clone();
        c.admin_groups = groups(&self.oidc_admin_groups);
        c.readonly_groups = groups(&self.oidc_readonly_groups);
        c.ca_file = self.oidc_ca_file.clone();
        Some(c)
    }
}

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    List {
        #[arg(short, long)]
        namespace: Option<String>,
        /// Label selector `k=v,k2=v2`.
        #[arg(short = 'l', long)]
        selector: Option<String>,
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Set labels: `cluster label NAME k=v [k2=v2…]`.
    Label {
        name: String,
        #[arg(required = true)]
        labels: Vec<String>,
        #[arg(short, long, default_value = crate::resources::DEFAULT_WORKSPACE)]
        namespace: String,
    },
    /// Remove labels: `cluster unlabel NAME k [k2…]`.
    Unlabel {
        name: String,
        #[arg(required = true)]
        keys: Vec<String>,
        #[arg(short, long, default_value = crate::resources::DEFAULT_WORKSPACE)]
        namespace: String,
    },
    /// Create a join token for a new cluster and print the one line that installs its
    /// agent (`kubectl apply -f …`, or the `helm install` equivalent).
    Join {
        name: String,
        /// Labels the cluster gets: `k=v,k2=v2` (repeatable).
        #[arg(long)]
        labels: Vec<String>,
        /// How long the install line works.
        #[arg(long, default_value = "1h")]
        ttl: String,
        #[arg(short, long, default_value = crate::resources::DEFAULT_WORKSPACE)]
        namespace: String,
        /// Write the manager's CA (PEM) here, for kubectl/helm to fetch over HTTPS from a
        /// manager with a private CA; the printed lines then use it.
        #[arg(long)]
        ca_out: Option<PathBuf>,
    },
    Remove {
        name: String,
        #[arg(short, long, default_value = crate::resources::DEFAULT_WORKSPACE)]
        namespace: String,
    },
    /// Issue a new credential for the cluster (the old one stops working).
    Rotate {
        name: String,
        #[arg(short, long, default_value = crate::resources::DEFAULT_WORKSPACE)]
        namespace: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Prints the new token alone on the last line of stdout.
    Create {
        #[arg(long, default_value = "24h")]
        ttl: String,
        /// Labels given to clusters registering with it: `k=v,k2=v2` (repeatable).
        #[arg(long)]
        labels: Vec<String>,
        #[arg(short, long, default_value = crate::resources::DEFAULT_WORKSPACE)]
        namespace: String,
        /// How many registrations it allows (0: unlimited until it expires).
        #[arg(long, default_value_t = 0)]
        max_uses: i64,
    },
    List,
    Delete {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminTokenCommand {
    /// Prints the new token alone on the last line of stdout.
    Create {
        name: String,
        #[arg(long, default_value = "admin")]
        role: String,
    },
    List,
    Revoke {
        name: String,
    },
}

/// Sets up logging as asked.
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(a) => serve(*a).await,
        Command::Apply { client, files } => apply(&Client::new(&client)?, &files).await,
        Command::Get {
            client,
            kind,
            name,
            namespace,
            output,
        } => {
            get(
                &Client::new(&client)?,
                &kind,
                name.as_deref(),
                namespace.as_deref(),
                output,
            )
            .await
        }
        Command::Delete {
            client,
            kind,
            name,
            namespace,
        } => {
            let c = Client::new(&client)?;
            let plural = plural(&kind)?;
            c.call(
                reqwest::Method::DELETE,
                &format!("/api/v1/{plural}/{namespace}/{name}"),
                None,
            )
            .await?;
            println!("{plural}/{namespace}/{name} deleted");
            Ok(())
        }
        Command::Cluster { client, command } => cluster(&Client::new(&client)?, command).await,
        Command::Token { client, command } => token(&Client::new(&client)?, command).await,
        Command::AdminToken { client, command } => {
            admin_token(&Client::new(&client)?, command).await
        }
        Command::Status(args) => crate::dashboard::cli_status::run(args).await,
    }
}

async fn serve(a: ServeArgs) -> Result<()> {
    let mut opts = ServeOptions::new(a.listen, a.data_dir);
    opts.database = a.database;
    opts.tls_cert = a.tls_cert;
    opts.tls_key = a.tls_key;
    opts.client_ca = a.client_ca;
    opts.client_cert_mode = a.client_cert_mode;
    opts.oidc = a.oidc.config();
    opts.admin_token = std::env::var("FLEET_ADMIN_TOKEN").ok();
    opts.secret_key = std::env::var("FLEET_SECRET_KEY").ok();
    opts.webhook_secret = std::env::var("FLEET_WEBHOOK_SECRET").ok();
    opts.offline_after = Duration::from_secs(a.offline_after);
    opts.git_concurrency = a.git_concurrency;
    opts.tls_ca = a.tls_ca;
    opts.public_url = a.public_url;
    let running = server::start(opts).await.context("starting the manager")?;
    match &running.admin_token_source {
        crate::auth::AdminTokenSource::Generated(p) => {
            println!("admin token generated into {} (mode 0600)", p.display())
        }
        crate::auth::AdminTokenSource::File(p) => println!("admin token in {}", p.display()),
        crate::auth::AdminTokenSource::Env => println!("admin token from FLEET_ADMIN_TOKEN"),
    }
    println!("listening on {}", running.addr);
    running.wait().await;
    Ok(())
}

/// A client of the admin API.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub fn new(args: &ClientArgs) -> Result<Client> {
        let token = args
            .token
            .clone()
            .filter(|t| !t.is_empty())
            .context("no admin token: pass --token or set FLEET_TOKEN")?;
        let http = args
            .http_builder()?
            .timeout(Duration::from_secs(120))
            .build()
            .context("building the HTTP client")?;
        Ok(Client {
            http,
            base: args.server.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// Calls the API; a non-2xx answer becomes an error with the server's message.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<reqwest::Body>,
    ) -> Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.body(b).header("content-type", "application/json");
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("calling {}{path}", self.base))?;
        let status = resp.status();
        let text = resp.text().await.context("reading the answer")?;
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| {
                    v.get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or(text);
            bail!("{status}: {message}");
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).context("the server answered with invalid JSON")
    }
}

fn plural(kind: &str) -> Result<&'static str> {
    Ok(match kind.to_ascii_lowercase().trim_end_matches('s') {
        "gitrepo" => "gitrepos",
        "clustergroup" => "clustergroups",
        "secret" => "secrets",
        "bundle" => "bundles",
        "cluster" => "clusters",
        _ => bail!(
            "unknown kind {kind:?}: use gitrepos, clustergroups, secrets, bundles or clusters"
        ),
    })
}

/// Reads the documents of `-f` arguments: files, directories (their .yaml/.yml/.json
/// files, sorted) or `-`.
fn read_inputs(files: &[String]) -> Result<String> {
    let mut out = String::new();
    for f in files {
        if f == "-" {
            std::io::stdin()
                .read_to_string(&mut out)
                .context("reading stdin")?;
            out.push_str("\n---\n");
            continue;
        }
        let path = Path::new(f);
        let mut paths = Vec::new();
        if path.is_dir() {
            for e in std::fs::read_dir(path).with_context(|| format!("reading directory {f}"))? {
                let p = e?.path();
                if matches!(
                    p.extension().and_then(|x| x.to_str()),
                    Some("yaml" | "yml" | "json")
                ) {
                    paths.push(p);
                }
            }
            paths.sort();
        } else {
            paths.push(path.to_path_buf());
        }
        for p in paths {
            out.push_str(
                &std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?,
            );
            out.push_str("\n---\n");
        }
    }
    Ok(out)
}

async fn apply(c: &Client, files: &[String]) -> Result<()> {
    let text = read_inputs(files)?;
    // Check locally first, for errors that name the document before anything is sent.
    crate::resources::parse_documents(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let v = c
        .call(reqwest::Method::POST, "/api/v1/apply", Some(text.into()))
        .await?;
    for a in v["applied"].as_array().into_iter().flatten() {
        println!(
            "{}/{}/{} {}",
            a["kind"].as_str().unwrap_or_default().to_ascii_lowercase(),
            a["namespace"].as_str().unwrap_or_default(),
            a["name"].as_str().unwrap_or_default(),
            a["result"].as_str().unwrap_or_default()
        );
    }
    Ok(())
}

fn print(v: &Value, output: Output, table: impl FnOnce(&Value)) -> Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(v)?),
        Output::Yaml => print!("{}", serde_yaml::to_string(v)?),
        Output::Table => table(v),
    }
    Ok(())
}

async fn get(
    c: &Client,
    kind: &str,
    name: Option<&str>,
    ns: Option<&str>,
    output: Output,
) -> Result<()> {
    let plural = plural(kind)?;
    let path = match (name, plural) {
        (Some(n), _) => format!(
            "/api/v1/{plural}/{}/{n}",
            ns.unwrap_or(crate::resources::DEFAULT_WORKSPACE)
        ),
        (None, _) => match ns {
            Some(ns) => format!("/api/v1/{plural}?namespace={ns}"),
            None => format!("/api/v1/{plural}"),
        },
    };
    let v = c.call(reqwest::Method::GET, &path, None).await?;
    print(&v, output, |v| print!("{}", get_table(v, name.is_some())))
}

/// The `get` table: one row per item of a listing, or the one object asked for by name.
fn get_table(v: &Value, single: bool) -> String {
    use std::fmt::Write as _;
    let items: Vec<&Value> = if single {
        vec![v]
    } else {
        v["items"].as_array().into_iter().flatten().collect()
    };
    let mut out = format!("{:<16} {:<40} STATE/INFO\n", "NAMESPACE", "NAME");
    for item in items {
        let ns = item
            .pointer("/metadata/namespace")
            .or_else(|| item.get("namespace"));
        let nm = item.pointer("/metadata/name").or_else(|| item.get("name"));
        let info = item
            .get("displayState")
            .or_else(|| item.get("state"))
            .or_else(|| item.pointer("/status/commit"))
            .or_else(|| item.pointer("/spec/repo"))
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string())
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<16} {:<40} {}",
            ns.and_then(|x| x.as_str()).unwrap_or_default(),
            nm.and_then(|x| x.as_str()).unwrap_or_default(),
            info
        );
    }
    out
}

fn parse_label_args(items: &[String]) -> Result<BTreeMap<String, String>> {
    fleet_bundle::selector::parse_labels(items.iter().map(String::as_str))
        .map_err(|e| anyhow::anyhow!(e))
}

async fn cluster(c: &Client, cmd: ClusterCommand) -> Result<()> {
    use reqwest::Method;
    match cmd {
        ClusterCommand::List {
            namespace,
            selector,
            output,
        } => {
            let mut q = vec!["limit=1000".to_string()];
            if let Some(ns) = namespace {
                q.push(format!("namespace={ns}"));
            }
            if let Some(s) = selector {
                q.push(format!("labels={}", urlencode(&s)));
            }
            let v = c
                .call(
                    Method::GET,
                    &format!("/api/v1/clusters?{}", q.join("&")),
                    None,
                )
                .await?;
            print(&v, output, |v| {
                println!(
                    "{:<16} {:<32} {:<12} {:<8} LABELS",
                    "NAMESPACE", "NAME", "STATE", "ONLINE"
                );
                for i in v["items"].as_array().into_iter().flatten() {
                    let labels: Vec<String> = i["labels"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect();
                    println!(
                        "{:<16} {:<32} {:<12} {:<8} {}",
                        i["namespace"].as_str().unwrap_or_default(),
                        i["name"].as_str().unwrap_or_default(),
                        i["state"].as_str().unwrap_or_default(),
                        if i["offline"].as_bool().unwrap_or(true) {
                            "no"
                        } else {
                            "yes"
                        },
                        labels.join(",")
                    );
                }
            })
        }
        ClusterCommand::Label {
            name,
            labels,
            namespace,
        } => {
            let set = parse_label_args(&labels)?;
            let body = serde_json::json!({ "set": set }).to_string();
            let v = c
                .call(
                    Method::POST,
                    &format!("/api/v1/clusters/{namespace}/{name}/labels"),
                    Some(body.into()),
                )
                .await?;
            println!("cluster {namespace}/{name} labels: {}", v["labels"]);
            Ok(())
        }
        ClusterCommand::Unlabel {
            name,
            keys,
            namespace,
        } => {
            let body = serde_json::json!({ "remove": keys }).to_string();
            let v = c
                .call(
                    Method::POST,
                    &format!("/api/v1/clusters/{namespace}/{name}/labels"),
                    Some(body.into()),
                )
                .await?;
            println!("cluster {namespace}/{name} labels: {}", v["labels"]);
            Ok(())
        }
        ClusterCommand::Join {
            name,
            labels,
            ttl,
            namespace,
            ca_out,
        } => {
            crate::resources::parse_duration(&ttl).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?;
            let labels = parse_label_args(&labels)?;
            let body = serde_json::json!({"name": name, "namespace": namespace, "ttl": ttl, "labels": labels}).to_string();
            let v = c
                .call(Method::POST, "/api/v1/joins", Some(body.into()))
                .await?;
            print!("{}", join_lines(&v, ca_out.as_deref())?);
            Ok(())
        }
        ClusterCommand::Remove { name, namespace } => {
            c.call(
                Method::DELETE,
                &format!("/api/v1/clusters/{namespace}/{name}"),
                None,
            )
            .await?;
            println!("cluster {namespace}/{name} removed");
            Ok(())
        }
        ClusterCommand::Rotate { name, namespace } => {
            let v = c
                .call(
                    Method::POST,
                    &format!("/api/v1/clusters/{namespace}/{name}/credential"),
                    None,
                )
                .await?;
            println!("{}", v["credential"].as_str().unwrap_or_default());
            Ok(())
        }
    }
}

/// What `cluster join` prints for the manager's answer: comments, then the kubectl line
/// and the helm line. With `ca_out`, the manager's CA is written there and the lines
/// fetch through it.
fn join_lines(v: &Value, ca_out: Option<&Path>) -> Result<String> {
    let s = |k: &str| v[k].as_str().unwrap_or_default();
    let kubectl = v["kubectl"]
        .as_str()
        .context("the server returned no install command")?;
    let mut helm = s("helm").to_string();
    let expires = chrono::DateTime::from_timestamp(v["expiresAt"].as_i64().unwrap_or(0), 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    let mut out = format!(
        "# cluster {} joins workspace {} with this line, until {expires} (token {}):\n",
        s("cluster"),
        s("namespace"),
        s("id")
    );
    let ca = v["caCert"].as_str().filter(|c| !c.is_empty());
    match (ca, ca_out) {
        (Some(ca), Some(path)) => {
            std::fs::write(path, ca)
                .with_context(|| format!("writing the manager's CA to {}", path.display()))?;
            let file = path.display().to_string();
            let url = kubectl.trim_start_matches("kubectl apply -f ");
            out.push_str(&format!("# the manager's CA is in {file}; kubectl trusts it through curl:\ncurl -fsS --cacert '{file}' {url} | kubectl apply -f -\n"));
            helm.push_str(&format!(" --ca-file '{file}'"));
        }
        (Some(_), None) => out.push_str(
            "# the manager's certificate is from a private CA (pinned in the agent); add --ca-out FILE to fetch through it\n",
        ),
        _ => {}
    }
    out.push_str(&format!("{kubectl}\n# or, with helm:\n{helm}\n"));
    Ok(out)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn token(c: &Client, cmd: TokenCommand) -> Result<()> {
    use reqwest::Method;
    match cmd {
        TokenCommand::Create {
            ttl,
            labels,
            namespace,
            max_uses,
        } => {
            crate::resources::parse_duration(&ttl).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?;
            let labels = parse_label_args(&labels)?;
            let body = serde_json::json!({"namespace": namespace, "ttl": ttl, "labels": labels, "maxUses": max_uses}).to_string();
            let v = c
                .call(Method::POST, "/api/v1/tokens", Some(body.into()))
                .await?;
            println!(
                "# registration token {} for {namespace}, expires at {} (unix)",
                v["id"].as_str().unwrap_or_default(),
                v["expiresAt"]
            );
            println!(
                "{}",
                v["token"]
                    .as_str()
                    .context("the server returned no token")?
            );
            Ok(())
        }
        TokenCommand::List => {
            let v = c.call(Method::GET, "/api/v1/tokens", None).await?;
            println!("{}", serde_json::to_string_pretty(&v["items"])?);
            Ok(())
        }
        TokenCommand::Delete { id } => {
            c.call(Method::DELETE, &format!("/api/v1/tokens/{id}"), None)
                .await?;
            println!("registration token {id} deleted");
            Ok(())
        }
    }
}

async fn admin_token(c: &Client, cmd: AdminTokenCommand) -> Result<()> {
    use reqwest::Method;
    match cmd {
        AdminTokenCommand::Create { name, role } => {
            let body = serde_json::json!({"name": name, "role": role}).to_string();
            let v = c
                .call(Method::POST, "/api/v1/admintokens", Some(body.into()))
                .await?;
            println!(
                "# admin token {name} ({})",
                v["role"].as_str().unwrap_or_default()
            );
            println!(
                "{}",
                v["token"]
                    .as_str()
                    .context("the server returned no token")?
            );
            Ok(())
        }
        AdminTokenCommand::List => {
            let v = c.call(Method::GET, "/api/v1/admintokens", None).await?;
            println!("{}", serde_json::to_string_pretty(&v["items"])?);
            Ok(())
        }
        AdminTokenCommand::Revoke { name } => {
            c.call(Method::DELETE, &format!("/api/v1/admintokens/{name}"), None)
                .await?;
            println!("admin token {name} revoked");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_parses_the_documented_commands() {
        let cli = Cli::try_parse_from([
            "fleet-manager",
            "token",
            "create",
            "--ttl",
            "24h",
            "--labels",
            "env=prod",
            "--token",
            "t",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Token {
                command: TokenCommand::Create { .. },
                ..
            }
        ));
        let cli = Cli::try_parse_from([
            "fleet-manager",
            "cluster",
            "label",
            "c1",
            "env=prod",
            "--token",
            "t",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Cluster {
                command: ClusterCommand::Label { .. },
                ..
            }
        ));
        assert!(Cli::try_parse_from(["fleet-manager", "apply"]).is_err());
        let cli = Cli::try_parse_from([
            "fleet-manager",
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .unwrap();
        assert_eq!(cli.log_format, LogFormat::Json);
    }

    #[test]
    fn oidc_and_mtls_flags() {
        let cli = Cli::try_parse_from([
            "fleet-manager",
            "serve",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--client-ca",
            "ca.pem",
            "--client-cert-mode",
            "optional",
            "--oidc-issuer-url",
            "https://idp.example.com",
            "--oidc-client-id",
            "fleet",
            "--oidc-admin-groups",
            "ops,platform",
            "--oidc-readonly-groups",
            "dev",
        ])
        .unwrap();
        let Command::Serve(a) = cli.command else {
            panic!("serve expected");
        };
        assert_eq!(a.client_cert_mode, ClientCertMode::Optional);
        let c = a.oidc.config().unwrap();
        assert_eq!(c.client_id, "fleet");
        assert_eq!(c.admin_groups, ["ops", "platform"]);
        assert_eq!(c.readonly_groups, ["dev"]);
        assert_eq!(
            (c.username_claim.as_str(), c.groups_claim.as_str()),
            ("email", "groups")
        );
        // OIDC is off without an issuer; each half of OIDC and --client-ca alone are refused.
        let cli = Cli::try_parse_from(["fleet-manager", "serve"]).unwrap();
        let Command::Serve(a) = cli.command else {
            panic!("serve expected");
        };
        assert!(a.oidc.config().is_none());
        for args in [
            &["--oidc-issuer-url", "https://idp.example.com"][..],
            &["--oidc-client-id", "fleet"][..],
            &["--client-ca", "ca.pem"][..],
        ] {
            let mut argv = vec!["fleet-manager", "serve"];
            argv.extend_from_slice(args);
            assert!(Cli::try_parse_from(argv).is_err(), "{args:?}");
        }
    }

    #[test]
    fn get_by_name_prints_a_table_row() {
        let bundle = serde_json::json!({
            "kind": "Bundle",
            "metadata": {"name": "apps-web", "namespace": "fleet-default"},
            "spec": {"resources": []},
            "status": {"commit": "abc123"}
        });
        let out = get_table(&bundle, true);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(lines[0].starts_with("NAMESPACE"), "{out}");
        let cols: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(cols, ["fleet-default", "apps-web", "abc123"], "{out}");
        let list = serde_json::json!({"items": [
            {"namespace": "ns", "name": "b", "state": "Ready", "displayState": "NoTargets"}
        ]});
        assert!(get_table(&list, false).contains("NoTargets"));
    }

    #[test]
    fn kinds_and_urls() {
        assert_eq!(plural("GitRepo").unwrap(), "gitrepos");
        assert_eq!(plural("clusters").unwrap(), "clusters");
        assert!(plural("pods").is_err());
        assert_eq!(urlencode("env=prod,a b"), "env%3Dprod%2Ca%20b");
    }
}
