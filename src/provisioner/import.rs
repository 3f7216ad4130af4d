//! Bulk import: many mappings checked like single provisioning calls, then stored all or
//! nothing.
//!
//! [`Provisioner::import`] checks every row first, by the same rules and in the same order as
//! [`Provisioner::provision`] (ownership, the key manager and its gate, input, uniqueness
//! within the file and against the store, then validation at the key manager with bounded
//! concurrency). One failing row means nothing is stored: the report names each failing row
//! by its line with its error code. Otherwise every row, and every application the rows name
//! that does not exist yet, is stored in **one transaction**, with a change published and an
//! audit record ([`AuditAction::Imported`]) written for
//! each. A dry run does every check and writes nothing.
//!
//! # Example
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use keyprov::import::{ImportOptions, ImportRow};
//! use keyprov::store::MemoryStore;
//! use keyprov::testkit::ScriptedKeyManager;
//! use keyprov::*;
//!
//! let km = Arc::new(ScriptedKeyManager::new("IS"));
//! km.add_client("client-1", "s3cret");
//! let provisioner = Provisioner::builder()
//!     .store(Arc::new(MemoryStore::new()))
//!     .key_managers(KeyManagers::new().with(KeyManagerConfig::new("IS")?.out_of_band(true), km)?)
//!     .build()?;
//! let row = |line, key: &str| -> keyprov::Result<ImportRow> {
//!     Ok(ImportRow::new(line, UserId::new("alice")?, "PizzaApp", KeyType::Production, "IS", ConsumerKey::new(key)?)
//!         .secret(ConsumerSecret::new("s3cret")))
//! };
//! let operator = Actor::service("onboarding")?;
//! let options = ImportOptions::new(OrganizationId::new("acme")?);
//!
//! // Two rows for one slot: the second is refused, and nothing is stored.
//! let report = provisioner
//!     .import(&operator, vec![row(2, "client-1")?, row(3, "client-2")?], options.clone())
//!     .await?;
//! assert_eq!((report.stored, report.failures.len()), (0, 1));
//! assert_eq!((report.failures[0].line, report.failures[0].code), (3, 901409));
//!
//! let report = provisioner.import(&operator, vec![row(2, "client-1")?], options).await?;
//! assert_eq!((report.stored, report.applications_created), (1, 1));
//! # Ok(())
//! # }
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::{Admitted, Provisioner, new_mapping, validate};
use crate::audit::{AuditAction, AuditEntry};
use crate::error::{ConflictRule, Error, Result};
use crate::events::Revision;
use crate::model::{
    Actor, Application, ApplicationId, ConsumerKey, Ids, KeyManagerId, KeyMapping, KeyType,
    MAX_NAME_LEN, OrganizationId, UserId, check_text, now,
};
use crate::secret::ConsumerSecret;

/// One mapping to import, as a file row describes it.
#[derive(Clone)]
#[non_exhaustive]
pub struct ImportRow {
    /// Where the row is in its file (reported with its failure).
    pub line: u64,
    /// The owner of the application.
    pub owner: UserId,
    /// The application's name; created (in the import's organization) when the owner has
    /// none of that name.
    pub application: String,
    /// Production or sandbox.
    pub key_type: KeyType,
    /// The key manager, by name or id.
    pub key_manager: String,
    /// The client.
    pub consumer_key: ConsumerKey,
    /// The client's secret, when validation at the key manager runs (never stored).
    pub secret: Option<ConsumerSecret>,
}

impl ImportRow {
    /// A row without a secret.
    pub fn new(
        line: u64,
        owner: UserId,
        application: impl Into<String>,
        key_type: KeyType,
        key_manager: impl Into<String>,
        consumer_key: ConsumerKey,
    ) -> Self {
        Self {
            line,
            owner,
            application: application.into(),
            key_type,
            key_manager: key_manager.into(),
            consumer_key,
            secret: None,
        }
    }

    /// Sets the secret.
    pub fn secret(mut self, secret: ConsumerSecret) -> Self {
        self.secret = Some(secret);
        self
    }
}

impl fmt::Debug for ImportRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportRow")
            .field("line", &self.line)
            .field("owner", &self.owner)
            .field("application", &self.application)
            .field("key_type", &self.key_type)
            .field("key_manager", &self.key_manager)
            .field("consumer_key", &self.consumer_key)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

type Progress = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// How to import.
#[derive(Clone)]
#[non_exhaustive]
pub struct ImportOptions {
    /// The organization of the applications the import finds or creates.
    pub organization: OrganizationId,
    /// Check everything, write nothing.
    pub dry_run: bool,
    /// Rows validated at key managers at once (default 8).
    pub concurrency: usize,
    progress: Option<Progress>,
}

