//! PostgreSQL figures, printed as `name: value` lines (run in release):
//!
//! ```text
//! eval "$(.ci/postgres.sh start)"
//! cargo run --release -p keyprov-benches --features postgres --example bench_postgres          # full
//! cargo run --release -p keyprov-benches --features postgres --example bench_postgres -- --smoke
//! ```
//!
//! Two nodes in one process, each with its own pool; node A's events are NOT wired to node B.
//!
//! - `pg_provision_per_s`: full provisioning calls on node A (P1-P3 reads, validation off, then
//!   the insert and its NOTIFY in one transaction), single calls by 4 concurrent callers, with
//!   durable commits (the default).
//! - `pg_insert_mapping_per_s`: the store's `insert_mapping` alone, same callers (the
//!   provisioner adds three reads per call).
//! - `pg_provision_per_s_async_commit`: as `pg_provision_per_s` on a store opened with the
//!   opt-in `synchronous_commit(false)` (not durable across a server crash; for comparison).
//! - `propagation_p50_ms` / `propagation_p99_ms`: from node A's provision call returning until
//!   node B's `Gateway::resolve` accepts a freshly signed RS256 token of that client for an API
//!   the application is subscribed to. Node B's gateway follows node B's own store, whose
//!   change feed is its own listening connection. A token accepted on the first try
//!   counts 0.
//!
//! Needs `KEYPROV_PG_URL`; works in a throwaway schema dropped at the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyprov::gateway::{Gateway, GatewaySettings};
use keyprov::store::Store;
use keyprov::store::postgres::{PostgresConfig, PostgresStore};
use keyprov::testkit::ScriptedKeyManager;
use keyprov::{
    Actor, Api, ApiId, ApplicationId, GlobalSettings, Jwk, JwkSet, KeyManager, KeyManagerConfig,
    KeyManagers, KeyMapping, KeyType, MappingId, MappingMode, MappingState, NewApplication,
    ProvisionRequest, Provisioner,
};
use serde_json::json;

const CALLERS: usize = 4;
const ISSUER: &str = "https://is.bench.example/oauth2/token";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let Ok(url) = std::env::var("KEYPROV_PG_URL") else {
        println!("SKIP bench_postgres: set KEYPROV_PG_URL");
        return Ok(());
    };
    let (provisions, samples) = if smoke { (200, 40) } else { (4000, 400) };
    let schema = format!(
        "kp_bench_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let config = |name: &str, durable: bool| {
        PostgresConfig::builder(url.clone())
            .schema(schema.clone())
            .application_name(name)
            .pool_size(8)
            .synchronous_commit(durable)
            .build()
    };
    let result = run(
        [
            config("kp-bench-a", true)?,
            config("kp-bench-a-async", false)?,
            config("kp-bench-b", true)?,
        ],
        provisions,
        samples,
    )
    .await;
    drop_schema(&url, &schema).await?;
    let (p50, p99) = result?;
    println!("propagation_p50_ms: {p50:.2}");
    println!("propagation_p99_ms: {p99:.2}");
    println!("propagation_samples: {samples}");
    Ok(())
}

/// A node-A provisioner on its own store (validation off: the figure is storage's).
async fn node_a(
    config: PostgresConfig,
    key_managers: KeyManagers,
) -> anyhow::Result<(Arc<PostgresStore>, Provisioner)> {
    let store = Arc::new(PostgresStore::open(config).await?);
    let provisioner = Provisioner::builder()
        .store(store.clone())
        .key_managers(key_managers)
        .global(GlobalSettings {
            enable_provisioned_app_validation: false,
            ..GlobalSettings::default()
        })
        .build()?;
    Ok((store, provisioner))
}

async fn applications(
    provisioner: &Provisioner,
    prefix: &str,
    n: usize,
) -> anyhow::Result<Vec<ApplicationId>> {
    let mut apps = Vec::with_capacity(n);
    for i in 0..n {
        let app = provisioner
            .create_application(NewApplication::new(
                format!("{prefix}-{i}"),
                "bench".parse()?,
                "org".parse()?,
            ))
            .await?;
        apps.push(app.id);
    }
    Ok(apps)
}

