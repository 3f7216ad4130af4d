//! tonic on loopback: the standard gRPC health service behind the layer, tonic's client.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use keyprov::KeyType;
use keyprov_tower::{Caller, KeyprovLayer, Route};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::Code;
use tonic::transport::{Channel, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use super::support::*;

/// Answers with the caller's application in the `x-application` header: what a gRPC service
/// behind the layer sees.
#[derive(Clone)]
struct Echo<S>(S);

impl<S, B, R> tower::Service<::http::Request<B>> for Echo<S>
where
    S: tower::Service<::http::Request<B>, Response = ::http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: ::http::Request<B>) -> Self::Future {
        let application = request
            .extensions()
            .get::<Caller>()
            .map(|c| c.application.to_string());
        let future = self.0.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            if let Some(app) = application {
                response
                    .headers_mut()
                    .insert("x-application", app.parse().unwrap());
            }
            Ok(response)
        })
    }
}

async fn serve_grpc(w: &World, route: Route) -> Channel {
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layer = KeyprovLayer::new(w.gateway.clone(), route);
    tokio::spawn(
        Server::builder()
            .layer(layer)
            .layer(tower::layer::layer_fn(Echo))
            .add_service(health)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn check(
    channel: &Channel,
    token: Option<&str>,
) -> Result<tonic::Response<()>, tonic::Status> {
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    HealthClient::new(channel.clone())
        .check(request)
        .await
        .map(|r| {
            let (metadata, _, extensions) = r.into_parts();
            tonic::Response::from_parts(metadata, (), extensions)
        })
}

#[tokio::test]
async fn grpc_calls_are_authorized_and_refused_with_grpc_codes() {
    let w = World::new().await;
    let channel = serve_grpc(&w, Route::new(w.api.clone(), KeyType::Production)).await;
    let prod = w.token(KeyType::Production, &[]).await;
    let sandbox = w.token(KeyType::Sandbox, &[]).await;

    let ok = check(&channel, Some(&prod)).await.unwrap();
    assert_eq!(
        ok.metadata()
            .get("x-application")
            .unwrap()
            .to_str()
            .unwrap(),
        w.app.to_string(),
        "the service sees the caller"
    );

    let status = check(&channel, None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("900902"), "{}", status.message());
    assert_eq!(status.metadata().get("www-authenticate").unwrap(), "Bearer");

    let status = check(&channel, Some(&tampered(&prod))).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("900901"), "{}", status.message());
    let challenge = status
        .metadata()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{challenge}"
    );
    assert!(!status.message().contains(prod.rsplit('.').next().unwrap()));

    let status = check(&channel, Some(&sandbox)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("900908"), "{}", status.message());

    let scoped = serve_grpc(
        &w,
        Route::new(w.api.clone(), KeyType::Production).require_scopes(["admin"]),
    )
    .await;
    let status = check(&scoped, Some(&prod)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("900910"), "{}", status.message());
}
