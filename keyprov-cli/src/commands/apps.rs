//! `keyprov apps create | list | delete`.

use keyprov::{Application, NewApplication, OrganizationId, UserId};
use serde_json::json;

use crate::cli::AppsCommand;
use crate::context::Context;
use crate::exit::Failure;
use crate::output::{Output, Section, Table};

fn table(apps: &[Application]) -> Vec<Section> {
    let mut table = Table::new(vec!["ID", "NAME", "OWNER", "ORGANIZATION", "CREATED"]);
    for app in apps {
        table.row(vec![
            app.id.to_string(),
            app.name.clone(),
            app.owner.to_string(),
            app.organization.to_string(),
            app.created_at.format("%Y-%m-%d %H:%M:%SZ").to_string(),
        ]);
    }
    vec![Section::Table(table)]
}

pub async fn run(cx: &Context, command: AppsCommand, out: &Output) -> Result<(), Failure> {
    match command {
        AppsCommand::Create {
            name,
            owner,
            organization,
        } => {
            let new = NewApplication::new(
                name,
                UserId::new(owner)?,
                OrganizationId::new(organization)?,
            );
            let created = cx.provisioner.create_application(new).await?;
            let app = created.value.clone();
            out.show(&app, || table(std::slice::from_ref(&app)));
        }
        AppsCommand::List { owner } => {
            let apps = match owner {
                Some(owner) => {
                    let owner = UserId::new(owner)?;
                    cx.provisioner.applications(&cx.actor, &owner).await?
                }
                None => cx.provisioner.all_applications(&cx.actor).await?,
            };
            out.show(&apps, || table(&apps));
        }
        AppsCommand::Delete(arg) => {
            let app = cx.application(&arg.app, arg.owner.as_deref()).await?;
            cx.provisioner.delete_application(&cx.actor, app.id).await?;
            out.show(&json!({"deleted": app}), || {
                vec![Section::Text(format!(
                    "deleted application {} ({}) with its keys and subscriptions",
                    app.name, app.id
                ))]
            });
        }
    }
    Ok(())
}
