//! The keyprov tower layer against jwt-authorizer and against no authentication: three
//! hello-world servers on loopback (axum 0.7, the version jwt-authorizer 0.15 is built on),
//! driven by one in-process HTTP/1.1 load generator with keep-alive connections, the servers
//! alternating round by round.
//!
//! - repeated token: every request carries the same token;
//! - first sight: every request carries a token the server has never seen (pre-signed
//!   distinct tokens; jwt-authorizer keeps no token cache, so for it every token is a first
//!   sight anyway);
//! - the keyprov layer over a gateway with 1,000 and with 1,000,000 mappings (100,000 with
//!   `BENCH_QUICK=1`).
//!
//! Run: `cargo run --release -p keyprov-benches --example bench_tower` (`BENCH_QUICK=1` for a
//! short smoke run). It prints `name: value` lines, then the ratios of the medians over the
//! rounds (requests per second), with the median and the range of the per-round ratios.

#[path = "../bench_gateway/fixture.rs"]
mod fixture;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum07::Router;
use axum07::routing::get;
use bytes::Bytes;
use fixture::{Fixture, ISSUER};
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use jwt_authorizer::{IntoLayer, JwtAuthorizer, JwtClaims, Validation};
use keyprov::KeyType;
use keyprov::gateway::GatewaySettings;
use keyprov_tower::{Caller, KeyprovLayer, Route};

const CONNECTIONS: usize = 16;

#[derive(Clone, serde::Deserialize)]
struct Claims {
    #[allow(dead_code)]
    client_id: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    NoAuth,
    JwtAuthorizer,
    Keyprov,
    Keyprov1m,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::NoAuth => "noauth",
            Server::JwtAuthorizer => "jwt_authorizer",
            Server::Keyprov => "keyprov",
            Server::Keyprov1m => "keyprov_1m",
        }
    }
}

struct Stats {
    rps: f64,
    p50_us: u32,
    p99_us: u32,
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum07::serve(listener, router).await.unwrap() });
    addr
}

/// Sends requests on `CONNECTIONS` keep-alive connections, each waiting for its answer before
/// the next (closed loop), until `count` requests were sent or `until` has passed.
async fn drive(
    addr: SocketAddr,
    tokens: Arc<Vec<HeaderValue>>,
    count: Option<usize>,
    time: Duration,
) -> Stats {
    let next = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for _ in 0..CONNECTIONS {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        senders.push(sender);
    }
    let started = Instant::now();
    let until = started + time;
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|mut sender| {
            let (tokens, next) = (tokens.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(1 << 14);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let token = match count {
                        Some(n) if i >= n => break,
                        Some(_) => &tokens[i],
                        None if Instant::now() >= until => break,
                        None => &tokens[i % tokens.len()],
                    };
                    let request = Request::get("/hello")
                        .header(AUTHORIZATION, token.clone())
                        .body(Empty::<Bytes>::new())
                        .unwrap();
                    let sent = Instant::now();
                    let response = sender.send_request(request).await.unwrap();
                    let status = response.status();
                    response.into_body().collect().await.unwrap();
                    latencies.push(sent.elapsed().as_micros() as u32);
                    assert_eq!(status, 200, "the benchmark's tokens are all valid");
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let took = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Stats {
        rps: all.len() as f64 / took,
        p50_us: at(0.50),
        p99_us: at(0.99),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
}

/// The layer's own cost on a repeated token, without HTTP: nanoseconds per request through
/// the keyprov service over an inner service that answers at once, and through that inner
/// service alone.
fn layer_cost(f: &Fixture, token: &HeaderValue, n: u32) -> (f64, f64) {
    use tower::{Layer as _, Service as _, ServiceExt as _};
    let inner = tower::service_fn(|_: Request<Empty<Bytes>>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(Empty::<Bytes>::new()))
    });
    let layer = KeyprovLayer::new(
        f.gateway.clone(),
        Route::new(f.api.clone(), KeyType::Production),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let request = || {
            Request::get("/hello")
                .header(AUTHORIZATION, token.clone())
                .body(Empty::<Bytes>::new())
                .unwrap()
        };
        let mut with = layer.layer(inner);
        let mut without = inner;
        let mut best = (f64::INFINITY, f64::INFINITY);
        for _ in 0..5 {
            let started = Instant::now();
            for _ in 0..n {
                let response = with.ready().await.unwrap().call(request()).await.unwrap();
                assert_eq!(response.status(), 200);
            }
            best.0 = best
                .0
                .min(started.elapsed().as_nanos() as f64 / f64::from(n));
            let started = Instant::now();
            for _ in 0..n {
                let response = without
                    .ready()
                    .await
                    .unwrap()
                    .call(request())
                    .await
                    .unwrap();
                std::hint::black_box(response);
            }
            best.1 = best
                .1
                .min(started.elapsed().as_nanos() as f64 / f64::from(n));
        }
        best
    })
}

