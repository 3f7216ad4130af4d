//! What every command needs: the configuration, the key managers built from it with the
//! adapters, the store named by its URL, the provisioning service and the actor.

use std::path::Path;
use std::sync::Arc;

use keyprov::audit::RequestId;
use keyprov::config::KeyManagerEntry;
use keyprov::store::postgres::{PostgresConfig, PostgresStore};
use keyprov::store::{SqliteStore, Store};
use keyprov::{Actor, Application, ApplicationId, Config, KeyManager, KeyManagers, Provisioner};

use crate::cli::Global;
use crate::exit::Failure;

/// The adapters a key manager's `type` may name.
pub const ADAPTERS: [&str; 3] = ["oidc", "wso2is", "keycloak"];

/// The configuration file, read strictly.
pub fn config(path: &Path) -> Result<Config, Failure> {
    Ok(Config::from_file(path)?)
}

/// The adapter of one `[[key_managers]]` entry. Without a `type`, the standards-based one.
fn adapter(entry: &KeyManagerEntry) -> keyprov::Result<Arc<dyn KeyManager>> {
    let id = entry.config.id.clone();
    Ok(match entry.kind.as_deref().unwrap_or("oidc") {
        "oidc" => Arc::new(km_oidc::OidcKeyManager::new(
            km_oidc::OidcConfig::from_connection(id, &entry.connection)?,
        )?),
        "wso2is" => Arc::new(km_wso2is::Wso2IsKeyManager::new(
            km_wso2is::Wso2IsConfig::from_connection(id, &entry.connection)?,
        )?),
        "keycloak" => Arc::new(km_keycloak::KeycloakKeyManager::new(
            km_keycloak::KeycloakConfig::from_connection(id, &entry.connection)?,
        )?),
        other => {
            return Err(keyprov::Error::config(
                format!("key_managers.{}.type", entry.config.id),
                format!("{other:?} is not one of the adapters {ADAPTERS:?}"),
            ));
        }
    })
}

/// Every configured key manager with its adapter.
pub fn key_managers(config: &Config) -> Result<KeyManagers, Failure> {
    let mut key_managers = KeyManagers::new();
    for entry in &config.key_managers {
        key_managers = key_managers.with(entry.config.clone(), adapter(entry)?)?;
    }
    Ok(key_managers)
}

/// Opens the store a URL names: `postgres://...` or `postgresql://...` (a `schema` query
/// parameter chooses the schema), `sqlite:PATH`, or a path.
pub async fn store(url: &str) -> Result<Arc<dyn Store>, Failure> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let (url, schema) = split_schema(url);
        let mut builder = PostgresConfig::builder(url)
            .change_feed(false)
            .pool_size(4)
            .application_name("keyprov-cli");
        if let Some(schema) = schema {
            builder = builder.schema(schema);
        }
        return Ok(Arc::new(PostgresStore::open(builder.build()?).await?));
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.is_empty() {
        return Err(Failure::input("--store: an empty path"));
    }
    Ok(Arc::new(SqliteStore::open(path)?))
}

/// Takes the `schema=NAME` parameter out of a PostgreSQL URL's query.
fn split_schema(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut schema = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix("schema=") {
            Some(name) => {
                schema = Some(name.to_owned());
                false
            }
            None => !pair.is_empty(),
        })
        .collect();
    if rest.is_empty() {
        (base.to_owned(), schema)
    } else {
        (format!("{base}?{}", rest.join("&")), schema)
    }
}

/// Parses `admin:NAME`, `user:NAME` or `service:NAME`.
pub fn parse_actor(text: &str) -> Result<Actor, Failure> {
    let (kind, name) = text.split_once(':').ok_or_else(|| {
        Failure::input(format!(
            "actor {text:?}: expected admin:NAME, user:NAME or service:NAME"
        ))
    })?;
    Ok(match kind {
        "admin" => Actor::admin(name)?,
        "user" => Actor::user(name)?,
        "service" => Actor::service(name)?,
        _ => {
            return Err(Failure::input(format!(
                "actor {text:?}: the kind must be admin, user or service"
            )));
        }
    })
}

