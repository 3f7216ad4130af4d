//! Every subcommand, run against each store: the SQLite tests here, the PostgreSQL ones in
//! `postgres.rs` run the same flows.

use serde_json::Value;

use crate::exit::*;
use crate::{Client, Env};

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// Creates an application; its id.
pub(crate) fn create_app(env: &Env, name: &str, owner: &str) -> String {
    let app = env.json(&["apps", "create", name, "--owner", owner]);
    assert_eq!(app["name"], name);
    assert_eq!(app["owner"], owner);
    s(&app["id"]).to_owned()
}

/// Maps `client` to `app` with its secret on standard input; the mapping.
pub(crate) fn map(env: &Env, app: &str, km: &str, key_type: &str, client: &Client) -> Value {
    let run = env.expect_with(
        OK,
        &[
            "map",
            app,
            "--key-manager",
            km,
            "--key-type",
            key_type,
            "--consumer-key",
            &client.id,
            "--secret-stdin",
        ],
        Some(&format!("{}\n", client.secret)),
        &[],
    );
    let value = run.json();
    assert_eq!(value["outcome"], "created");
    value["mapping"].clone()
}

pub(crate) fn key_managers(env: &Env) {
    let list = env.json(&["key-managers", "list"]);
    let list = list.as_array().unwrap();
    let names: Vec<&str> = list.iter().map(|k| s(&k["name"])).collect();
    assert_eq!(names, ["IS", "Closed", "Down"]);
    let (is, closed, down) = (&list[0], &list[1], &list[2]);
    assert_eq!(is["gate"]["granted"], true);
    assert!(s(&is["gate"]["explanation"]).contains("Out Of Band Provisioning flag is on"));
    assert_eq!(is["validation"]["granted"], true);
    assert_eq!(closed["gate"]["granted"], false);
    assert!(s(&closed["gate"]["explanation"]).contains("are both off"));
    assert_eq!(down["validation"]["granted"], false);
    assert!(
        s(&down["validation"]["explanation"]).contains("provisioned_app_validation is off"),
        "{down}"
    );

    let table = env.run(&["key-managers", "list"]);
    assert_eq!(table.code, OK, "{}", table.stderr);
    let first = table.stdout.lines().next().unwrap();
    assert_eq!(
        first.split_whitespace().collect::<Vec<_>>(),
        ["NAME", "TYPE", "GATE", "VALIDATION"]
    );
    assert!(
        table
            .stdout
            .contains("gate: refused: the key manager's Out Of Band")
    );
    assert!(!table.stdout.contains('\x1b'), "colour without a terminal");
}

#[test]
fn key_managers_are_listed_with_their_decisions_explained() {
    let env = Env::sqlite();
    key_managers(&env);

    // A misspelt key in the configuration: refused with its line and the likely key.
    let bad = env.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[key_managers]]\nname = \"IS\"\nenable_map_oauth_consumer_app = true\n",
    )
    .unwrap();
    let run = env.run(&["--config", bad.to_str().unwrap(), "key-managers", "list"]);
    assert_eq!(run.code, INPUT, "{run:?}");
    assert!(run.stderr.contains("line 3"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("did you mean enable_map_oauth_consumer_apps")
    );
    // An adapter that does not exist.
    std::fs::write(&bad, "[[key_managers]]\nname = \"IS\"\ntype = \"okta\"\n").unwrap();
    let run = env.expect(
        INPUT,
        &["--config", bad.to_str().unwrap(), "key-managers", "list"],
    );
    assert_eq!(run.error()["code"], 901431);
    assert!(s(&run.error()["message"]).contains("okta"));
    // No file at all.
    let run = env.run(&["--config", "missing.toml", "keys", "x"]);
    assert_eq!(run.code, INPUT, "{run:?}");
    assert!(run.stderr.contains("missing.toml"), "{}", run.stderr);
}

