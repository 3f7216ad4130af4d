//! One module per group of commands.

mod apps;
mod audit;
mod explain;
mod import;
mod key_managers;
mod keys;
mod recheck;

use chrono::{DateTime, Utc};

use crate::cli::{Cli, Command};
use crate::context::Context;
use crate::exit::{Failure, OK};
use crate::output::Output;

/// Runs a command; its exit code, or the failure.
pub async fn run(cli: Cli, out: &Output) -> Result<u8, Failure> {
    if let Command::KeyManagers(command) = &cli.command {
        return key_managers::run(&cli.global, command, out);
    }
    let cx = Context::open(&cli.global).await?;
    match cli.command {
        Command::KeyManagers(_) => unreachable!("answered above"),
        Command::Apps(command) => apps::run(&cx, command, out).await,
        Command::Map(args) => keys::map(&cx, args, out).await,
        Command::Keys(args) => keys::list(&cx, args, out).await,
        Command::Unmap(args) => keys::unmap(&cx, args, out).await,
        Command::Token(args) => keys::token(&cx, args, out).await,
        Command::Recheck(args) => recheck::run(&cx, args, out).await,
        Command::Explain(args) => explain::run(&cx, args, out).await,
        Command::Import(args) => import::import(&cx, args, out).await,
        Command::Export(args) => import::export(&cx, args, out).await,
        Command::Audit(command) => audit::run(&cx, command, out).await,
    }
    .map(|()| OK)
    .or_else(|failure| match failure {
        // A command that printed its own report and only needs its exit code.
        Failure {
            exit,
            class: "reported",
            ..
        } => Ok(exit),
        other => Err(other),
    })
}

/// An exit code without a message: the command has printed its report.
pub fn reported(exit: u8) -> Failure {
    Failure::new(exit, "reported", "")
}

/// A time: RFC 3339, or an age before now (`90d`, `12h`, `30m`, `45s`).
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, Failure> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let bad = || {
        Failure::input(format!(
            "{text:?} is neither an RFC 3339 time (2026-01-31T00:00:00Z) nor an age (90d, 12h, 30m, 45s)"
        ))
    };
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(bad()),
    };
    number
        .checked_mul(seconds)
        .and_then(chrono::TimeDelta::try_seconds)
        .and_then(|age| now.checked_sub_signed(age))
        .filter(|_| number >= 0)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_ages() {
        let now: DateTime<Utc> = "2026-03-10T12:00:00Z".parse().unwrap();
        let at = |s: &str| parse_time(s, now).unwrap().to_rfc3339();
        assert_eq!(at("2026-01-31T00:00:00Z"), "2026-01-31T00:00:00+00:00");
        assert_eq!(at("2026-01-31T02:00:00+02:00"), "2026-01-31T00:00:00+00:00");
        assert_eq!(at("9d"), "2026-03-01T12:00:00+00:00");
        assert_eq!(at("90m"), "2026-03-10T10:30:00+00:00");
        for bad in ["", "d", "9w", "-1d", "yesterday", "99999999999999d"] {
            assert_eq!(
                parse_time(bad, now).unwrap_err().exit,
                crate::exit::INPUT,
                "{bad}"
            );
        }
    }
}
