//! `keyprov explain`: the gateway's step-by-step account of a token for an API and a key type.

use keyprov::ApiId;
use keyprov::gateway::Gateway;
use serde_json::json;

use crate::cli::ExplainArgs;
use crate::commands::reported;
use crate::context::Context;
use crate::exit::{Failure, SOME_FAILED};
use crate::output::{Output, Section};
use crate::secret;

pub async fn run(cx: &Context, args: ExplainArgs, out: &Output) -> Result<(), Failure> {
    let api = ApiId::new(&args.api)?;
    let key_type = args.key_type.parse()?;
    let token = secret::token(args.token_env.as_deref())?;
    let gateway = Gateway::builder()
        .key_managers(cx.key_managers.clone())
        .build()?;
    gateway.load(cx.provisioner.store().as_ref()).await?;
    let explanation = gateway.explain(token.trim(), &api, key_type).await;
    let steps: Vec<_> = explanation
        .steps
        .iter()
        .map(|s| json!({"step": s.step, "text": s.text}))
        .collect();
    let outcome = match &explanation.outcome {
        Ok(ok) => json!({
            "accepted": true,
            "application": ok.application,
            "mapping": ok.mapping,
            "key_type": ok.key_type,
            "key_manager": ok.key_manager,
            "consumer_key": ok.consumer_key,
        }),
        Err(denial) => json!({
            "accepted": false,
            "step": denial.step(),
            "status": denial.status(),
            "code": denial.code(),
            "reason": denial.to_string(),
        }),
    };
    out.show(&json!({"steps": steps, "outcome": outcome}), || {
        vec![Section::Text(explanation.to_string())]
    });
    match explanation.outcome {
        Ok(_) => Ok(()),
        Err(_) => Err(reported(SOME_FAILED)),
    }
}