/// `CALLERS` tasks, each a sequence of single provisioning calls; provisions per second.
async fn provision_rate(
    provisioner: &Provisioner,
    apps: &[ApplicationId],
    prefix: &str,
) -> anyhow::Result<f64> {
    let owner = Actor::User("bench".parse()?);
    let started = Instant::now();
    let callers: Vec<_> = (0..CALLERS)
        .map(|c| {
            let (provisioner, owner) = (provisioner.clone(), owner.clone());
            let mine: Vec<_> = (c..apps.len())
                .step_by(CALLERS)
                .map(|i| (i, apps[i]))
                .collect();
            let prefix = prefix.to_owned();
            tokio::spawn(async move {
                for (i, app) in mine {
                    let request = ProvisionRequest::new(
                        app,
                        "IS",
                        KeyType::Production,
                        keyprov::ConsumerKey::new(format!("{prefix}-client-{i}"))?,
                    )
                    .secret(format!("secret-{i}").into());
                    provisioner.provision(&owner, request).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for caller in callers {
        caller.await??;
    }
    Ok(apps.len() as f64 / started.elapsed().as_secs_f64())
}

async fn run(
    [config_a, config_a_async, config_b]: [PostgresConfig; 3],
    provisions: usize,
    samples: usize,
) -> anyhow::Result<(f64, f64)> {
    let signer = RsaKeyPair::generate(KeySize::Rsa2048)?;
    let km = Arc::new(ScriptedKeyManager::new("IS"));
    km.set_jwks(JwkSet {
        keys: vec![jwk(&signer, "bench-1")],
    });
    let key_managers = KeyManagers::new().with(
        KeyManagerConfig::new("IS")?
            .out_of_band(true)
            .issuer(ISSUER),
        km.clone() as Arc<dyn KeyManager>,
    )?;
    let (store_a, provisioner) = node_a(config_a, key_managers.clone()).await?;
    let (_, provisioner_async) = node_a(config_a_async, key_managers.clone()).await?;

    // Node B: its own store (with its own change feed), followed by its gateway.
    let store_b: Arc<dyn Store> = Arc::new(PostgresStore::open(config_b).await?);
    let gateway = Gateway::builder()
        .key_managers(key_managers)
        .settings(GatewaySettings::default())
        .build()?;
    let follower = gateway.follow(&store_b).await?;

    // Throughput, durable (the headline), then the store's insert alone on the same
    // applications' free SANDBOX slots, then with asynchronous commit.
    let apps = applications(&provisioner, "bench", provisions).await?;
    let per_s = provision_rate(&provisioner, &apps, "durable").await?;
    println!("pg_provision_per_s: {per_s:.0}");

    let started = Instant::now();
    let callers: Vec<_> = (0..CALLERS)
        .map(|c| {
            let store = store_a.clone();
            let mine: Vec<_> = (c..provisions)
                .step_by(CALLERS)
                .map(|i| (i, apps[i]))
                .collect();
            tokio::spawn(async move {
                for (i, app) in mine {
                    store.insert_mapping(&sandbox_mapping(app, i)?).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for caller in callers {
        caller.await??;
    }
    let insert_per_s = provisions as f64 / started.elapsed().as_secs_f64();
    println!("pg_insert_mapping_per_s: {insert_per_s:.0}");

    let apps = applications(&provisioner, "bench-async", provisions).await?;
    let async_per_s = provision_rate(&provisioner_async, &apps, "async").await?;
    println!("pg_provision_per_s_async_commit: {async_per_s:.0}");

    // Propagation: one call at a time on node A, each timed until node B's gateway accepts a
    // token of the new client. The applications are subscribed first.
    let api = ApiId::new("bench-api-1.0.0")?;
    provisioner
        .put_api(Api::new(
            api.clone(),
            "bench-api",
            "1.0.0",
            "/bench/1.0.0",
            "org".parse()?,
        ))
        .await?;
    let owner = Actor::User("bench".parse()?);
    let apps = applications(&provisioner, "bench-prop", samples).await?;
    for app in &apps {
        provisioner.subscribe(&owner, *app, &api).await?;
    }
    // Node B must have caught up with the setup before the clock starts.
    let setup = provisioner.revision().await?;
    gateway.wait_for(setup, Duration::from_secs(30)).await?;
    let mut lags = Vec::with_capacity(samples);
    for (i, app) in apps.iter().enumerate() {
        let client = format!("prop-client-{i}");
        let token = sign(&signer, "bench-1", &client)?;
        let request = ProvisionRequest::new(
            *app,
            "IS",
            KeyType::Production,
            keyprov::ConsumerKey::new(client.clone())?,
        )
        .secret(format!("secret-{i}").into());
        provisioner.provision(&owner, request).await?;
        let returned = Instant::now();
        let deadline = returned + Duration::from_secs(5);
        loop {
            match gateway.resolve(&token, &api, KeyType::Production).await {
                Ok(ctx) if ctx.application == *app => break,
                Ok(ctx) => bail!("{client} resolved to {}", ctx.application),
                Err(refusal) if Instant::now() > deadline => {
                    bail!("{client} never usable on node B: {refusal}")
                }
                // Spin: tokio's timer has millisecond granularity.
                Err(_) => tokio::task::yield_now().await,
            }
        }
        lags.push(returned.elapsed().as_secs_f64() * 1000.0);
    }
    follower.stop();
    lags.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| lags[((lags.len() as f64 - 1.0) * p).round() as usize];
    Ok((pct(0.50), pct(0.99)))
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn jwk(pair: &RsaKeyPair, kid: &str) -> Jwk {
    use aws_lc_rs::signature::KeyPair as _;
    let public = pair.public_key();
    Jwk {
        kty: "RSA".into(),
        kid: Some(kid.into()),
        use_: Some("sig".into()),
        n: Some(b64(public.modulus().big_endian_without_leading_zero())),
        e: Some(b64(public.exponent().big_endian_without_leading_zero())),
        ..Jwk::default()
    }
}

/// A compact RS256 JWS for `client`, valid for 10 minutes.
fn sign(pair: &RsaKeyPair, kid: &str, client: &str) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let header = json!({"alg": "RS256", "kid": kid, "typ": "JWT"});
    let claims = json!({
        "iss": ISSUER, "sub": "bench", "azp": client, "iat": now, "exp": now + 600,
        "scope": "read", "jti": uuid::Uuid::new_v4().to_string(),
    });
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut sig = vec![0; pair.public_modulus_len()];
    pair.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .map_err(|_| anyhow::anyhow!("RS256 signing failed"))?;
    Ok(format!("{input}.{}", b64(&sig)))
}

fn sandbox_mapping(application: ApplicationId, i: usize) -> anyhow::Result<KeyMapping> {
    let at = chrono::Utc::now();
    Ok(KeyMapping {
        id: MappingId::random(),
        application,
        key_type: KeyType::Sandbox,
        key_manager: "IS".parse()?,
        consumer_key: format!("direct-{i}").parse()?,
        mode: MappingMode::Mapped,
        state: MappingState::Active,
        validated: false,
        secret_proven: false,
        snapshot: Default::default(),
        created_at: at,
        updated_at: at,
        created_by: Actor::service("ops").unwrap(),
    })
}

async fn drop_schema(url: &str, schema: &str) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("connect to drop the bench schema")?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await?;
    Ok(())
}
