//! The `keyprov` binary, run as an operator would: against an emulated WSO2 Identity Server
//! started in this process on loopback, a configuration file pointing at it, and a real store
//! (an SQLite file; PostgreSQL with `KEYPROV_PG_URL`, ignored without it).
//!
//! Every run's standard output and standard error are searched for every consumer secret the
//! test has created: none may appear.

mod flows;
mod postgres;
mod terminal;

use std::path::PathBuf;
use std::process::Output;
use std::sync::{Arc, Mutex};

use assert_cmd::Command;
use keyprov::store::postgres::{PostgresConfig, PostgresStore};
use keyprov::store::{SqliteStore, Store};
use km_wso2is::emulator::{IsTokenType, IsVersion, Protocol, Wso2IsEmulator};
use serde_json::Value;

/// The documented exit codes.
pub(crate) mod exit {
    pub(crate) const OK: i32 = 0;
    pub(crate) const USAGE: i32 = 2;
    pub(crate) const INPUT: i32 = 3;
    pub(crate) const NOT_FOUND: i32 = 4;
    pub(crate) const CONFLICT: i32 = 5;
    pub(crate) const FORBIDDEN: i32 = 6;
    pub(crate) const KEY_MANAGER_REFUSED: i32 = 7;
    pub(crate) const KEY_MANAGER_UNAVAILABLE: i32 = 8;
    pub(crate) const SOME_FAILED: i32 = 9;
}

/// A client created in the emulated IS console.
pub(crate) struct Client {
    pub(crate) id: String,
    pub(crate) secret: String,
}

/// The outcome of one run.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Standard output as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// The JSON error object of a failed `--output json` run.
    pub(crate) fn error(&self) -> Value {
        let line = self.stderr.lines().last().unwrap_or_default();
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stderr's last line is not JSON ({e}):\n{}", self.stderr));
        value["error"].clone()
    }
}

/// An emulated IS, a configuration file and a store, and the binary to run against them.
pub(crate) struct Env {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) is: Wso2IsEmulator,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) config: PathBuf,
    pub(crate) store: String,
    secrets: Arc<Mutex<Vec<String>>>,
}

impl Env {
    /// With an SQLite file in a temporary directory.
    pub(crate) fn sqlite() -> Self {
        Self::new(|dir| dir.join("keyprov.db").display().to_string())
    }

    /// With the store `url` gives for the temporary directory.
    pub(crate) fn new(url: impl FnOnce(&std::path::Path) -> String) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let is = rt.block_on(Wso2IsEmulator::start(IsVersion::V7)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("keyprov.toml");
        let (admin, password) = is.admin_credentials();
        let connection = format!(
            "[key_managers.connection]\nbase_url = \"{}\"\n\
             admin = {{ kind = \"basic\", username = \"{admin}\", password = \"{password}\" }}\n",
            is.base_url()
        );
        let text = format!(
            "[[key_managers]]\nname = \"IS\"\ntype = \"wso2is\"\nenable_map_oauth_consumer_apps = true\n{connection}\n\
             [[key_managers]]\nname = \"Closed\"\ntype = \"wso2is\"\n\
             issuer = \"https://closed.example/oauth2/token\"\n{connection}\n\
             [[key_managers]]\nname = \"Down\"\ntype = \"wso2is\"\nenable_map_oauth_consumer_apps = true\n\
             provisioned_app_validation = false\n\
             [key_managers.connection]\nbase_url = \"http://127.0.0.1:9\"\n\
             admin = {{ kind = \"basic\", username = \"admin\", password = \"admin\" }}\n\
             [key_managers.connection.http]\nconnect_timeout = 300\nrequest_timeout = 1000\n\
             retry = {{ max_attempts = 1 }}\n"
        );
        std::fs::write(&config, text).unwrap();
        let store = url(dir.path());
        Self {
            rt,
            is,
            dir,
            config,
            store,
            secrets: Arc::default(),
        }
    }

    /// A confidential client with client_credentials, created in the IS console. Its secret is
    /// watched for in every output from now on.
    pub(crate) fn client(&self, name: &str) -> Client {
        let console = self.is.console();
        let created = console.create_traditional_application(name).unwrap();
        console
            .update_protocol(
                &created.client_id,
                Protocol::new()
                    .grant_types(["client_credentials"])
                    .token_type(IsTokenType::Jwt),
            )
            .unwrap();
        self.secrets
            .lock()
            .unwrap()
            .push(created.client_secret.clone());
        Client {
            id: created.client_id,
            secret: created.client_secret,
        }
    }

    /// The binary with the configuration and the store, acting as admin:carol.
    pub(crate) fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("keyprov").unwrap();
        cmd.env_remove("NO_COLOR")
            .env("KEYPROV_ACTOR", "admin:carol")
            .env("KEYPROV_CONFIG", &self.config)
            .env("KEYPROV_STORE", &self.store)
            .current_dir(self.dir.path())
            .timeout(std::time::Duration::from_secs(60));
        cmd
    }

    /// Runs `keyprov ARGS` with `stdin` and extra environment, and checks that no secret is in
    /// its output.
    pub(crate) fn run_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
        let mut cmd = self.cmd();
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.write_stdin(stdin.unwrap_or(""));
        let output: Output = cmd.output().unwrap();
        let run = Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        self.assert_no_secret(&format!("keyprov {args:?}"), &run.stdout, &run.stderr);
        run
    }

    /// Asserts that no client secret created so far appears in `texts`.
    pub(crate) fn assert_no_secret(&self, what: &str, stdout: &str, stderr: &str) {
        for secret in self.secrets.lock().unwrap().iter() {
            assert!(
                !stdout.contains(secret.as_str()) && !stderr.contains(secret.as_str()),
                "{what} printed a consumer secret:\n{stdout}\n{stderr}"
            );
        }
    }

    /// Runs `keyprov ARGS`.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, None, &[])
    }

    /// Runs `keyprov --output json ARGS`, expects `code`, and returns the run.
    pub(crate) fn expect(&self, code: i32, args: &[&str]) -> Run {
        self.expect_with(code, args, None, &[])
    }

    /// As [`Env::expect`], with standard input and environment.
    pub(crate) fn expect_with(
        &self,
        code: i32,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
    ) -> Run {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        let run = self.run_with(&all, stdin, env);
        assert_eq!(
            run.code, code,
            "keyprov {args:?} exited {} (expected {code}):\n{}\n{}",
            run.code, run.stdout, run.stderr
        );
        run
    }

    /// `--output json ARGS`, successful, parsed.
    pub(crate) fn json(&self, args: &[&str]) -> Value {
        self.expect(exit::OK, args).json()
    }

    /// The store, opened in this process (to set up what the portal would: APIs,
    /// subscriptions).
    pub(crate) fn open_store(&self) -> Arc<dyn Store> {
        if self.store.starts_with("postgres") {
            let (url, schema) = self.store.split_once("?schema=").unwrap();
            let config = PostgresConfig::builder(url)
                .schema(schema)
                .change_feed(false)
                .build()
                .unwrap();
            self.rt
                .block_on(PostgresStore::open(config))
                .map(|s| Arc::new(s) as Arc<dyn Store>)
                .unwrap()
        } else {
            Arc::new(SqliteStore::open(&self.store).unwrap())
        }
    }
}