impl ImportOptions {
    /// Defaults: not a dry run, 8 validations at once, no progress callback.
    pub fn new(organization: OrganizationId) -> Self {
        Self {
            organization,
            dry_run: false,
            concurrency: 8,
            progress: None,
        }
    }

    /// A dry run: every check, no write.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Rows validated at key managers at once (at least 1).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Called with (rows checked, rows in all) as the checks progress.
    pub fn progress(mut self, progress: impl Fn(usize, usize) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }
}

impl fmt::Debug for ImportOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportOptions")
            .field("organization", &self.organization)
            .field("dry_run", &self.dry_run)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

/// A row that did not pass.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RowFailure {
    /// Its line.
    pub line: u64,
    /// The error code, as for a single provisioning call.
    pub code: u32,
    /// What was wrong.
    pub message: String,
}

/// What an import did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct ImportReport {
    /// Rows given.
    pub rows: usize,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// Mappings stored (0 in a dry run or when a row failed).
    pub stored: usize,
    /// Applications created (or that would be, in a dry run).
    pub applications_created: usize,
    /// The rows that failed, in line order; when not empty, nothing was stored.
    pub failures: Vec<RowFailure>,
    /// The revision of the last change stored.
    pub revision: Option<Revision>,
}

impl ImportReport {
    /// Whether every row passed.
    pub fn is_clean(&self) -> bool {
        self.failures.is_empty()
    }
}

/// A row past the checks that need no I/O, waiting for validation at its key manager.
struct Pending {
    line: u64,
    mapping: KeyMapping,
    secret: Option<ConsumerSecret>,
    validation: crate::policy::Validation,
}

/// The applications of the import's organization: those in the store, then those the
/// import creates, found by owner and name.
struct Applications {
    all: Vec<Application>,
    by_name: HashMap<UserId, HashMap<String, usize>>,
    stored: usize,
    organization: OrganizationId,
}

impl Applications {
    fn new(stored: Vec<Application>, organization: &OrganizationId) -> Self {
        let all: Vec<Application> = stored
            .into_iter()
            .filter(|a| a.organization == *organization)
            .collect();
        let mut by_name: HashMap<UserId, HashMap<String, usize>> = HashMap::new();
        for (position, a) in all.iter().enumerate() {
            by_name
                .entry(a.owner.clone())
                .or_default()
                .insert(a.name.clone(), position);
        }
        Self {
            stored: all.len(),
            all,
            by_name,
            organization: organization.clone(),
        }
    }

    /// The application a row names: the owner's of that name, or a new one created at `at`
    /// (remembered, so later rows find it).
    fn find_or_create(
        &mut self,
        caller: &Actor,
        row: &ImportRow,
        at: DateTime<Utc>,
        ids: &Ids,
    ) -> Result<&Application> {
        if let Actor::User(user) = caller
            && *user != row.owner
        {
            return Err(Error::NotPermitted {
                operation: "import for another owner",
            });
        }
        check_text("application", &row.application, MAX_NAME_LEN)?;
        let named = self.by_name.entry(row.owner.clone()).or_default();
        let position = match named.get(row.application.as_str()) {
            Some(&position) => position,
            None => {
                let position = self.all.len();
                self.all.push(Application {
                    id: ids.next(),
                    name: row.application.clone(),
                    owner: row.owner.clone(),
                    organization: self.organization.clone(),
                    created_at: at,
                });
                named.insert(row.application.clone(), position);
                position
            }
        };
        Ok(&self.all[position])
    }

    /// The applications the import creates, in the order they were first named.
    fn created(mut self) -> Vec<Application> {
        self.all.split_off(self.stored)
    }
}

