//! Secrets come from standard input, an environment variable or a prompt without echo; never
//! from the command line.

use std::io::{BufRead, IsTerminal};

use keyprov::ConsumerSecret;

use crate::cli::SecretSource;
use crate::exit::Failure;

/// The first line of standard input, without its line ending.
fn stdin_line(what: &str) -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::input(format!("cannot read the {what} from standard input: {e}")))?;
    let line = line.trim_end_matches(['\n', '\r']).to_owned();
    if line.is_empty() {
        return Err(Failure::input(format!("standard input holds no {what}")));
    }
    Ok(line)
}

/// The value of environment variable `var`.
pub fn env_value(var: &str, what: &str) -> Result<String, Failure> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Ok(value),
        Ok(_) => Err(Failure::input(format!(
            "environment variable {var} (the {what}) is empty"
        ))),
        Err(_) => Err(Failure::input(format!(
            "environment variable {var} (the {what}) is not set"
        ))),
    }
}

/// The consumer secret from where `source` says; with neither flag, a prompt without echo
/// when standard input is a terminal.
pub fn consumer_secret(source: &SecretSource) -> Result<ConsumerSecret, Failure> {
    let text = if source.secret_stdin {
        stdin_line("consumer secret")?
    } else if let Some(var) = &source.secret_env {
        env_value(var, "consumer secret")?
    } else if std::io::stdin().is_terminal() {
        let text = rpassword::prompt_password("consumer secret: ")
            .map_err(|e| Failure::input(format!("cannot read the consumer secret: {e}")))?;
        if text.is_empty() {
            return Err(Failure::input("no consumer secret was typed"));
        }
        text
    } else {
        return Err(Failure::input(
            "no consumer secret: give --secret-stdin or --secret-env VAR (or run on a terminal to be asked)",
        ));
    };
    Ok(ConsumerSecret::new(text))
}

/// A bearer token from environment variable `var`, else from standard input (asked for
/// without echo on a terminal).
pub fn token(var: Option<&str>) -> Result<String, Failure> {
    match var {
        Some(var) => env_value(var, "token"),
        None if std::io::stdin().is_terminal() => rpassword::prompt_password("token: ")
            .map_err(|e| Failure::input(format!("cannot read the token: {e}"))),
        None => stdin_line("token"),
    }
}
