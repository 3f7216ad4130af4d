//! An emulated WSO2 Identity Server to try the `keyprov` command against, with a few clients
//! already created in its console, as an identity team would have them before onboarding.
//!
//! `cargo run -p keyprov-cli --example emulator -- DIR` starts it on loopback and writes into
//! `DIR`:
//! - `keyprov.toml`: a configuration with the key manager `IS` pointing at it;
//! - `clients.csv`: the clients to onboard, in the import format (no secrets: each row names
//!   the environment variable holding its secret);
//! - `secrets.env`: `export` lines setting those variables (a stand-in for the vault an
//!   operator reads them from);
//! - `ready`, last, once it serves.
//!
//! It serves until it is stopped (Ctrl-C or a signal).

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use km_wso2is::emulator::{IsTokenType, IsVersion, Protocol, Wso2IsEmulator};

/// (owner, application, key type, client name) of each client to onboard.
const CLIENTS: [(&str, &str, &str, &str); 4] = [
    ("alice", "PizzaApp", "PRODUCTION", "pizza-prod"),
    ("alice", "PizzaApp", "SANDBOX", "pizza-sandbox"),
    ("bob", "Payments", "PRODUCTION", "payments-prod"),
    ("carol", "Reports", "PRODUCTION", "reports-prod"),
];

#[tokio::main]
async fn main() -> Result<()> {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .context("usage: emulator DIR")?
        .into();
    std::fs::create_dir_all(&dir)?;
    let _ = std::fs::remove_file(dir.join("ready"));
    let is = Wso2IsEmulator::start(IsVersion::V7).await?;
    let (admin, password) = is.admin_credentials();
    let config = format!(
        r#"[[key_managers]]
name = "IS"
type = "wso2is"
enable_map_oauth_consumer_apps = true
[key_managers.connection]
base_url = "{}"
admin = {{ kind = "basic", username = "{admin}", password = "{password}" }}
"#,
        is.base_url()
    );
    std::fs::write(dir.join("keyprov.toml"), config)?;

    let mut csv = String::from("owner,application,key_type,key_manager,consumer_key,secret_env\n");
    let mut env = String::new();
    let protocol = Protocol::new()
        .grant_types(["client_credentials"])
        .token_type(IsTokenType::Jwt);
    for (i, (owner, application, key_type, name)) in CLIENTS.iter().enumerate() {
        let client = is.console().create_traditional_application(name)?;
        is.console()
            .update_protocol(&client.client_id, protocol.clone())?;
        let var = format!("CLIENT_SECRET_{}", i + 1);
        writeln!(
            csv,
            "{owner},{application},{key_type},IS,{},{var}",
            client.client_id
        )?;
        writeln!(env, "export {var}='{}'", client.client_secret.as_str())?;
    }
    std::fs::write(dir.join("clients.csv"), csv)?;
    std::fs::write(dir.join("secrets.env"), env)?;
    std::fs::write(dir.join("ready"), is.base_url())?;
    println!(
        "WSO2 IS emulator at {}; files in {}",
        is.base_url(),
        dir.display()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
