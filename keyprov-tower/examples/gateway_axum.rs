//! A small API protected by keyprov: axum, the keyprov layer, the embedded SQLite store and an
//! emulated WSO2 IS, with the layer's metrics exposed to Prometheus at `/metrics`.
//!
//! Run: `cargo run -p keyprov-tower --example gateway_axum`, then use the curl commands it
//! prints (the crate README shows them with their answers). `-- --check` sends the same
//! requests itself, prints the answers and exits (non-zero when one is not as expected).

mod common;

use anyhow::{Result, ensure};
use axum::Router;
use axum::routing::{get, post};
use keyprov::KeyType;
use keyprov_tower::{Caller, KeyprovLayer, Route};
use metrics_exporter_prometheus::PrometheusBuilder;
use serde_json::{Value, json};

async fn menu(caller: Caller) -> axum::Json<Value> {
    axum::Json(json!({
        "application": caller.application.to_string(),
        "client_id": caller.consumer_key.as_str(),
        "key_type": caller.key_type.to_string(),
        "subscription": caller.subscription.to_string(),
        "scopes": caller.scopes.as_str(),
    }))
}

async fn order(caller: Caller) -> String {
    format!("order accepted for application {}\n", caller.application)
}

#[tokio::main]
async fn main() -> Result<()> {
    let check = std::env::args().any(|a| a == "--check");
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    keyprov_tower::metrics::describe();

    let world = common::World::start().await?;
    let production = Route::new(world.api.clone(), KeyType::Production);
    let app = Router::new()
        .route(
            "/pizzashack/1.0.0/menu",
            get(menu).layer(KeyprovLayer::new(world.gateway.clone(), production.clone())),
        )
        .route(
            "/pizzashack/1.0.0/order",
            post(order).layer(KeyprovLayer::new(
                world.gateway.clone(),
                production.require_scopes(["orders:write"]),
            )),
        )
        .route("/metrics", get(move || async move { prometheus.render() }));

    let port = if check { 0 } else { 8080 };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    println!(
        "PizzaShack API on {base}, protected by keyprov; WSO2 IS emulator at {}",
        world.is.base_url()
    );
    println!(
        "  get a token:  TOKEN=$({} | jq -r .access_token)",
        world.token_command("orders:read")
    );
    println!(
        "  call the API: curl -i -H \"Authorization: Bearer $TOKEN\" {base}/pizzashack/1.0.0/menu"
    );
    println!(
        "  without the scope orders:write: curl -i -X POST -H \"Authorization: Bearer $TOKEN\" {base}/pizzashack/1.0.0/order"
    );
    println!("  metrics:      curl -s {base}/metrics");
    if !check {
        println!("Ctrl-C stops.");
        tokio::signal::ctrl_c().await?;
        return Ok(());
    }

    let http = reqwest::Client::new();
    let show = |what: &str, r: &reqwest::Response| {
        let challenge = r
            .headers()
            .get("www-authenticate")
            .map(|v| format!(" | WWW-Authenticate: {}", v.to_str().unwrap_or("?")))
            .unwrap_or_default();
        println!("{what}: {}{challenge}", r.status());
    };
    let url = format!("{base}/pizzashack/1.0.0/menu");

    let r = http.get(&url).send().await?;
    show("no token", &r);
    ensure!(r.status() == 401);
    println!("  {}", r.text().await?);

    let token = world.token(&["orders:read"]).await?;
    let r = http.get(&url).bearer_auth(&token).send().await?;
    show("a provisioned client's token", &r);
    ensure!(r.status() == 200);
    println!("  {}", r.text().await?);

    let r = http
        .post(format!("{base}/pizzashack/1.0.0/order"))
        .bearer_auth(&token)
        .send()
        .await?;
    show("order without orders:write", &r);
    ensure!(r.status() == 403);
    println!("  {}", r.text().await?);

    let writer = world.token(&["orders:read", "orders:write"]).await?;
    let r = http
        .post(format!("{base}/pizzashack/1.0.0/order"))
        .bearer_auth(&writer)
        .send()
        .await?;
    show("order with orders:write", &r);
    ensure!(r.status() == 200);
    print!("  {}", r.text().await?);

    let blocked = world
        .provisioner
        .set_subscription_state(world.app, &world.api, keyprov::SubscriptionState::Blocked)
        .await?;
    world
        .gateway
        .wait_for(blocked.revision, std::time::Duration::from_secs(5))
        .await?;
    let r = http.get(&url).bearer_auth(&token).send().await?;
    show("after the subscription is blocked", &r);
    ensure!(r.status() == 403);
    println!("  {}", r.text().await?);

    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    println!("metrics:");
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("keyprov_gateway_decisions_total"))
    {
        println!("  {line}");
    }
    ensure!(metrics.contains("keyprov_gateway_resolution_seconds"));
    server.abort();
    println!("done: the server behaved as described");
    Ok(())
}