/// The actor of `--as`, or the administrator named by `$USER`.
pub fn actor(global: &Global) -> Result<Actor, Failure> {
    match &global.actor {
        Some(text) => parse_actor(text),
        None => {
            let user = std::env::var("USER")
                .ok()
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| "operator".to_owned());
            Ok(Actor::admin(user)?)
        }
    }
}

/// The configuration, the key managers, the store and the provisioning service.
pub struct Context {
    /// The configuration file's contents.
    pub config: Config,
    /// The key managers with their adapters.
    pub key_managers: KeyManagers,
    /// The provisioning service over the store.
    pub provisioner: Provisioner,
    /// Who acts.
    pub actor: Actor,
    /// The request id of this run's audit records.
    pub request_id: RequestId,
}

impl Context {
    /// Reads the configuration and opens the store.
    pub async fn open(global: &Global) -> Result<Self, Failure> {
        let actor = actor(global)?;
        let request_id = match &global.request_id {
            Some(id) => RequestId::new(id)?,
            None => RequestId::random(),
        };
        let config = config(&global.config)?;
        let key_managers = key_managers(&config)?;
        let store = store(&global.store).await?;
        let provisioner = Provisioner::builder()
            .store(store)
            .key_managers(key_managers.clone())
            .global(config.global)
            .build()?
            .with_request_id(request_id.clone());
        Ok(Self {
            config,
            key_managers,
            provisioner,
            actor,
            request_id,
        })
    }

    /// An application by id, or by name: among `owner`'s applications when given (a user's
    /// own by default), else among every application (the name must then be unique).
    pub async fn application(
        &self,
        app: &str,
        owner: Option<&str>,
    ) -> Result<Application, Failure> {
        if let Ok(id) = app.parse::<ApplicationId>() {
            return Ok(self.provisioner.application(&self.actor, id).await?);
        }
        let owner = match (owner, &self.actor) {
            (Some(owner), _) => Some(keyprov::UserId::new(owner)?),
            // A user names their own applications.
            (None, Actor::User(user)) => Some(user.clone()),
            (None, _) => None,
        };
        let candidates = match owner {
            Some(owner) => self.provisioner.applications(&self.actor, &owner).await?,
            None => self.provisioner.all_applications(&self.actor).await?,
        };
        let mut named: Vec<Application> =
            candidates.into_iter().filter(|a| a.name == app).collect();
        match named.len() {
            1 => Ok(named.remove(0)),
            0 => Err(Failure::new(
                crate::exit::NOT_FOUND,
                "not_found",
                format!("no application named {app:?}"),
            )),
            _ => Err(Failure::input(format!(
                "{} applications are named {app:?}: give its id, or --owner",
                named.len()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_parameter_is_taken_out_of_the_url() {
        assert_eq!(
            split_schema("postgres://u@h/db?schema=kp_1"),
            ("postgres://u@h/db".to_owned(), Some("kp_1".to_owned()))
        );
        assert_eq!(
            split_schema("postgres://u@h/db?sslmode=disable&schema=kp_1"),
            (
                "postgres://u@h/db?sslmode=disable".to_owned(),
                Some("kp_1".to_owned())
            )
        );
        assert_eq!(
            split_schema("postgres://u@h/db"),
            ("postgres://u@h/db".to_owned(), None)
        );
    }

    #[test]
    fn actors_parse_with_their_kind() {
        assert_eq!(
            parse_actor("admin:carol").unwrap(),
            Actor::admin("carol").unwrap()
        );
        assert_eq!(
            parse_actor("service:nightly").unwrap(),
            Actor::service("nightly").unwrap()
        );
        assert_eq!(parse_actor("root:x").unwrap_err().exit, crate::exit::INPUT);
        assert_eq!(parse_actor("carol").unwrap_err().exit, crate::exit::INPUT);
        assert_eq!(parse_actor("user:").unwrap_err().exit, crate::exit::INPUT);
    }
}