pub(crate) fn applications(env: &Env) {
    let alice_app = create_app(env, "PizzaApp", "alice");
    let bob_app = create_app(env, "PizzaApp", "bob");
    let run = env.expect(
        CONFLICT,
        &["apps", "create", "PizzaApp", "--owner", "alice"],
    );
    assert_eq!(run.error()["code"], 409);
    assert_eq!(run.error()["class"], "conflict");

    let alice = env.json(&["apps", "list", "--owner", "alice"]);
    assert_eq!(alice.as_array().unwrap().len(), 1);
    assert_eq!(alice[0]["id"], alice_app.as_str());
    let all = env.json(&["apps", "list"]);
    assert_eq!(all.as_array().unwrap().len(), 2);

    // By name: ambiguous without the owner, found with it.
    let run = env.expect(INPUT, &["keys", "PizzaApp"]);
    assert!(s(&run.error()["message"]).contains("2 applications are named"));
    assert_eq!(
        env.json(&["keys", "PizzaApp", "--owner", "bob"]),
        Value::Array(vec![])
    );
    env.expect(NOT_FOUND, &["keys", "NoSuchApp"]);
    env.expect(NOT_FOUND, &["keys", "00000000-0000-4000-8000-000000000000"]);

    // A user may not look at another user's application.
    let run = env.expect(FORBIDDEN, &["--as", "user:mallory", "keys", &alice_app]);
    assert_eq!(run.error()["code"], 403);
    env.expect(INPUT, &["--as", "root:mallory", "keys", &alice_app]);

    let deleted = env.json(&["apps", "delete", &bob_app]);
    assert_eq!(deleted["deleted"]["id"], bob_app.as_str());
    env.expect(NOT_FOUND, &["apps", "delete", &bob_app]);
    let all = env.json(&["apps", "list"]);
    assert_eq!(all.as_array().unwrap().len(), 1);

    // Tables by default.
    let table = env.run(&["apps", "list"]);
    assert!(table.stdout.starts_with("ID "), "{}", table.stdout);
    assert!(table.stdout.contains("PizzaApp") && table.stdout.contains("carbon.super"));
    // The command line itself is wrong.
    assert_eq!(env.run(&["apps", "create", "NoOwner"]).code, USAGE);
}

#[test]
fn applications_are_created_listed_and_deleted() {
    applications(&Env::sqlite());
}

