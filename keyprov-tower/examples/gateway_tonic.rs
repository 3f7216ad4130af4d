//! A gRPC server protected by keyprov: tonic's standard health service behind the keyprov
//! layer, on the embedded SQLite store and an emulated WSO2 IS, called by a tonic client with
//! and without a token.
//!
//! Run: `cargo run -p keyprov-tower --example gateway_tonic`. It prints each call's answer and
//! exits non-zero when one is not as expected.

mod common;

use anyhow::{Result, ensure};
use keyprov::KeyType;
use keyprov_tower::{KeyprovLayer, Route};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Channel, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

async fn check(channel: &Channel, token: Option<&str>) -> Result<tonic::Code> {
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
    }
    Ok(
        match HealthClient::new(channel.clone()).check(request).await {
            Ok(answer) => {
                println!("  OK: {:?}", answer.into_inner().status());
                tonic::Code::Ok
            }
            Err(status) => {
                println!("  {:?}: {}", status.code(), status.message());
                status.code()
            }
        },
    )
}

#[tokio::main]
async fn main() -> Result<()> {
    let world = common::World::start().await?;
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let layer = KeyprovLayer::new(
        world.gateway.clone(),
        Route::new(world.api.clone(), KeyType::Production).require_scopes(["health:read"]),
    );
    tokio::spawn(
        Server::builder()
            .layer(layer)
            .add_service(health)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    println!("gRPC health service on {addr}, protected by keyprov (scope health:read)");
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;

    println!("without a token:");
    ensure!(check(&channel, None).await? == tonic::Code::Unauthenticated);
    println!("with a token without the scope health:read:");
    let token = world.token(&[]).await?;
    ensure!(check(&channel, Some(&token)).await? == tonic::Code::PermissionDenied);
    println!("with a token with health:read:");
    let token = world.token(&["health:read"]).await?;
    ensure!(check(&channel, Some(&token)).await? == tonic::Code::Ok);
    println!("done: the gRPC server behaved as described");
    Ok(())
}
