//! On a terminal: the progress bar is drawn, and tables are coloured unless `NO_COLOR` is
//! set. Run in a real pseudo-terminal with util-linux's `script`.

use std::process::Command;
use std::time::Duration;

use km_oidc::emulator::Fault;

use crate::Env;
use crate::flows::{create_app, map};

/// Runs `keyprov ARGS` in a pseudo-terminal; what the terminal received.
fn in_terminal(env: &Env, args: &str, no_color: bool) -> String {
    typed_in_terminal(env, args, no_color, None)
}

/// As [`in_terminal`], typing `typed` and Enter two seconds after the start (once a prompt is
/// up).
fn typed_in_terminal(env: &Env, args: &str, no_color: bool, typed: Option<&str>) -> String {
    let bin = assert_cmd::cargo::cargo_bin("keyprov");
    let line = format!(
        "{} --config {} --store {} {args}",
        bin.display(),
        env.config.display(),
        env.store
    );
    let script = format!("script -qec '{line}' /dev/null");
    let shell = match typed {
        Some(text) => format!("(sleep 2; printf '%s\\n' '{text}') | {script}"),
        None => format!("{script} </dev/null"),
    };
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &shell])
        .env("KEYPROV_ACTOR", "admin:carol")
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let output = cmd.output().expect("util-linux script");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    env.assert_no_secret("keyprov in a terminal", &text, "");
    assert!(output.status.success(), "{line}: {text}");
    text
}

#[test]
fn a_terminal_gets_a_progress_bar_and_colour_unless_no_color() {
    let env = Env::sqlite();
    let app = create_app(&env, "Drawn", "alice");
    for key_type in ["PRODUCTION", "SANDBOX"] {
        map(
            &env,
            &app,
            "IS",
            key_type,
            &env.client(&format!("drawn-{key_type}")),
        );
    }
    // Each check takes 400 ms, one at a time: the bar is drawn several times.
    env.is
        .faults()
        .inject(Fault::Latency(Duration::from_millis(400)).on("/api/identity"));
    let text = in_terminal(&env, "recheck --all --concurrency 1", false);
    env.is.faults().clear();
    assert!(text.contains("rechecking ["), "no bar drawn: {text:?}");
    assert!(text.contains("/2"), "no position: {text:?}");
    assert!(
        !text.contains("rechecked 1/2"),
        "plain lines on a terminal: {text:?}"
    );
    // The summary table, coloured.
    assert!(text.contains("2 checked: 2 unchanged"), "{text:?}");

    let plain = in_terminal(&env, &format!("keys {app}"), true);
    assert!(plain.contains("ACTIVE"), "{plain:?}");
    assert!(!plain.contains("\x1b[3"), "colour with NO_COLOR: {plain:?}");
    let coloured = in_terminal(&env, &format!("keys {app}"), false);
    assert!(coloured.contains("\x1b[1mMAPPING"), "{coloured:?}");
    assert!(coloured.contains("\x1b[32mACTIVE"), "{coloured:?}");
}

#[test]
fn the_secret_is_asked_for_without_echo_on_a_terminal() {
    let env = Env::sqlite();
    let app = create_app(&env, "Prompted", "alice");
    let client = env.client("prompted");
    let text = typed_in_terminal(
        &env,
        &format!(
            "map {app} --key-manager IS --key-type PRODUCTION --consumer-key {}",
            client.id
        ),
        true,
        Some(&client.secret),
    );
    // typed_in_terminal has checked that the secret is not in what the terminal shows.
    assert!(text.starts_with("consumer secret: "), "{text:?}");
    assert!(text.contains("mapping created"), "{text:?}");
    let keys = env.json(&["keys", &app]);
    assert_eq!(keys[0]["secret_proven"], true, "{keys}");
}
