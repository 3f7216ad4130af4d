//! The accept loop: hyper HTTP/1.1 on a loopback listener, with fault injection in front of
//! the router. A hand-written loop (rather than `axum::serve`) because a dropped connection
//! needs the service to fail, which closes the connection without an answer.

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::faults::{Fault, Faults};

#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault injection")]
struct Dropped;

pub(crate) async fn serve(listener: TcpListener, router: Router, faults: Faults) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let router = router.clone();
        let faults = faults.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                handle(router.clone(), faults.clone(), req)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    router: Router,
    faults: Faults,
    req: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    let _in_flight = faults.enter(req.uri().path());
    let plan = faults.plan(req.uri().path());
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    match plan.fault {
        Some(Fault::Drop) => Err(Dropped),
        Some(Fault::Status(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut response = canned(
                status,
                "application/json",
                r#"{"error":"temporarily_unavailable","error_description":"injected fault"}"#,
            );
            if status == StatusCode::TOO_MANY_REQUESTS {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Ok(response)
        }
        Some(Fault::MalformedJson) => Ok(canned(
            StatusCode::OK,
            "application/json",
            r#"{"access_token": "abc", "keys": [ {"kty": "#,
        )),
        Some(Fault::HtmlPage(status)) => Ok(canned(
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            "text/html; charset=utf-8",
            "<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please sign in</body></html>",
        )),
        Some(Fault::Latency(_)) | None => {
            let response: Result<_, Infallible> = router.oneshot(req.map(Body::new)).await;
            Ok(response.unwrap_or_else(|never| match never {}))
        }
    }
}

fn canned(status: StatusCode, content_type: &'static str, body: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
