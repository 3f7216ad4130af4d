//! The world both examples run in: an emulated WSO2 IS in-process, the embedded SQLite store,
//! the provisioner, and a gateway following it; one application with PRODUCTION keys
//! subscribed to one API.

// Each example uses part of it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use keyprov::gateway::{Following, Gateway};
use keyprov::store::SqliteStore;
use keyprov::{
    Actor, Api, ApiId, ApplicationId, ConsumerKey, ConsumerSecret, KeyManager, KeyManagerConfig,
    KeyManagers, KeyType, NewApplication, OrganizationId, ProvisionRequest, Provisioner,
    TokenRequest, UserId,
};
use km_wso2is::emulator::{IsTokenType, IsVersion, Protocol, Wso2IsEmulator};

pub struct World {
    pub is: Wso2IsEmulator,
    pub provisioner: Provisioner,
    pub gateway: Gateway,
    pub api: ApiId,
    pub app: ApplicationId,
    pub caller: Actor,
    pub client_id: String,
    client_secret: String,
    _following: Following,
    _dir: tempfile::TempDir,
}

impl World {
    pub async fn start() -> Result<World> {
        let is = Wso2IsEmulator::start(IsVersion::V7).await?;
        let config = KeyManagerConfig::new("IS")?
            .out_of_band(true)
            .issuer(is.issuer());
        let adapter: Arc<dyn KeyManager> = Arc::new(is.key_manager("IS")?);
        let key_managers = KeyManagers::new().with(config, adapter)?;
        let dir = tempfile::tempdir()?;
        let store = Arc::new(SqliteStore::open(dir.path().join("keyprov.db"))?);
        let provisioner = Provisioner::builder()
            .store(store)
            .key_managers(key_managers.clone())
            .build()?;
        let gateway = Gateway::builder().key_managers(key_managers).build()?;
        let following = gateway.follow(&provisioner).await?;

        // A client created in the IS console, out of band, then provisioned into PizzaApp.
        let console = is.console();
        let client = console.create_traditional_application("PizzaShack-Prod")?;
        console.update_protocol(
            &client.client_id,
            Protocol::new()
                .grant_types(["client_credentials"])
                .token_type(IsTokenType::Jwt),
        )?;
        let org = OrganizationId::new("carbon.super")?;
        let alice = UserId::new("alice")?;
        let caller = Actor::User(alice.clone());
        let app = provisioner
            .create_application(NewApplication::new("PizzaApp", alice, org.clone()))
            .await?;
        let request = ProvisionRequest::new(
            app.id,
            "IS",
            KeyType::Production,
            ConsumerKey::new(&client.client_id)?,
        )
        .secret(ConsumerSecret::new(client.client_secret.as_str()));
        provisioner
            .provision(&caller, request)
            .await
            .context("provisioning the client")?;
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
        gateway
            .wait_for(subscription.revision, Duration::from_secs(5))
            .await?;
        Ok(World {
            is,
            provisioner,
            gateway,
            api: api.id.clone(),
            app: app.id,
            caller,
            client_id: client.client_id.clone(),
            client_secret: client.client_secret.clone(),
            _following: following,
            _dir: dir,
        })
    }

    /// An access token of the provisioned client, with `scopes`.
    pub async fn token(&self, scopes: &[&str]) -> Result<String> {
        let mut request = TokenRequest::new(
            self.app,
            "IS",
            KeyType::Production,
            ConsumerSecret::new(self.client_secret.as_str()),
        );
        request.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        let token = self.provisioner.token(&self.caller, request).await?;
        Ok(token.secret().to_owned())
    }

    /// The curl command that gets a token from the emulated IS.
    pub fn token_command(&self, scope: &str) -> String {
        format!(
            "curl -s -u '{}:{}' -d grant_type=client_credentials -d scope={scope} {}",
            self.client_id,
            self.client_secret,
            self.is.url("/oauth2/token")
        )
    }
}