pub(crate) fn mapping_and_tokens(env: &Env) {
    let prod = env.client("shop-prod");
    let sandbox = env.client("shop-sandbox");
    let app = create_app(env, "Shop", "alice");
    let mapping = map(env, &app, "IS", "PRODUCTION", &prod);
    assert_eq!(mapping["state"], "ACTIVE");
    assert_eq!(mapping["secret_proven"], true);
    assert_eq!(mapping["consumer_key"], prod.id.as_str());

    let map_args = |key_type: &'static str, client: &str, extra: &[&'static str]| {
        let mut args = vec![
            "map".to_owned(),
            app.clone(),
            "--key-manager".into(),
            "IS".into(),
            "--key-type".into(),
            key_type.into(),
            "--consumer-key".into(),
            client.to_owned(),
        ];
        args.extend(extra.iter().map(|e| (*e).to_owned()));
        args
    };
    // A retry: answered as a success.
    let again = env.expect_with(
        OK,
        &strs(&map_args("PRODUCTION", &prod.id, &["--secret-stdin"])),
        Some(&prod.secret),
        &[],
    );
    assert_eq!(again.json()["outcome"], "already existed");
    // The secret from an environment variable.
    let by_env = env.expect_with(
        OK,
        &strs(&map_args(
            "SANDBOX",
            &sandbox.id,
            &["--secret-env", "SHOP_SECRET"],
        )),
        None,
        &[("SHOP_SECRET", &sandbox.secret)],
    );
    assert_eq!(by_env.json()["mapping"]["key_type"], "SANDBOX");

    let other = create_app(env, "Other", "alice");
    let other_args = |km: &str, key_type: &str, client: &str, extra: &[&str]| {
        let mut args = vec![
            "map",
            &other,
            "--key-manager",
            km,
            "--key-type",
            key_type,
            "--consumer-key",
            client,
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
        args.extend(extra.iter().map(|e| (*e).to_owned()));
        args
    };
    // No secret and no terminal to ask on.
    let run = env.expect(INPUT, &strs(&other_args("IS", "PRODUCTION", "x", &[])));
    assert!(s(&run.error()["message"]).contains("--secret-stdin"));
    env.expect_with(
        INPUT,
        &strs(&other_args(
            "IS",
            "PRODUCTION",
            "x",
            &["--secret-env", "UNSET_VAR"],
        )),
        None,
        &[],
    );
    // The secret is never an argument.
    assert_eq!(
        env.run(&strs(&other_args(
            "IS",
            "PRODUCTION",
            "x",
            &["--secret", "s3cr3t"]
        )))
        .code,
        USAGE
    );
    let fresh = env.client("other-prod");
    let wrong = env.expect_with(
        KEY_MANAGER_REFUSED,
        &strs(&other_args(
            "IS",
            "PRODUCTION",
            &fresh.id,
            &["--secret-stdin"],
        )),
        Some(&sandbox.secret),
        &[],
    );
    assert_eq!(wrong.error()["code"], 901422);
    let unknown = env.expect_with(
        KEY_MANAGER_REFUSED,
        &strs(&other_args(
            "IS",
            "PRODUCTION",
            "no-such-client",
            &["--secret-stdin"],
        )),
        Some("whatever"),
        &[],
    );
    assert_eq!(unknown.error()["code"], 901421);
    let closed = env.expect_with(
        FORBIDDEN,
        &strs(&other_args(
            "Closed",
            "PRODUCTION",
            &fresh.id,
            &["--secret-stdin"],
        )),
        Some(&fresh.secret),
        &[],
    );
    assert_eq!(closed.error()["code"], 901420);
    let taken = env.expect_with(
        CONFLICT,
        &strs(&other_args(
            "IS",
            "PRODUCTION",
            &prod.id,
            &["--secret-stdin"],
        )),
        Some(&prod.secret),
        &[],
    );
    assert_eq!(taken.error()["code"], 901409);
    let nokm = env.expect_with(
        NOT_FOUND,
        &strs(&other_args(
            "Nope",
            "PRODUCTION",
            &fresh.id,
            &["--secret-stdin"],
        )),
        Some(&fresh.secret),
        &[],
    );
    assert_eq!(nokm.error()["code"], 901403);
    env.expect_with(
        INPUT,
        &strs(&other_args("IS", "PROD", &fresh.id, &["--secret-stdin"])),
        Some(&fresh.secret),
        &[],
    );

    // Keys, as JSON and as a table.
    let keys = env.json(&["keys", &app]);
    assert_eq!(keys.as_array().unwrap().len(), 2);
    let table = env.run(&["keys", "Shop", "--owner", "alice"]);
    assert!(table.stdout.contains(&prod.id) && table.stdout.contains("ACTIVE"));

    // A token through the mapped client: the token alone on a line, or JSON.
    let token_args = [
        "token",
        &app,
        "--key-manager",
        "IS",
        "--key-type",
        "PRODUCTION",
        "--secret-stdin",
    ];
    let token = env
        .expect_with(OK, &token_args, Some(&prod.secret), &[])
        .json();
    let token = s(&token["access_token"]).to_owned();
    assert!(token.len() > 20, "{token}");
    let plain = env.run_with(&token_args, Some(&prod.secret), &[]);
    assert_eq!(plain.code, OK, "{}", plain.stderr);
    assert_eq!(
        plain.stdout.trim().split('.').count(),
        3,
        "a JWT: {}",
        plain.stdout
    );
    let wrong = env.expect_with(
        KEY_MANAGER_REFUSED,
        &token_args,
        Some("not-the-secret"),
        &[],
    );
    assert_eq!(wrong.error()["code"], 901422);

    // The gateway's account: the API and the subscription come from the portal; here the
    // library writes them into the same store.
    let store = env.open_store();
    let provisioner = keyprov::Provisioner::builder()
        .store(store)
        .key_managers(keyprov::KeyManagers::new())
        .build()
        .unwrap();
    let api = keyprov::ApiId::new("pizzashack-1.0.0").unwrap();
    let org = keyprov::OrganizationId::new("carbon.super").unwrap();
    env.rt.block_on(async {
        provisioner
            .put_api(keyprov::Api::new(
                api.clone(),
                "PizzaShack",
                "1.0.0",
                "/pizzashack/1.0.0",
                org,
            ))
            .await
            .unwrap();
        provisioner
            .subscribe(
                &keyprov::Actor::admin("carol").unwrap(),
                app.parse().unwrap(),
                &api,
            )
            .await
            .unwrap();
    });
    drop(provisioner);
    let explain = ["explain", "--api", "pizzashack-1.0.0", "--key-type"];
    let accepted = env.expect_with(
        OK,
        &[&explain[..], &["PRODUCTION"]].concat(),
        Some(&token),
        &[],
    );
    let value = accepted.json();
    assert_eq!(value["outcome"]["accepted"], true);
    assert_eq!(value["outcome"]["application"], app.as_str());
    assert!(value["steps"].as_array().unwrap().len() >= 5, "{value}");
    let refused = env.expect_with(
        SOME_FAILED,
        &[&explain[..], &["SANDBOX", "--token-env", "TOKEN"]].concat(),
        None,
        &[("TOKEN", &token)],
    );
    assert_eq!(refused.json()["outcome"]["code"], "key_type_mismatch");
    let text = env.run_with(&[&explain[..], &["SANDBOX"]].concat(), Some(&token), &[]);
    assert_eq!(text.code, SOME_FAILED);
    assert!(text.stdout.contains("step 1:") && text.stdout.contains("refused at step"));
    for run in [&accepted, &refused, &text] {
        assert!(!run.stdout.contains(&token) && !run.stderr.contains(&token));
    }

    // Unmap.
    let id = s(&mapping["id"]).to_owned();
    let removed = env.json(&["unmap", &app, &id]);
    assert_eq!(removed["removed"]["id"], id.as_str());
    assert_eq!(env.json(&["keys", &app]).as_array().unwrap().len(), 1);
    assert_eq!(
        env.expect(NOT_FOUND, &["unmap", &app, &id]).error()["code"],
        901407
    );
    env.expect(INPUT, &["unmap", &app, "not-a-mapping-id"]);
}

