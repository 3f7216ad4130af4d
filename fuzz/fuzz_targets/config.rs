//! The native configuration file (`Config::from_toml_str`) and WSO2's `deployment.toml`
//! (`GlobalSettings::from_wso2_deployment_str`), fed the same text.
#![no_main]

use keyprov::{Config, Error, GlobalSettings};
use libfuzzer_sys::fuzz_target;

const CANARY: &str = "kp-canary-0a7c41-secret";

/// Every refusal is `Error::Config`, code 901431, in the house style, and quotes no secret.
fn check_error(err: &Error, text: &str) {
    let Error::Config { key, problem } = err else {
        panic!("not a configuration error: {err:?}")
    };
    assert_eq!(err.code(), 901431);
    assert!(!key.is_empty(), "{err}");
    assert!(keyprov_fuzz::is_house_style(problem), "{problem:?}");
    if !text.contains(CANARY) {
        assert!(!format!("{err} {err:?}").contains(CANARY), "{err}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let native = Config::from_toml_str(text);
    let wso2 = GlobalSettings::from_wso2_deployment_str(text);
    match &native {
        Ok(config) => {
            // The strict reader accepting means the lenient one reads the same switches.
            assert_eq!(wso2.as_ref().ok(), Some(&config.global));
            let mut ids: Vec<_> = config.key_managers.iter().map(|e| &e.config.id).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), config.key_managers.len(), "ids are unique");
            for entry in &config.key_managers {
                entry.config.validate().unwrap();
            }
        }
        Err(err) => check_error(err, text),
    }
    if let Err(err) = &wso2 {
        check_error(err, text);
    }
    if text.contains(CANARY) {
        return;
    }

    // A secret in the file, before the fuzzed text: no refusal quotes it, and an adapter
    // reading it as a secret does not either.
    let planted = format!(
        "[[key_managers]]\nname = \"planted\"\n[key_managers.connection]\npassword = \"{CANARY}\"\n{text}"
    );
    match Config::from_toml_str(&planted) {
        Ok(config) => {
            for entry in &config.key_managers {
                if let Err(err) = entry
                    .connection
                    .read_lenient(|s| s.require_secret("password"))
                {
                    check_error(&err, &planted);
                }
            }
        }
        Err(err) => check_error(&err, text),
    }
    let planted = format!("[super_admin]\nusername = \"admin\"\npassword = \"{CANARY}\"\n{text}");
    if let Err(err) = GlobalSettings::from_wso2_deployment_str(&planted) {
        check_error(&err, text);
    }
});
