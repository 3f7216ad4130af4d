//! Provisioning out-of-band OAuth2 clients, end to end: an emulated WSO2 Identity Server
//! in-process, the embedded SQLite store, the provisioning service and the gateway resolver,
//! in the four steps a developer follows (configure the key manager, create the client in the
//! key manager's console, provision it into an application, call an API with its token).
//!
//! Run: `cargo run --example quickstart`. It prints each step and exits non-zero when a step
//! does not behave as described.

use std::sync::Arc;

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use keyprov::config::GlobalSettings;
use keyprov::error::ConflictRule;
use keyprov::gateway::Gateway;
use keyprov::store::SqliteStore;
use keyprov::{
    Actor, Api, ApiId, ConsumerKey, ConsumerSecret, Error, KeyManager, KeyManagerConfig,
    KeyManagers, KeyType, NewApplication, OrganizationId, Outcome, ProvisionRequest, Provisioner,
    TokenRequest, UserId, Wso2Policy,
};
use km_wso2is::emulator::{IsTokenType, IsVersion, Protocol, Wso2IsEmulator};

#[tokio::main]
async fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("keyprov.db");

    // ---------------------------------------------------------------------------------------
    println!("Step 1 - Configure a third-party key manager (WSO2 IS)");
    let is = Wso2IsEmulator::start(IsVersion::V7).await?;
    println!(
        "  WSO2 IS 7.x emulator at {} (issuer {})",
        is.base_url(),
        is.issuer()
    );
    let km_config = |out_of_band: bool| -> Result<KeyManagerConfig> {
        Ok(KeyManagerConfig::new("IS")?
            .out_of_band(out_of_band)
            .issuer(is.issuer()))
    };
    let global_fallback = GlobalSettings {
        enable_key_provisioning: true,
        ..GlobalSettings::default()
    };
    let cases = [
        (
            "Out Of Band Provisioning on",
            km_config(true)?,
            GlobalSettings::default(),
        ),
        (
            "KM flag off, [apim.devportal] enable_key_provisioning = true",
            km_config(false)?,
            global_fallback,
        ),
        (
            "KM flag off, global fallback off",
            km_config(false)?,
            GlobalSettings::default(),
        ),
    ];
    for (i, (label, km, global)) in cases.iter().enumerate() {
        let gate = Wso2Policy::new(*global).gate_for(km);
        println!("  {label}: {gate}");
        ensure!(
            gate.is_granted() == (i < 2),
            "unexpected gate decision for {label}"
        );
        if let Err(err) = gate.check(km) {
            println!(
                "    a provisioning request is refused with {}: {err}",
                err.code()
            );
            ensure!(
                matches!(err, Error::ProvisioningDisabled(_)),
                "expected ProvisioningDisabled"
            );
        }
    }

    // ---------------------------------------------------------------------------------------
    println!("Step 2 - Create an external OAuth2 client in the IS console");
    let console = is.console();
    let protocol = Protocol::new()
        .grant_types(["client_credentials", "authorization_code", "refresh_token"])
        .token_type(IsTokenType::Jwt);
    let prod_client = console.create_traditional_application("PizzaShack-Prod")?;
    console.update_protocol(&prod_client.client_id, protocol.clone())?;
    let sandbox_client = console.create_traditional_application("PizzaShack-Sandbox")?;
    console.update_protocol(&sandbox_client.client_id, protocol)?;
    println!(
        "  traditional applications created, token type JWT; copied client ids {} and {} with their secrets",
        prod_client.client_id, sandbox_client.client_id
    );

    // ---------------------------------------------------------------------------------------
    println!("Step 3 - Provision the out-of-band OAuth2 client");
    let adapter: Arc<dyn KeyManager> = Arc::new(is.key_manager("IS")?);
    let key_managers = KeyManagers::new().with(km_config(true)?, adapter)?;
    let store = Arc::new(SqliteStore::open(&db)?);
    let provisioner = Provisioner::builder()
        .store(store)
        .key_managers(key_managers.clone())
        .build()?;
    // The gateway follows the provisioner's store from the start: every change reaches it.
    let gateway = Gateway::builder().key_managers(key_managers).build()?;
    let _following = gateway.follow(&provisioner).await?;
    let org = OrganizationId::new("carbon.super")?;
    let alice = UserId::new("alice")?;
    let caller = Actor::User(alice.clone());
    let app = provisioner
        .create_application(NewApplication::new("PizzaApp", alice, org.clone()))
        .await?;
    println!(
        "  application PizzaApp ({}) created in {}",
        app.id,
        db.display()
    );

    let prod = provisioner
        .provision(
            &caller,
            ProvisionRequest::new(
                app.id,
                "IS",
                KeyType::Production,
                ConsumerKey::new(&prod_client.client_id)?,
            )
            .secret(ConsumerSecret::new(prod_client.client_secret.as_str())),
        )
        .await
        .context("provisioning PRODUCTION keys")?;
    ensure!(
        prod.mapping.validated && prod.mapping.secret_proven,
        "validated against IS"
    );
    println!(
        "  PRODUCTION keys provisioned: mapping {}; {}; secret proven by a token request; client {:?}, grants {:?}, token type {:?}",
        prod.mapping.id,
        prod.validation,
        prod.mapping.snapshot.client_name.as_deref().unwrap_or("?"),
        prod.mapping.snapshot.grant_types,
        prod.mapping.snapshot.token_type.as_deref().unwrap_or("?"),
    );
    ensure!(
        prod.token.is_some(),
        "the proof's token is returned with the mapping"
    );
    println!("  the token obtained while proving the secret is returned with the mapping");

    let wrong = ProvisionRequest::new(
        app.id,
        "IS",
        KeyType::Sandbox,
        ConsumerKey::new(&sandbox_client.client_id)?,
    )
    .secret(ConsumerSecret::new("not-the-secret"));
    match provisioner.provision(&caller, wrong).await {
        Err(err @ Error::SecretNotProven { .. }) => {
            println!(
                "  an attempt with the wrong secret is refused ({}): {err}",
                err.code()
            )
        }
        other => bail!("a wrong secret must be refused, got {other:?}"),
    }

    let bob = UserId::new("bob")?;
    let other = provisioner
        .create_application(NewApplication::new("OtherApp", bob.clone(), org.clone()))
        .await?;
    let again = ProvisionRequest::new(
        other.id,
        "IS",
        KeyType::Production,
        ConsumerKey::new(&prod_client.client_id)?,
    )
    .secret(ConsumerSecret::new(prod_client.client_secret.as_str()));
    match provisioner.provision(&Actor::User(bob), again).await {
        Err(err @ Error::MappingExists(ConflictRule::ConsumerKeyAlreadyMapped)) => {
            println!(
                "  the same client for another application is refused ({}): {err}",
                err.code()
            )
        }
        other => bail!("a client mapped twice must be refused, got {other:?}"),
    }

    let sandbox_request = ProvisionRequest::new(
        app.id,
        "IS",
        KeyType::Sandbox,
        ConsumerKey::new(&sandbox_client.client_id)?,
    )
    .secret(ConsumerSecret::new(sandbox_client.client_secret.as_str()));
    let sandbox = provisioner
        .provision(&caller, sandbox_request.clone())
        .await
        .context("provisioning SANDBOX keys")?;
    println!(
        "  SANDBOX keys provisioned with the second client: mapping {}",
        sandbox.mapping.id
    );
    let retry = provisioner.provision(&caller, sandbox_request).await?;
    ensure!(
        retry.outcome == Outcome::AlreadyExisted && retry.mapping.id == sandbox.mapping.id,
        "a retry is answered as already existing"
    );
    println!("  a retry of the same request is answered as already existing (nothing changes)");

    // ---------------------------------------------------------------------------------------
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
    let subscription = provisioner.subscribe(&caller, app.id, &api.id).await?;
    println!(
        "  PizzaApp subscribed to {} {} ({})",
        api.name, api.version, subscription.state
    );

    let token = provisioner
        .token(
            &caller,
            TokenRequest::new(
                app.id,
                "IS",
                KeyType::Production,
                ConsumerSecret::new(prod_client.client_secret.as_str()),
            ),
        )
        .await
        .context("a token for the provisioned application")?;
    println!(
        "  access token obtained through keyprov (no cURL needed): {} token, expires in {} s",
        token.token_type,
        token.expires_in.unwrap_or_default()
    );

    // Read your own writes: the gateway applies changes as the store publishes them; wait
    // until it has applied the subscription's revision (and so everything before it).
    gateway
        .wait_for(subscription.revision, Duration::from_secs(2))
        .await?;

    let production = gateway
        .explain(token.secret(), &api.id, KeyType::Production)
        .await;
    println!("  gateway, production endpoint:");
    for line in production.to_string().lines() {
        println!("    {line}");
    }
    let accepted = production
        .outcome
        .as_ref()
        .map_err(|r| anyhow::anyhow!("refused: {r}"))?;
    ensure!(accepted.application == app.id && accepted.key_type == KeyType::Production);
    let resolved = gateway
        .resolve(token.secret(), &api.id, KeyType::Production)
        .await;
    ensure!(
        resolved.is_ok(),
        "resolve agrees with explain: {resolved:?}"
    );

    let sandbox_endpoint = gateway
        .explain(token.secret(), &api.id, KeyType::Sandbox)
        .await;
    println!("  gateway, sandbox endpoint:");
    for line in sandbox_endpoint.to_string().lines() {
        println!("    {line}");
    }
    ensure!(
        sandbox_endpoint.outcome.is_err(),
        "a PRODUCTION token must not reach a sandbox endpoint"
    );
    println!("done: the walkthrough behaved as described");
    Ok(())
}
