//! Shared helpers for the integration tests: start a double and build clients for it.

#![allow(dead_code)]

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube_double::{Config, Handle, KubeDouble};

/// Start a TLS double with default settings plus `tweak`.
pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Handle {
    let mut config = Config {
        status_delay_ms: 50,
        ..Config::default()
    };
    tweak(&mut config);
    KubeDouble::start(config).await.expect("double starts")
}

/// Start a TLS double with default settings.
pub async fn start() -> Handle {
    start_with(|_| {}).await
}

/// A kube-rs client using the kubeconfig the double wrote.
pub async fn client(handle: &Handle) -> kube::Client {
    let kubeconfig = Kubeconfig::from_yaml(handle.kubeconfig_yaml()).expect("kubeconfig parses");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

/// Wait (bounded) until `check` returns Some.
pub async fn eventually<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..100 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("condition not reached within 5s");
}