#[test]
fn clients_are_mapped_listed_unmapped_and_give_tokens_and_explanations() {
    mapping_and_tokens(&Env::sqlite());
}

/// Four mappings: one client deleted at IS, one no longer allowed client_credentials, two
/// healthy; then one at an
/// unreachable key manager.
pub(crate) fn recheck(env: &Env) {
    let clients: Vec<Client> = (0..4).map(|i| env.client(&format!("rc-{i}"))).collect();
    let a = create_app(env, "RecheckA", "alice");
    let b = create_app(env, "RecheckB", "bob");
    let mut ids = Vec::new();
    for (i, (app, key_type)) in [
        (&a, "PRODUCTION"),
        (&a, "SANDBOX"),
        (&b, "PRODUCTION"),
        (&b, "SANDBOX"),
    ]
    .into_iter()
    .enumerate()
    {
        ids.push(s(&map(env, app, "IS", key_type, &clients[i])["id"]).to_owned());
    }
    env.is.console().delete(&clients[0].id).unwrap();
    // No client_credentials any more: the client exists but cannot be used.
    env.is
        .console()
        .update_protocol(
            &clients[1].id,
            km_wso2is::emulator::Protocol::new().grant_types(["authorization_code"]),
        )
        .unwrap();

    let run = env.expect(OK, &["recheck", "--all", "--concurrency", "2"]);
    let report = run.json();
    assert_eq!(
        (
            &report["checked"],
            &report["changed"],
            &report["unchanged"],
            &report["failed"]
        ),
        (&4.into(), &2.into(), &2.into(), &0.into()),
        "{report}"
    );
    assert_eq!(report["transitions"]["ACTIVE -> ORPHANED"], 1);
    assert_eq!(report["transitions"]["ACTIVE -> SUSPENDED"], 1);
    assert_eq!(report["transitions"]["ACTIVE -> ACTIVE"], 2);
    // Not a terminal: plain progress lines.
    assert_eq!(
        run.stderr.matches("rechecked ").count(),
        4,
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("rechecked 4/4"));
    let states: Vec<Value> = env
        .json(&["keys", &a])
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["state"].clone())
        .collect();
    assert_eq!(states, ["ORPHANED", "SUSPENDED"]);

    // One mapping; then nothing changes.
    let one = env.json(&["recheck", &ids[0]]);
    assert_eq!(one["mappings"][0]["after"], "ORPHANED");
    assert_eq!(one["unchanged"], 1);
    env.expect(
        NOT_FOUND,
        &["recheck", "00000000-0000-4000-8000-000000000000"],
    );
    env.expect(NOT_FOUND, &["recheck", "--all", "--key-manager", "Nope"]);
    assert_eq!(
        env.run(&["recheck", "--all", "--concurrency", "0"]).code,
        USAGE
    );
    assert_eq!(env.run(&["recheck"]).code, USAGE);

    // An unreachable key manager: that mapping fails, the others are checked.
    let down = create_app(env, "OnDown", "alice");
    let down_mapping = env.json(&[
        "map",
        &down,
        "--key-manager",
        "Down",
        "--key-type",
        "PRODUCTION",
        "--consumer-key",
        "c-down",
        "--no-secret",
    ]);
    let down_id = s(&down_mapping["mapping"]["id"]).to_owned();
    let failed = env.expect(SOME_FAILED, &["recheck", "--all"]).json();
    assert_eq!(
        (&failed["checked"], &failed["failed"]),
        (&5.into(), &1.into())
    );
    assert_eq!(
        failed["mappings"][0]["error"]["code"], 901424,
        "failures first: {failed}"
    );
    assert_eq!(failed["transitions"]["ACTIVE -> error 901424"], 1);
    let only_is = env.json(&["recheck", "--all", "--key-manager", "IS"]);
    assert_eq!(only_is["checked"], 4);
    let single = env.expect(KEY_MANAGER_UNAVAILABLE, &["recheck", &down_id]);
    assert_eq!(single.error()["class"], "key_manager_unavailable");
    env.expect_with(
        KEY_MANAGER_UNAVAILABLE,
        &[
            "token",
            &down,
            "--key-manager",
            "Down",
            "--key-type",
            "PRODUCTION",
            "--secret-stdin",
        ],
        Some("x"),
        &[],
    );

    // The summary table.
    let table = env.run(&["recheck", "--all", "--key-manager", "IS"]);
    assert_eq!(table.code, OK);
    assert!(table.stdout.contains("OUTCOME") && table.stdout.contains("ACTIVE -> ACTIVE"));
    assert!(
        table
            .stdout
            .contains("4 checked: 4 unchanged, 0 changed, 0 failed"),
        "{}",
        table.stdout
    );
}