impl Provisioner {
    /// Imports `rows` all or nothing (see [the module](crate::provisioner::import)).
    ///
    /// A user may import only for applications they own (rows naming another owner fail with
    /// 403); administrators and services for anyone.
    ///
    /// # Errors
    /// Row failures are in the report, not errors. Errors: `Storage` (nothing stored), and a
    /// conflict the store found that the checks did not (a concurrent call mapped the same
    /// client meanwhile: `MappingExists`, nothing stored).
    pub async fn import(
        &self,
        caller: &Actor,
        rows: Vec<ImportRow>,
        options: ImportOptions,
    ) -> Result<ImportReport> {
        let total = rows.len();
        let mut failures = Vec::new();
        let mut fail = |line: u64, error: &Error| {
            failures.push(RowFailure {
                line,
                code: error.code(),
                message: error.to_string(),
            });
        };
        // What the store holds, read once: the checks run in memory.
        let at = now();
        let ids = Ids::at(at);
        let mut applications = Applications::new(
            self.inner.store.all_applications().await?,
            &options.organization,
        );
        let existing = self.inner.store.all_mappings().await?;
        let mut slots: HashSet<(ApplicationId, KeyType, KeyManagerId)> = existing
            .iter()
            .map(|m| (m.application, m.key_type, m.key_manager.clone()))
            .collect();
        let mut clients: HashSet<(KeyManagerId, ConsumerKey)> = existing
            .into_iter()
            .map(|m| (m.key_manager, m.consumer_key))
            .collect();
        slots.reserve(total);
        clients.reserve(total);
        // Rows ready to store, and rows to validate at their key manager first.
        let mut mappings = Vec::with_capacity(total);
        let mut pending = Vec::new();
        for row in rows {
            let application = match applications.find_or_create(caller, &row, at, &ids) {
                Ok(application) => application,
                Err(error) => {
                    fail(row.line, &error);
                    continue;
                }
            };
            let admitted = self.admit(
                caller,
                application,
                &row.key_manager,
                row.key_type,
                &row.consumer_key,
                row.secret,
            );
            let Admitted {
                km,
                validation,
                secret,
                ..
            } = match admitted {
                Ok(admitted) => admitted,
                Err(error) => {
                    fail(row.line, &error);
                    continue;
                }
            };
            let slot = (application.id, row.key_type, km.config.id.clone());
            let client = (km.config.id.clone(), row.consumer_key.clone());
            // P3, within the file and against the store.
            let conflict = if clients.contains(&client) {
                Some(ConflictRule::ConsumerKeyAlreadyMapped)
            } else if slots.contains(&slot) {
                Some(ConflictRule::KeyTypeAlreadyMapped)
            } else {
                None
            };
            if let Some(rule) = conflict {
                fail(row.line, &Error::MappingExists(rule));
                continue;
            }
            slots.insert(slot);
            clients.insert(client);
            let mapping = new_mapping(
                caller,
                application.id,
                row.key_type,
                km,
                row.consumer_key,
                validation,
                (ids.next(), at),
            );
            if validation.runs() {
                pending.push(Pending {
                    line: row.line,
                    mapping,
                    secret,
                    validation,
                });
            } else {
                mappings.push(mapping);
            }
        }
        let created = applications.created();
        let progress = options.progress.clone();
        let ready = total - pending.len();
        let report_progress = |validated: usize| {
            if let Some(progress) = &progress {
                progress(ready + validated, total);
            }
        };
        report_progress(0);
        let validated = self
            .validate_rows(pending, options.concurrency, &report_progress)
            .await;
        for (line, outcome) in validated {
            match outcome {
                Ok(mapping) => mappings.push(mapping),
                Err(error) => fail(line, &error),
            }
        }
        failures.sort_by_key(|f| f.line);
        let mut report = ImportReport {
            rows: total,
            dry_run: options.dry_run,
            stored: 0,
            applications_created: created.len(),
            failures,
            revision: None,
        };
        if options.dry_run {
            return Ok(report);
        }
        let context = self.audit_context(caller);
        if !report.is_clean() {
            let first = &report.failures[0];
            let entry = AuditEntry::new(&context, AuditAction::Imported)
                .code(first.code)
                .detail(format!(
                    "import refused: {} of {total} rows failed (first: line {}); nothing stored",
                    report.failures.len(),
                    first.line
                ));
            self.inner.store.record_audit(&[entry]).await?;
            tracing::info!(%caller, rows = total, failed = report.failures.len(), "import refused");
            return Ok(report);
        }
        let mut context = context;
        context.import = true;
        let stored = mappings.len();
        let revision =
            crate::audit::scope(context, self.inner.store.import(created, mappings)).await?;
        report.stored = stored;
        report.revision = Some(revision);
        tracing::info!(
            %caller,
            rows = total,
            applications_created = report.applications_created,
            %revision,
            "import stored"
        );
        Ok(report)
    }

    /// P4 for `rows`, `concurrency` at a time; every row's outcome, in input
    /// order. `progress` gets the number of rows validated so far.
    async fn validate_rows(
        &self,
        rows: Vec<Pending>,
        concurrency: usize,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Vec<(u64, Result<KeyMapping>)> {
        let mut validated = 0;
        futures::stream::iter(rows)
            .map(|row| async move {
                let Pending {
                    line,
                    mut mapping,
                    secret,
                    validation,
                } = row;
                let outcome = match self.inner.key_managers.by_id(&mapping.key_manager) {
                    Some(km) => validate(km, &mapping.consumer_key, secret.as_ref(), validation)
                        .await
                        .map(|(snapshot, proven, _token)| {
                            mapping.snapshot = snapshot;
                            mapping.secret_proven = proven;
                            mapping
                        }),
                    None => Err(Error::KeyManagerNotFound {
                        name: mapping.key_manager.to_string(),
                    }),
                };
                (line, outcome)
            })
            .buffered(concurrency.max(1))
            .inspect(|_| {
                validated += 1;
                progress(validated);
            })
            .collect()
            .await
    }
}
