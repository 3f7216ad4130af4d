//! Provisioning out-of-band clients with Keycloak as the key manager: an emulated Keycloak
//! realm in-process, the embedded SQLite store, the provisioning service and the gateway
//! resolver.
//!
//! Run: `cargo run --example quickstart_keycloak`. Exits non-zero when a step does not behave
//! as described. For a real Keycloak, see `examples/real_keycloak.rs`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use keyprov::error::UnusableReason;
use keyprov::gateway::Gateway;
use keyprov::store::SqliteStore;
use keyprov::{
    Actor, Api, ApiId, ConsumerKey, ConsumerSecret, Error, KeyManager, KeyManagerConfig,
    KeyManagerId, KeyManagers, KeyType, NewApplication, OrganizationId, ProvisionRequest,
    Provisioner, TokenRequest, UserId,
};
use km_keycloak::KeycloakKeyManager;
use km_keycloak::emulator::{KeycloakClient, KeycloakEmulator};

#[tokio::main]
async fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;

    println!("Step 1 - Configure Keycloak as a third-party key manager");
    let kc = KeycloakEmulator::start("apis").await?;
    let admin = kc.admin_service_account("keyprov-admin");
    let adapter_config = kc.adapter_config(KeyManagerId::new("keycloak")?, &admin);
    let issuer = adapter_config.issuer();
    let adapter: Arc<dyn KeyManager> = Arc::new(KeycloakKeyManager::new(adapter_config)?);
    let km = KeyManagerConfig::new("keycloak")?
        .out_of_band(true)
        .issuer(issuer.clone());
    println!(
        "  realm `apis` at {} (issuer {issuer}); admin service account with view-clients",
        kc.base_url()
    );

    println!("Step 2 - Create OAuth2 clients in the Keycloak realm");
    let prod_client = kc.confidential_client("pizza-prod");
    let sandbox_client = kc.confidential_client("pizza-sandbox");
    let spa = kc.create_client(KeycloakClient::public("pizza-spa"));
    println!(
        "  confidential clients pizza-prod and pizza-sandbox (service accounts on), public client pizza-spa"
    );

    println!("Step 3 - Provision the out-of-band OAuth2 clients");
    let key_managers = KeyManagers::new().with(km, adapter)?;
    let store = Arc::new(SqliteStore::open(dir.path().join("keyprov.db"))?);
    let provisioner = Provisioner::builder()
        .store(store)
        .key_managers(key_managers.clone())
        .build()?;
    let gateway = Gateway::builder().key_managers(key_managers).build()?;
    let _following = gateway.follow(&provisioner).await?;
    let org = OrganizationId::new("carbon.super")?;
    let alice = UserId::new("alice")?;
    let caller = Actor::User(alice.clone());
    let app = provisioner
        .create_application(NewApplication::new("PizzaApp", alice, org.clone()))
        .await?;
    let request = |key_type, client: &str, secret: &str| -> Result<ProvisionRequest> {
        Ok(
            ProvisionRequest::new(app.id, "keycloak", key_type, ConsumerKey::new(client)?)
                .secret(ConsumerSecret::new(secret)),
        )
    };
    match provisioner
        .provision(
            &caller,
            request(KeyType::Production, &spa.client_id, "anything")?,
        )
        .await
    {
        Err(
            err @ Error::ClientNotUsable {
                reason: UnusableReason::Public,
                ..
            },
        ) => {
            println!("  the public client is refused ({}): {err}", err.code())
        }
        other => bail!("a public client must be refused, got {other:?}"),
    }
    let prod = provisioner
        .provision(
            &caller,
            request(
                KeyType::Production,
                &prod_client.client_id,
                &prod_client.secret,
            )?,
        )
        .await
        .context("PRODUCTION keys")?;
    ensure!(prod.mapping.validated && prod.mapping.secret_proven);
    println!(
        "  PRODUCTION keys provisioned: mapping {} ({})",
        prod.mapping.id, prod.validation
    );
    match provisioner
        .provision(
            &caller,
            request(KeyType::Sandbox, &sandbox_client.client_id, "wrong")?,
        )
        .await
    {
        Err(err @ Error::SecretNotProven { .. }) => {
            println!("  the wrong secret is refused ({}): {err}", err.code())
        }
        other => bail!("a wrong secret must be refused, got {other:?}"),
    }
    let sandbox = provisioner
        .provision(
            &caller,
            request(
                KeyType::Sandbox,
                &sandbox_client.client_id,
                &sandbox_client.secret,
            )?,
        )
        .await
        .context("SANDBOX keys")?;
    println!("  SANDBOX keys provisioned: mapping {}", sandbox.mapping.id);

    println!("Step 4 - Invoke an API");
    let api = provisioner
        .put_api(Api::new(
            ApiId::new("pizzashack-1.0.0")?,
            "PizzaShackAPI",
            "1.0.0",
            "/pizzashack/1.0.0",
            org,
        ))
        .await?;
    let subscribed = provisioner.subscribe(&caller, app.id, &api.id).await?;
    let token = provisioner
        .token(
            &caller,
            TokenRequest::new(
                app.id,
                "keycloak",
                KeyType::Sandbox,
                ConsumerSecret::new(sandbox_client.secret.as_str()),
            ),
        )
        .await?;
    println!("  SANDBOX token obtained through keyprov");
    // Read your own writes: the gateway has applied everything up to the subscription.
    gateway
        .wait_for(subscribed.revision, Duration::from_secs(2))
        .await?;
    for (endpoint, key_type, accept) in [
        ("sandbox", KeyType::Sandbox, true),
        ("production", KeyType::Production, false),
    ] {
        let explained = gateway.explain(token.secret(), &api.id, key_type).await;
        println!("  gateway, {endpoint} endpoint:");
        for line in explained.to_string().lines() {
            println!("    {line}");
        }
        ensure!(
            explained.outcome.is_ok() == accept,
            "{endpoint} endpoint decision"
        );
    }
    println!("done: the walkthrough behaved as described");
    Ok(())
}
