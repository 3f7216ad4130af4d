//! `keyprov map | keys | unmap | token`.

use keyprov::policy::GrantedBy;
use keyprov::{
    ConsumerKey, KeyMapping, KeyType, MappingId, Outcome, ProvisionRequest, TokenRequest,
};
use serde_json::json;

use crate::cli::{AppArg, MapArgs, TokenArgs, UnmapArgs};
use crate::context::Context;
use crate::exit::Failure;
use crate::output::{Output, Section, Table, Tone};
use crate::secret;

fn key_type(text: &str) -> Result<KeyType, Failure> {
    Ok(text.parse()?)
}

/// The mappings as a table.
pub fn mappings_table(mappings: &[KeyMapping]) -> Table {
    let mut table = Table::new(vec![
        "MAPPING",
        "KEY TYPE",
        "KEY MANAGER",
        "CONSUMER KEY",
        "STATE",
        "VALIDATED",
        "SECRET PROVEN",
    ]);
    for m in mappings {
        table.toned_row(vec![
            (m.id.to_string(), Tone::Plain),
            (m.key_type.to_string(), Tone::Plain),
            (m.key_manager.to_string(), Tone::Plain),
            (m.consumer_key.to_string(), Tone::Plain),
            (m.state.to_string(), Tone::of(m.state.as_str())),
            (yes_no(m.validated), Tone::Plain),
            (yes_no(m.secret_proven), Tone::Plain),
        ]);
    }
    table
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

pub async fn map(cx: &Context, args: MapArgs, out: &Output) -> Result<(), Failure> {
    let keys = &args.keys;
    let app = cx
        .application(&keys.app.app, keys.app.owner.as_deref())
        .await?;
    let mut request = ProvisionRequest::new(
        app.id,
        &keys.key_manager,
        key_type(&keys.key_type)?,
        ConsumerKey::new(&args.consumer_key)?,
    );
    if !args.no_secret {
        request = request.secret(secret::consumer_secret(&args.secret)?);
    }
    let done = cx.provisioner.provision(&cx.actor, request).await?;
    let outcome = match done.outcome {
        Outcome::Created => "created",
        Outcome::AlreadyExisted => "already existed",
    };
    let granted_by = match done.granted_by {
        GrantedBy::KeyManagerFlag => "the key manager's Out Of Band Provisioning flag",
        GrantedBy::GlobalFallback => "the global enable_key_provisioning fallback",
    };
    // The token obtained while proving the secret is not shown: `keyprov token` gives one.
    let value = json!({
        "outcome": outcome,
        "mapping": done.mapping,
        "granted_by": granted_by,
        "validation": done.validation.to_string(),
        "revision": done.revision,
    });
    out.show(&value, || {
        vec![
            Section::Table(mappings_table(std::slice::from_ref(&done.mapping))),
            Section::Text(format!(
                "mapping {outcome}: gate opened by {granted_by}; {}",
                done.validation
            )),
        ]
    });
    Ok(())
}

pub async fn list(cx: &Context, args: AppArg, out: &Output) -> Result<(), Failure> {
    let app = cx.application(&args.app, args.owner.as_deref()).await?;
    let keys = cx.provisioner.keys(&cx.actor, app.id).await?;
    out.show(&keys, || vec![Section::Table(mappings_table(&keys))]);
    Ok(())
}

pub async fn unmap(cx: &Context, args: UnmapArgs, out: &Output) -> Result<(), Failure> {
    let app = cx
        .application(&args.app.app, args.app.owner.as_deref())
        .await?;
    let mapping: MappingId = args.mapping.parse()?;
    let removed = cx
        .provisioner
        .remove_mapping(&cx.actor, app.id, mapping)
        .await?;
    let value = json!({"removed": removed.value, "revision": removed.revision});
    out.show(&value, || {
        vec![Section::Text(format!(
            "removed mapping {} ({} keys of {} at {}); the client at the key manager is untouched",
            removed.value.id, removed.value.key_type, app.name, removed.value.key_manager
        ))]
    });
    Ok(())
}

pub async fn token(cx: &Context, args: TokenArgs, out: &Output) -> Result<(), Failure> {
    let keys = &args.keys;
    let app = cx
        .application(&keys.app.app, keys.app.owner.as_deref())
        .await?;
    let secret = secret::consumer_secret(&args.secret)?;
    let request = TokenRequest::new(app.id, &keys.key_manager, key_type(&keys.key_type)?, secret)
        .scopes(args.scopes);
    let token = cx.provisioner.token(&cx.actor, request).await?;
    let value = json!({
        "access_token": token.secret(),
        "token_type": token.token_type,
        "expires_in": token.expires_in,
        "scopes": token.scopes,
    });
    out.show(&value, || {
        // The token alone, so that `$(keyprov token ...)` is the token.
        vec![Section::Text(token.secret().to_owned())]
    });
    Ok(())
}
