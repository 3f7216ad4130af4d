//! Provision a client of a real Keycloak (17 or later) and resolve one of its tokens.
//!
//! ```sh
//! cargo run --example real_keycloak -- \
//!     https://sso.example.com apis keyprov-admin "$ADMIN_SECRET" billing "$BILLING_SECRET"
//! ```
//!
//! Arguments: base URL (no `/realms`; add `/auth` for Keycloak 16 and older), realm, the admin
//! service-account client of that realm (its service account needs the realm-management role
//! `view-clients`), its secret, the client to provision (confidential, service accounts
//! enabled) and its secret. Nothing is written at Keycloak; the mapping is kept in
//! `keyprov-real-keycloak.db` in the current directory. Not run in CI.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use keyprov::gateway::Gateway;
use keyprov::store::SqliteStore;
use keyprov::{
    Actor, Api, ApiId, ConsumerKey, ConsumerSecret, KeyManager, KeyManagerConfig, KeyManagerId,
    KeyManagers, KeyType, NewApplication, OrganizationId, ProvisionRequest, Provisioner,
    TokenRequest, UserId,
};
use km_keycloak::{KeycloakConfig, KeycloakKeyManager};

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [
        base_url,
        realm,
        admin_id,
        admin_secret,
        client_id,
        client_secret,
    ] = args.as_slice()
    else {
        bail!(
            "usage: real_keycloak <base-url> <realm> <admin-client-id> <admin-secret> <client-id> <client-secret>"
        );
    };
    let config = KeycloakConfig::new(
        KeyManagerId::new("keycloak")?,
        base_url.as_str(),
        realm.as_str(),
        admin_id.as_str(),
        admin_secret.as_str(),
    );
    let issuer = config.issuer();
    let adapter: Arc<dyn KeyManager> = Arc::new(KeycloakKeyManager::new(config)?);
    let key_managers = KeyManagers::new().with(
        KeyManagerConfig::new("keycloak")?
            .out_of_band(true)
            .issuer(issuer.clone()),
        adapter,
    )?;
    let store = Arc::new(SqliteStore::open("keyprov-real-keycloak.db")?);
    let provisioner = Provisioner::builder()
        .store(store)
        .key_managers(key_managers.clone())
        .build()?;
    let gateway = Gateway::builder().key_managers(key_managers).build()?;
    let _following = gateway.follow(&provisioner).await?;

    let owner = UserId::new("real-keycloak-example")?;
    let org = OrganizationId::new("default")?;
    let app = provisioner
        .create_application(NewApplication::new(
            format!("{client_id} ({})", uuid_suffix()),
            owner.clone(),
            org.clone(),
        ))
        .await?;
    let caller = Actor::User(owner);
    let provisioned = provisioner
        .provision(
            &caller,
            ProvisionRequest::new(
                app.id,
                "keycloak",
                KeyType::Production,
                ConsumerKey::new(client_id)?,
            )
            .secret(ConsumerSecret::new(client_secret.as_str())),
        )
        .await
        .context("provisioning (the error says which check failed)")?;
    println!("provisioned: {:#?}", provisioned.mapping);

    let api = provisioner
        .put_api(Api::new(
            ApiId::new("example-api")?,
            "Example",
            "1",
            "/example",
            org,
        ))
        .await?;
    let subscribed = provisioner.subscribe(&caller, app.id, &api.id).await?;
    let token = match provisioned.token {
        Some(token) => token,
        None => {
            provisioner
                .token(
                    &caller,
                    TokenRequest::new(
                        app.id,
                        "keycloak",
                        KeyType::Production,
                        ConsumerSecret::new(client_secret.as_str()),
                    ),
                )
                .await?
        }
    };
    gateway
        .wait_for(subscribed.revision, std::time::Duration::from_secs(5))
        .await?;
    println!(
        "{}",
        gateway
            .explain(token.secret(), &api.id, KeyType::Production)
            .await
    );
    Ok(())
}

fn uuid_suffix() -> String {
    keyprov::MappingId::random().to_string()[..8].to_owned()
}
