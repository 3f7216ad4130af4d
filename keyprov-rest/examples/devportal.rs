//! The Developer Portal endpoints on the embedded SQLite store, with the WSO2 Identity Server
//! emulator as key manager `IS` and keyprov's gateway in front of a demo API.
//!
//! Run: `cargo run -p keyprov-rest --example devportal -- --env /tmp/devportal.env`
//! (options: `--addr 127.0.0.1:8280`, `--db path`). Once it listens, it writes the file given
//! to `--env`: shell `export` lines with the URLs and the demo credentials the README's
//! walkthrough uses. It serves:
//!
//! - `/api/am/devportal/v3/...`: the portal endpoints; its OpenAPI document at
//!   `/api/am/devportal/v3/openapi.json`. Callers present a token of alice's portal client
//!   (`PORTAL_CLIENT_ID`), verified by keyprov's gateway, with the portal scopes.
//! - `/pizzashack/1.0.0/menu`: an API protected by the gateway (production keys).
//!
//! The IS console's out-of-band client for the walkthrough is `CLIENT_ID`/`CLIENT_SECRET`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use keyprov::gateway::Gateway;
use keyprov::store::SqliteStore;
use keyprov::{
    Actor, Api, ApiId, ConsumerKey, ConsumerSecret, KeyManagerConfig, KeyManagers, KeyType,
    NewApplication, OrganizationId, ProvisionRequest, Provisioner, UserId,
};
use keyprov_rest::{BearerAuthenticator, DevPortal, bearer_token};
use km_wso2is::emulator::{IsVersion, Wso2IsEmulator};

const PREFIX: &str = "/api/am/devportal/v3";
const PORTAL_API: &str = "devportal";
const PIZZA_API: &str = "pizzashack-1.0.0";

struct Options {
    addr: SocketAddr,
    db: Option<std::path::PathBuf>,
    env: Option<std::path::PathBuf>,
}

fn options() -> Result<Options> {
    let mut out = Options {
        addr: "127.0.0.1:8280".parse()?,
        db: None,
        env: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--addr" => out.addr = value()?.parse()?,
            "--db" => out.db = Some(value()?.into()),
            "--env" => out.env = Some(value()?.into()),
            other => bail!("unknown option {other} (use --addr, --db, --env)"),
        }
    }
    Ok(out)
}

#[derive(Clone)]
struct Demo {
    gateway: Gateway,
    provisioner: Provisioner,
}

/// The protected API: the gateway decides, after catching up with the portal's last change.
async fn menu(
    State(demo): State<Demo>,
    headers: HeaderMap,
) -> (StatusCode, Json<serde_json::Value>) {
    let (mut parts, ()) = axum::http::Request::new(()).into_parts();
    parts.headers = headers;
    let Some(token) = bearer_token(&parts) else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({"code": 900902, "message": "missing credentials"})),
        );
    };
    if let Ok(revision) = demo.provisioner.revision().await {
        let _ = demo
            .gateway
            .wait_for(revision, Duration::from_secs(2))
            .await;
    }
    let api = ApiId::new(PIZZA_API).expect("a valid id");
    match demo.gateway.resolve(token, &api, KeyType::Production).await {
        Ok(ctx) => (
            StatusCode::OK,
            Json(serde_json::json!({
                "application": ctx.application.to_string(),
                "menu": ["margherita", "quattro formaggi"],
            })),
        ),
        Err(denial) => (
            StatusCode::from_u16(denial.status()).unwrap_or(StatusCode::UNAUTHORIZED),
            Json(serde_json::json!({"code": denial.code(), "message": denial.to_string()})),
        ),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt().with_target(false).init();
    let options = options()?;
    let dir = tempfile::tempdir()?;
    let db = options
        .db
        .clone()
        .unwrap_or_else(|| dir.path().join("devportal.db"));

    let is = Wso2IsEmulator::start(IsVersion::V7).await?;
    let key_managers = KeyManagers::new().with(
        KeyManagerConfig::new("IS")?.out_of_band(true),
        Arc::new(is.key_manager("IS")?),
    )?;
    let provisioner = Provisioner::builder()
        .store(Arc::new(SqliteStore::open(&db)?))
        .key_managers(key_managers.clone())
        .build()?;
    let gateway = Gateway::builder().key_managers(key_managers).build()?;
    let _following = gateway.follow(&provisioner).await?;

    // The APIs: the portal itself, and the demo API.
    let org = OrganizationId::new(keyprov_rest::DEFAULT_ORGANIZATION)?;
    for (id, name, context) in [
        (PORTAL_API, "DevPortal", PREFIX),
        (PIZZA_API, "PizzaShackAPI", "/pizzashack/1.0.0"),
    ] {
        provisioner
            .put_api(Api::new(ApiId::new(id)?, name, "v3", context, org.clone()))
            .await?;
    }

    // Alice's way into the portal: a client created in the IS console, mapped to her
    // "DevPortal" application and subscribed to the portal API.
    let alice = UserId::new("alice")?;
    let caller = Actor::User(alice.clone());
    let portal_client = is.console().create_jwt_client("alice-devportal")?;
    let portal_app = provisioner
        .create_application(NewApplication::new("DevPortal", alice, org.clone()))
        .await?;
    provisioner
        .provision(
            &caller,
            ProvisionRequest::new(
                portal_app.id,
                "IS",
                KeyType::Production,
                ConsumerKey::new(portal_client.client_id.clone())?,
            )
            .secret(ConsumerSecret::new(portal_client.client_secret.clone())),
        )
        .await?;
    let subscribed = provisioner
        .subscribe(&caller, portal_app.id, &ApiId::new(PORTAL_API)?)
        .await?;
    gateway
        .wait_for(subscribed.revision, Duration::from_secs(5))
        .await?;

    // The out-of-band client of the walkthrough, created in the IS console.
    let pizza_client = is.console().create_jwt_client("pizza-app")?;

    let portal = DevPortal::new(
        provisioner.clone(),
        BearerAuthenticator::new(
            gateway.clone(),
            provisioner.clone(),
            ApiId::new(PORTAL_API)?,
        ),
    );
    let app = axum::Router::new()
        .route("/pizzashack/1.0.0/menu", get(menu))
        .with_state(Demo {
            gateway,
            provisioner,
        })
        .nest(PREFIX, portal.router());
    let listener = tokio::net::TcpListener::bind(options.addr).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let env = format!(
        "export PORTAL={base}{PREFIX}\nexport GATEWAY={base}\nexport IS_TOKEN={token}\n\
         export PORTAL_CLIENT_ID={pid}\nexport PORTAL_CLIENT_SECRET={psecret}\n\
         export CLIENT_ID={cid}\nexport CLIENT_SECRET={csecret}\n",
        token = is.url("/oauth2/token"),
        pid = portal_client.client_id,
        psecret = portal_client.client_secret,
        cid = pizza_client.client_id,
        csecret = pizza_client.client_secret,
    );
    match &options.env {
        Some(path) => {
            // Written whole, then renamed: a reader never sees half a file.
            let partial = path.with_extension("partial");
            std::fs::write(&partial, &env)?;
            std::fs::rename(&partial, path)?;
            println!(
                "devportal on {base}{PREFIX}; demo settings in {}",
                path.display()
            );
        }
        None => print!("{env}"),
    }
    axum::serve(listener, app).await?;
    Ok(())
}
