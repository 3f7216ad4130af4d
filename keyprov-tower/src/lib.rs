#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod bearer;
mod body;
mod caller;
mod layer;
pub mod metrics;
mod refusal;
mod route;

pub use body::ResponseBody;
pub use caller::Caller;
#[cfg(feature = "axum")]
pub use caller::MissingCaller;
pub use layer::{KeyprovLayer, KeyprovService, ResponseFuture};
pub use refusal::FaultBody;
pub use route::{Route, Unmatched};