#[test]
fn recheck_moves_drifted_mappings_and_reports_each_outcome() {
    recheck(&Env::sqlite());
}

/// Writes `rows` (after the header) as `name` in the test directory; its path.
fn csv_file(env: &Env, name: &str, rows: &[String]) -> String {
    let path = env.dir.path().join(name);
    let mut text = "owner,application,key_type,key_manager,consumer_key,secret_env\n".to_owned();
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Every export row, sorted.
fn export_rows(env: &Env, store: &str, config: &str) -> Vec<String> {
    let run = env.run(&["--store", store, "--config", config, "export"]);
    assert_eq!(run.code, OK, "{}", run.stderr);
    let mut lines: Vec<String> = run.stdout.lines().map(str::to_owned).collect();
    assert_eq!(
        lines.remove(0),
        "owner,application,key_type,key_manager,consumer_key,secret_env"
    );
    lines.sort();
    lines
}

/// A dry run, a file with bad rows, the import for real, the audit trail, export and import
/// into an empty store. `second_store` is another, empty store.
pub(crate) fn import_export_audit(env: &Env, second_store: &str) {
    let clients: Vec<Client> = (0..3)
        .map(|i| env.client(&format!("onboard-{i}")))
        .collect();
    let secrets: Vec<(String, String)> = clients
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("ONBOARD_SECRET_{i}"), c.secret.clone()))
        .collect();
    let env_vars: Vec<(&str, &str)> = secrets
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let good = [
        format!(
            "alice,Shop,PRODUCTION,IS,{},ONBOARD_SECRET_0",
            clients[0].id
        ),
        format!("alice,Shop,SANDBOX,IS,{},ONBOARD_SECRET_1", clients[1].id),
        format!(
            "bob,Billing,PRODUCTION,IS,{},ONBOARD_SECRET_2",
            clients[2].id
        ),
    ];
    let file = csv_file(env, "clients.csv", &good);

    // The dry run checks everything and writes nothing.
    let dry = env.expect_with(OK, &["import", &file, "--dry-run"], None, &env_vars);
    let report = dry.json();
    assert_eq!(
        (&report["rows"], &report["dry_run"], &report["stored"]),
        (&3.into(), &true.into(), &0.into())
    );
    assert_eq!(report["failures"], Value::Array(vec![]));
    assert!(dry.stderr.contains("checked 3/3 rows"), "{}", dry.stderr);
    assert_eq!(env.json(&["apps", "list"]), Value::Array(vec![]));
    assert_eq!(env.json(&["audit", "list"]), Value::Array(vec![]));
    // A dry run still validates at the key manager: a wrong secret fails it.
    let mut wrong_env = env_vars.clone();
    wrong_env[1].1 = "not-the-secret";
    let wrong = env.expect_with(
        SOME_FAILED,
        &["import", &file, "--dry-run"],
        None,
        &wrong_env,
    );
    assert_eq!(wrong.json()["failures"][0]["line"], 3);
    assert_eq!(wrong.json()["failures"][0]["code"], 901422);

    // Bad rows: each named by its line with its code, and nothing stored.
    let mut rows = good.to_vec();
    rows.push(format!("carol,Reports,PROD,IS,{},", clients[0].id)); // line 5: key type
    rows.push("carol,Reports,PRODUCTION,IS,ck-x,NOT_SET_ANYWHERE".into()); // line 6: no variable
    rows.push(format!(
        "dave,Dup,PRODUCTION,IS,{},ONBOARD_SECRET_2",
        clients[2].id
    )); // line 7: twice
    rows.push("erin,Gated,PRODUCTION,Closed,ck-y,".into()); // line 8: gate shut
    let bad_file = csv_file(env, "bad.csv", &rows);
    let refused = env.expect_with(SOME_FAILED, &["import", &bad_file], None, &env_vars);
    let report = refused.json();
    let failures: Vec<(u64, u64)> = report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["line"].as_u64().unwrap(), f["code"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        failures,
        [(5, 901400), (6, 901400), (7, 901409), (8, 901420)],
        "{report}"
    );
    assert_eq!(report["stored"], 0);
    assert_eq!(report["dry_run"], false);
    assert_eq!(env.json(&["apps", "list"]), Value::Array(vec![]));
    let table = env.run_with(&["import", &bad_file], None, &env_vars);
    assert_eq!(table.code, SOME_FAILED);
    assert!(table.stdout.starts_with("LINE"), "{}", table.stdout);
    assert!(
        table
            .stdout
            .contains("refused: 4 of 7 rows failed; nothing was stored")
    );
    // A file that is not in the format at all.
    let wrong_header = env.dir.path().join("wrong.csv");
    std::fs::write(&wrong_header, "owner,application,secret\n").unwrap();
    env.expect(INPUT, &["import", wrong_header.to_str().unwrap()]);
    env.expect(INPUT, &["import", "no-such-file.csv"]);

    // For real, under a request id the audit trail shows.
    let done = env.expect_with(
        OK,
        &["--request-id", "onboarding-1", "import", &file],
        None,
        &env_vars,
    );
    let report = done.json();
    assert_eq!(
        (&report["stored"], &report["applications_created"]),
        (&3.into(), &2.into())
    );
    assert_eq!(report["request_id"], "onboarding-1");
    let shop_keys = env.json(&["keys", "Shop"]);
    assert_eq!(shop_keys.as_array().unwrap().len(), 2);
    assert!(
        shop_keys
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["validated"] == true)
    );

    // The audit trail: the three imported rows, then a refused attempt and a removal.
    env.expect_with(
        FORBIDDEN,
        &[
            "map",
            "Billing",
            "--key-manager",
            "Closed",
            "--key-type",
            "SANDBOX",
            "--consumer-key",
            "ck-z",
            "--secret-stdin",
        ],
        Some("x"),
        &[],
    );
    let billing = env.json(&["keys", "Billing"]);
    let billing_mapping = s(&billing[0]["id"]).to_owned();
    env.json(&["--as", "user:bob", "unmap", "Billing", &billing_mapping]);
    assert_eq!(env.json(&["keys", "Billing"]), Value::Array(vec![]));
    let trail = env.json(&["audit", "list"]);
    let records = trail.as_array().unwrap();
    let actions: Vec<&str> = records.iter().map(|r| s(&r["action"])).collect();
    assert_eq!(
        actions,
        [
            "imported",
            "imported",
            "imported",
            "provisioning_refused",
            "mapping_removed"
        ],
        "{trail}"
    );
    assert!(
        records[..3]
            .iter()
            .all(|r| r["request_id"] == "onboarding-1" && r["code"].is_null())
    );
    assert_eq!(
        records[0]["actor"],
        serde_json::json!({"kind": "admin", "id": "carol"})
    );
    assert_eq!(records[3]["code"], 901420);
    assert_eq!(
        records[4]["actor"],
        serde_json::json!({"kind": "user", "id": "bob"})
    );
    // Queries.
    let count = |args: &[&str]| {
        let mut all = vec!["audit", "list"];
        all.extend_from_slice(args);
        env.json(&all).as_array().unwrap().len()
    };
    assert_eq!(count(&["--application", "Shop"]), 2);
    assert_eq!(count(&["--actor", "user:bob"]), 1);
    assert_eq!(count(&["--key-manager", "IS"]), 4);
    assert_eq!(count(&["--since", "1h"]), 5);
    assert_eq!(count(&["--until", "2000-01-01T00:00:00Z"]), 0);
    assert_eq!(count(&["--limit", "2"]), 2);
    env.expect(INPUT, &["audit", "list", "--since", "yesterday"]);
    let table = env.run(&["audit", "list"]);
    assert!(table.stdout.starts_with("SEQ"), "{}", table.stdout);
    assert!(table.stdout.contains("provisioning_refused") && table.stdout.contains("901420"));
    // A user reads only the trail of their own applications.
    env.expect(INPUT, &["--as", "user:bob", "audit", "list"]);
    let own = env.json(&[
        "--as",
        "user:bob",
        "audit",
        "list",
        "--application",
        "Billing",
    ]);
    assert_eq!(own.as_array().unwrap().len(), 3, "{own}");
    let shop = env.json(&["keys", "Shop"])[0]["application"].clone();
    env.expect(
        FORBIDDEN,
        &[
            "--as",
            "user:bob",
            "audit",
            "list",
            "--application",
            s(&shop),
        ],
    );

    // Export, then import into an empty store, where validation is off (the file holds no
    // secrets): the same rows.
    let exported = export_rows(env, &env.store, env.config.to_str().unwrap());
    assert_eq!(exported.len(), 2);
    assert!(
        exported.iter().all(|r| r.ends_with(',')),
        "no secret_env: {exported:?}"
    );
    let export_file = env.dir.path().join("export.csv");
    let written = env.json(&["export", "--file", export_file.to_str().unwrap()]);
    assert_eq!(written["rows"], 2);
    let no_validation = env.dir.path().join("no-validation.toml");
    let config = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &no_validation,
        format!("[apim.key_manager]\nenable_provisioned_app_validation = false\n{config}"),
    )
    .unwrap();
    let second = [
        "--store",
        second_store,
        "--config",
        no_validation.to_str().unwrap(),
    ];
    let imported = env.json(&[&second[..], &["import", export_file.to_str().unwrap()]].concat());
    assert_eq!(imported["stored"], 2);
    assert_eq!(
        export_rows(env, second_store, no_validation.to_str().unwrap()),
        exported
    );
    // JSON Lines too, through standard input.
    let jsonl = env.run(&["export", "--format", "jsonl"]);
    assert_eq!(jsonl.code, OK);
    let lines: Vec<Value> = jsonl
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l.get("secret_env").is_none()));
    let again = env.expect_with(
        SOME_FAILED,
        &[&second[..], &["import", "-", "--format", "jsonl"]].concat(),
        Some(&jsonl.stdout),
        &[],
    );
    // Already there: each row conflicts.
    assert_eq!(again.json()["failures"][0]["code"], 901409);

    // Retention: the configuration's, or a time given.
    let run = env.expect(INPUT, &["audit", "prune"]);
    assert!(s(&run.error()["message"]).contains("retention_days"));
    let retention = env.dir.path().join("retention.toml");
    std::fs::write(&retention, format!("[audit]\nretention_days = 1\n{config}")).unwrap();
    let kept = env.json(&["--config", retention.to_str().unwrap(), "audit", "prune"]);
    assert_eq!(kept["pruned"], 0);
    assert_eq!(count(&[]), 5);
    let pruned = env.json(&["audit", "prune", "--older-than", "0s"]);
    assert_eq!(pruned["pruned"], 5);
    assert_eq!(count(&[]), 0);
    env.expect(INPUT, &["audit", "prune", "--older-than", "soon"]);
}

#[test]
fn import_dry_run_bad_rows_audit_and_export_round_trip() {
    let env = Env::sqlite();
    let second = env.dir.path().join("second.db").display().to_string();
    import_export_audit(&env, &second);
}
