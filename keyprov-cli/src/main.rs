#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod cli;
mod commands;
mod context;
mod exit;
mod output;
mod rows;
mod secret;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::output::Output;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Output::new(cli.global.output);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            out.error(&exit::Failure::other(format!(
                "cannot start the runtime: {err}"
            )));
            return ExitCode::from(exit::OTHER);
        }
    };
    match runtime.block_on(commands::run(cli, &out)) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            out.error(&failure);
            ExitCode::from(failure.exit)
        }
    }
}