/// The resolver alone on the same token, nanoseconds per resolution.
fn resolve_cost(f: &Fixture, token: &str, n: u32) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let started = Instant::now();
        for _ in 0..n {
            let ok = f.gateway.resolve_now(token, &f.api, KeyType::Production);
            assert!(matches!(ok, Some(Ok(_))));
        }
        best = best.min(started.elapsed().as_nanos() as f64 / f64::from(n));
    }
    best
}

fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    // Many short rounds: a burst of another process on the machine then spoils one round of
    // one server, which the medians leave out, rather than a long phase.
    let rounds = if quick { 2 } else { 15 };
    let phase = Duration::from_millis(if quick { 200 } else { 500 });
    let first_sight_per_phase = if quick { 300 } else { 2000 };
    let big = if quick { 100_000 } else { 1_000_000 };

    let mut small = Fixture::new(GatewaySettings::default());
    small.add_mappings(0, 1000);
    small.add_subscriptions(0, 1000);
    let repeat = small.token(0, 0);
    small.warm_up(&repeat);

    let (with, without) = layer_cost(
        &small,
        &bearer(&repeat),
        if quick { 10_000 } else { 200_000 },
    );
    let resolve = resolve_cost(&small, &repeat, if quick { 10_000 } else { 200_000 });
    println!(
        "layer_repeat_ns: {with:.0} (inner service alone {without:.0}, the layer adds {:.0}, of which the resolver {resolve:.0})",
        with - without
    );

    let started = Instant::now();
    let fresh: Vec<Vec<HeaderValue>> = (0..rounds)
        .map(|round| {
            (0..first_sight_per_phase)
                .map(|i| {
                    let serial = 1 + round * first_sight_per_phase + i;
                    bearer(&small.token(serial % 1000, serial))
                })
                .collect()
        })
        .collect();
    println!(
        "signed_first_sight_tokens: {} in {:.1} s",
        rounds * first_sight_per_phase,
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let mut large = Fixture::new(GatewaySettings::default());
    large.add_mappings(0, big);
    large.add_subscriptions(0, big);
    let repeat_large = large.token(0, 0);
    large.warm_up(&repeat_large);
    println!(
        "loaded_mappings: {big} in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // One worker thread serves, another drives: the two cores of the reference machine.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();

    let jwks = serde_json::json!({ "keys": [small.jwk] });
    let addrs = server_rt.block_on(async {
        let jwks_addr = serve(Router::new().route(
            "/jwks",
            get(move || {
                let jwks = jwks.clone();
                async move { axum07::Json(jwks) }
            }),
        ))
        .await;
        let authorizer =
            JwtAuthorizer::<Claims>::from_jwks_url(&format!("http://{jwks_addr}/jwks"))
                .validation(Validation::new().iss(&[ISSUER]).aud(&["account"]))
                .build()
                .await
                .unwrap();
        let noauth = serve(Router::new().route("/hello", get(|| async { "hello" }))).await;
        let jwt = serve(
            Router::new()
                .route(
                    "/hello",
                    get(|_claims: JwtClaims<Claims>| async { "hello" }),
                )
                .layer(authorizer.into_layer()),
        )
        .await;
        let keyprov_router = |f: &Fixture| {
            Router::new()
                .route(
                    "/hello",
                    get(|_caller: axum07::Extension<Caller>| async { "hello" }),
                )
                .layer(KeyprovLayer::new(
                    f.gateway.clone(),
                    Route::new(f.api.clone(), KeyType::Production),
                ))
        };
        let keyprov = serve(keyprov_router(&small)).await;
        let keyprov_1m = serve(keyprov_router(&large)).await;
        [
            (Server::NoAuth, noauth),
            (Server::JwtAuthorizer, jwt),
            (Server::Keyprov, keyprov),
            (Server::Keyprov1m, keyprov_1m),
        ]
    });
    let addr = |s: Server| addrs.iter().find(|(k, _)| *k == s).unwrap().1;

    let repeat_tokens = Arc::new(vec![bearer(&repeat)]);
    let repeat_large_tokens = Arc::new(vec![bearer(&repeat_large)]);
    let mut repeat_rps: Vec<(Server, Vec<f64>)> = [
        Server::NoAuth,
        Server::JwtAuthorizer,
        Server::Keyprov,
        Server::Keyprov1m,
    ]
    .map(|s| (s, Vec::new()))
    .into();
    let mut first_rps: Vec<(Server, Vec<f64>)> =
        [Server::NoAuth, Server::JwtAuthorizer, Server::Keyprov]
            .map(|s| (s, Vec::new()))
            .into();
    let mut ratios: Vec<(&str, Vec<f64>)> = vec![
        ("tower_repeat_vs_noauth", Vec::new()),
        ("tower_repeat_vs_jwt_authorizer", Vec::new()),
        ("tower_first_sight_vs_jwt_authorizer", Vec::new()),
        ("tower_repeat_1m_vs_1k", Vec::new()),
    ];

    // A warm-up pass of every server, not recorded.
    for (server, _) in &repeat_rps {
        let tokens = match server {
            Server::Keyprov1m => repeat_large_tokens.clone(),
            _ => repeat_tokens.clone(),
        };
        client_rt.block_on(drive(addr(*server), tokens, None, phase / 2));
    }

    // One round of one mode: every server once, starting with a different one each round.
    let run = |mode: &str,
               round: usize,
               servers: &mut Vec<(Server, Vec<f64>)>,
               tokens: &dyn Fn(Server) -> (Arc<Vec<HeaderValue>>, Option<usize>)| {
        let mut this = Vec::new();
        let n = servers.len();
        for k in 0..n {
            let (server, rps) = &mut servers[(k + round) % n];
            let (tokens, count) = tokens(*server);
            let s = client_rt.block_on(drive(addr(*server), tokens, count, phase));
            println!(
                "round {round} {mode} {}: {:.0} req/s, p50 {} us, p99 {} us",
                server.name(),
                s.rps,
                s.p50_us,
                s.p99_us
            );
            rps.push(s.rps);
            this.push((*server, s.rps));
        }
        this
    };
    for round in 0..rounds {
        let this = run("repeat", round, &mut repeat_rps, &|server| match server {
            Server::Keyprov1m => (repeat_large_tokens.clone(), None),
            _ => (repeat_tokens.clone(), None),
        });
        let fresh = Arc::new(fresh[round].clone());
        let first = run("first_sight", round, &mut first_rps, &|_| {
            (fresh.clone(), Some(fresh.len()))
        });
        let get = |v: &[(Server, f64)], s: Server| v.iter().find(|(k, _)| *k == s).unwrap().1;
        ratios[0]
            .1
            .push(get(&this, Server::Keyprov) / get(&this, Server::NoAuth));
        ratios[1]
            .1
            .push(get(&this, Server::Keyprov) / get(&this, Server::JwtAuthorizer));
        ratios[2]
            .1
            .push(get(&first, Server::Keyprov) / get(&first, Server::JwtAuthorizer));
        ratios[3]
            .1
            .push(get(&this, Server::Keyprov1m) / get(&this, Server::Keyprov));
    }

    for (server, rps) in &repeat_rps {
        println!(
            "repeat_{}_rps_median: {:.0}",
            server.name(),
            median(rps.clone())
        );
    }
    for (server, rps) in &first_rps {
        println!(
            "first_sight_{}_rps_median: {:.0}",
            server.name(),
            median(rps.clone())
        );
    }
    let med = |v: &[(Server, Vec<f64>)], s: Server| {
        median(v.iter().find(|(k, _)| *k == s).unwrap().1.clone())
    };
    let of_medians = [
        med(&repeat_rps, Server::Keyprov) / med(&repeat_rps, Server::NoAuth),
        med(&repeat_rps, Server::Keyprov) / med(&repeat_rps, Server::JwtAuthorizer),
        med(&first_rps, Server::Keyprov) / med(&first_rps, Server::JwtAuthorizer),
        med(&repeat_rps, Server::Keyprov1m) / med(&repeat_rps, Server::Keyprov),
    ];
    for ((name, per_round), ratio) in ratios.iter().zip(of_medians) {
        let lo = per_round.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = per_round.iter().copied().fold(0.0, f64::max);
        let paired = median(per_round.clone());
        println!(
            "{name}: {ratio:.2} (median of the per-round ratios {paired:.2}, range {lo:.2}-{hi:.2})"
        );
    }
    drop(client_rt);
    drop(server_rt);
}
