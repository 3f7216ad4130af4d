//! The four steps of provisioning an out-of-band client on the embedded SQLite store, with the
//! scripted key manager of the `testkit` feature standing in for WSO2 Identity Server.
//!
//! Run: `cargo run --example walkthrough`. Exits non-zero when a step does not behave as
//! described.

use std::sync::Arc;

use anyhow::{Context, Result, bail, ensure};
use keyprov::config::GlobalSettings;
use keyprov::error::ConflictRule;
use keyprov::store::SqliteStore;
use keyprov::testkit::ScriptedKeyManager;
use keyprov::{
    Actor, Api, ApiId, ConsumerSecret, Error, KeyManagerConfig, KeyManagers, KeyType,
    NewApplication, OrganizationId, ProvisionRequest, Provisioner, TokenRequest, UserId,
    Wso2Policy,
};

#[tokio::main]
async fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("keyprov.db");

    println!("Step 1 - configure a third-party key manager");
    let km_on = KeyManagerConfig::new("IS")?.out_of_band(true);
    let km_off = KeyManagerConfig::new("IS")?;
    let global_on = GlobalSettings {
        enable_key_provisioning: true,
        ..GlobalSettings::default()
    };
    let cases = [
        (
            "KM flag on, global off",
            &km_on,
            GlobalSettings::default(),
            true,
        ),
        ("KM flag off, global on", &km_off, global_on, true),
        (
            "KM flag off, global off",
            &km_off,
            GlobalSettings::default(),
            false,
        ),
    ];
    for (label, km, global, expect) in cases {
        let gate = Wso2Policy::new(global).gate_for(km);
        println!("  {label}: {gate}");
        ensure!(
            gate.is_granted() == expect,
            "gate for {label} should be {expect}"
        );
    }

    println!("Step 2 - create an external OAuth2 client at the key manager");
    let is = Arc::new(ScriptedKeyManager::new("IS"));
    is.add_client("pizza-prod-client", "prod-secret");
    is.add_client("pizza-sandbox-client", "sandbox-secret");
    println!("  created clients pizza-prod-client and pizza-sandbox-client, secrets copied");

    println!(
        "Step 3 - provision the out-of-band client ({})",
        db.display()
    );
    let provisioner = Provisioner::builder()
        .store(Arc::new(SqliteStore::open(&db)?))
        .key_managers(KeyManagers::new().with(km_on.clone(), is.clone())?)
        .build()?;
    let alice = UserId::new("alice")?;
    let caller = Actor::User(alice.clone());
    let app = provisioner
        .create_application(NewApplication::new(
            "PizzaApp",
            alice,
            OrganizationId::new("carbon.super")?,
        ))
        .await?;
    println!("  application {} created", app.id);
    let prod = provisioner
        .provision(
            &caller,
            ProvisionRequest::new(
                app.id,
                "IS",
                KeyType::Production,
                keyprov::ConsumerKey::new("pizza-prod-client")?,
            )
            .secret(ConsumerSecret::new("prod-secret")),
        )
        .await?;
    println!(
        "  PRODUCTION keys provisioned: mapping {} ({}, validated={}, secret proven={})",
        prod.mapping.id, prod.validation, prod.mapping.validated, prod.mapping.secret_proven
    );
    match provisioner
        .provision(
            &caller,
            ProvisionRequest::new(
                app.id,
                "IS",
                KeyType::Sandbox,
                keyprov::ConsumerKey::new("pizza-sandbox-client")?,
            )
            .secret(ConsumerSecret::new("wrong")),
        )
        .await
    {
        Err(err @ Error::SecretNotProven { .. }) => {
            println!("  wrong secret refused: {err} (code {})", err.code())
        }
        other => bail!("a wrong secret must be refused, got {other:?}"),
    }
    let other = provisioner
        .create_application(NewApplication::new(
            "OtherApp",
            UserId::new("bob")?,
            OrganizationId::new("carbon.super")?,
        ))
        .await?;
    match provisioner
        .provision(
            &Actor::User(UserId::new("bob")?),
            ProvisionRequest::new(
                other.id,
                "IS",
                KeyType::Production,
                keyprov::ConsumerKey::new("pizza-prod-client")?,
            )
            .secret(ConsumerSecret::new("prod-secret")),
        )
        .await
    {
        Err(err @ Error::MappingExists(ConflictRule::ConsumerKeyAlreadyMapped)) => {
            println!("  same client for another application refused: {err}")
        }
        other => bail!("mapping a client twice must be refused, got {other:?}"),
    }
    let sandbox = provisioner
        .provision(
            &caller,
            ProvisionRequest::new(
                app.id,
                "IS",
                KeyType::Sandbox,
                keyprov::ConsumerKey::new("pizza-sandbox-client")?,
            )
            .secret(ConsumerSecret::new("sandbox-secret")),
        )
        .await?;
    println!("  SANDBOX keys provisioned: mapping {}", sandbox.mapping.id);

    println!("Step 4 - subscribe and obtain a token");
    let api = provisioner
        .put_api(Api::new(
            ApiId::new("pizzashack-1.0.0")?,
            "PizzaShackAPI",
            "1.0.0",
            "/pizzashack/1.0.0",
            OrganizationId::new("carbon.super")?,
        ))
        .await?;
    let subscription = provisioner.subscribe(&caller, app.id, &api.id).await?;
    println!("  subscribed to {} ({})", api.name, subscription.state);
    let token = provisioner
        .token(
            &caller,
            TokenRequest::new(
                app.id,
                "IS",
                KeyType::Production,
                ConsumerSecret::new("prod-secret"),
            ),
        )
        .await
        .context("token for the provisioned application")?;
    println!(
        "  token obtained through keyprov: {} ({} s)",
        token.token_type,
        token.expires_in.unwrap_or(0)
    );

    drop(provisioner);
    let reopened = SqliteStore::open(&db)?;
    let keys = keyprov::store::Store::mappings_of(&reopened, app.id).await?;
    ensure!(
        keys.len() == 2,
        "both mappings survive a restart, found {}",
        keys.len()
    );
    println!("  reopened the store: {} mappings kept", keys.len());
    println!("done");
    Ok(())
}
