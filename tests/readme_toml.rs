//! Every TOML snippet of the READMEs (and of `docs/*.md`, the config module's docs) is read by
//! the parser it is written for, strictly: a misspelt key, a key no parser consumes, or a key
//! manager whose `type` is no adapter fails here.
//!
//! A snippet is either a whole native configuration file (`keyprov::Config`, then each key
//! manager's `connection` table by the adapter its `type` names) or, when it has a
//! `[dependencies]` table or a `toml,cargo` fence, a Cargo manifest fragment whose
//! dependencies on this workspace's crates must name features those crates have.

use std::path::{Path, PathBuf};

use keyprov::config::KeyManagerEntry;

/// The adapters a key manager's `type` may name, and their connection parsers.
const ADAPTERS: &[&str] = &["oidc", "wso2is", "keycloak"];

fn read_connection(entry: &KeyManagerEntry) -> keyprov::Result<()> {
    let id = entry.config.id.clone();
    match entry.kind.as_deref() {
        Some("oidc") => km_oidc::OidcConfig::from_connection(id, &entry.connection).map(drop),
        Some("wso2is") => km_wso2is::Wso2IsConfig::from_connection(id, &entry.connection).map(drop),
        Some("keycloak") => {
            km_keycloak::KeycloakConfig::from_connection(id, &entry.connection).map(drop)
        }
        other => Err(keyprov::Error::config(
            format!(
                "{}.type",
                entry.connection.path().trim_end_matches(".connection")
            ),
            format!("{other:?} is not one of the adapters {ADAPTERS:?}"),
        )),
    }
}

#[derive(Debug)]
struct Snippet {
    /// `file:line` of the opening fence.
    at: String,
    fence: String,
    text: String,
}

/// The ```toml blocks of a Markdown text (or of `//!` docs, with the prefix removed).
fn snippets(name: &str, text: &str) -> Vec<Snippet> {
    let mut found = Vec::new();
    let mut open: Option<Snippet> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw
            .trim_start()
            .strip_prefix("//!")
            .map_or(raw, |l| l.strip_prefix(' ').unwrap_or(l));
        let closing = line.trim_start().starts_with("```");
        match open.as_mut() {
            None => {
                if let Some(fence) = line.trim_start().strip_prefix("```")
                    && fence.split(',').next() == Some("toml")
                {
                    open = Some(Snippet {
                        at: format!("{name}:{}", index + 1),
                        fence: fence.to_owned(),
                        text: String::new(),
                    });
                }
            }
            Some(_) if closing => found.extend(open.take()),
            Some(snippet) => {
                snippet.text.push_str(line);
                snippet.text.push('\n');
            }
        }
    }
    found
}

fn is_cargo_manifest(snippet: &Snippet) -> bool {
    snippet.fence.split(',').any(|tag| tag.trim() == "cargo")
        || snippet
            .text
            .lines()
            .any(|l| l.trim_start().starts_with("[dependencies") || l.trim() == "[package]")
}

/// A Cargo manifest fragment: it parses, and a dependency on one of this workspace's crates
/// asks only for features that crate has.
fn check_cargo(snippet: &Snippet, root: &Path) -> Result<(), String> {
    let manifest: toml::Table = toml::from_str(&snippet.text).map_err(|e| e.to_string())?;
    let crates = [
        ("keyprov", "Cargo.toml"),
        ("km-oidc", "km-oidc/Cargo.toml"),
        ("km-wso2is", "km-wso2is/Cargo.toml"),
        ("km-keycloak", "km-keycloak/Cargo.toml"),
        ("keyprov-rest", "keyprov-rest/Cargo.toml"),
    ];
    for section in ["dependencies", "dev-dependencies"] {
        let Some(deps) = manifest.get(section).and_then(|d| d.as_table()) else {
            continue;
        };
        for (name, spec) in deps {
            let Some((_, path)) = crates.iter().find(|(c, _)| c == name) else {
                continue;
            };
            let ours: toml::Table = toml::from_str(
                &std::fs::read_to_string(root.join(path)).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
            let features = ours.get("features").and_then(|f| f.as_table());
            let asked = spec.get("features").and_then(|f| f.as_array());
            for feature in asked.into_iter().flatten() {
                let feature = feature.as_str().unwrap_or_default();
                if !features.is_some_and(|f| f.contains_key(feature)) {
                    return Err(format!("{name} has no feature {feature:?}"));
                }
            }
        }
    }
    if manifest.is_empty() {
        return Err("an empty manifest".into());
    }
    Ok(())
}

/// A native configuration file, every key consumed by the core or by an adapter.
fn check_native(snippet: &Snippet) -> Result<(), String> {
    let config = keyprov::Config::from_toml_str(&snippet.text).map_err(|e| e.to_string())?;
    for entry in &config.key_managers {
        read_connection(entry).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Checks every snippet of the given files; the problems, one a line.
fn problems(files: &[(String, String)], root: &Path) -> (usize, Vec<String>) {
    let mut count = 0;
    let mut problems = Vec::new();
    for (name, text) in files {
        for snippet in snippets(name, text) {
            count += 1;
            let result = if is_cargo_manifest(&snippet) {
                check_cargo(&snippet, root)
            } else {
                check_native(&snippet)
            };
            if let Err(problem) = result {
                problems.push(format!("{}: {problem}", snippet.at));
            }
        }
    }
    (count, problems)
}

fn documentation(root: &Path) -> Vec<(String, String)> {
    let mut paths: Vec<PathBuf> = [
        "README.md",
        "km-oidc/README.md",
        "km-wso2is/README.md",
        "km-keycloak/README.md",
        "keyprov-cli/README.md",
        "keyprov-rest/README.md",
        "src/config/mod.rs",
    ]
    .iter()
    .map(|p| root.join(p))
    .collect();
    if let Ok(docs) = std::fs::read_dir(root.join("docs")) {
        let mut md: Vec<PathBuf> = docs
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .collect();
        md.sort();
        paths.extend(md);
    }
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            (name, text)
        })
        .collect()
}

#[test]
fn every_toml_snippet_of_the_documentation_is_read_strictly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = documentation(root);
    for (name, text) in &files {
        // The crates' READMEs each hold a configuration example (docs/README.md is an index).
        if name.ends_with("README.md") && !name.starts_with("docs") {
            assert!(
                !snippets(name, text).is_empty(),
                "{name} has no toml snippet: the extraction is broken"
            );
        }
    }
    let (count, problems) = problems(&files, root);
    assert!(count >= 6, "only {count} snippets found");
    assert!(
        problems.is_empty(),
        "{} of {count} toml snippets are not read as written:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn a_misspelt_or_unknown_key_in_a_snippet_is_caught() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let entry = "[[key_managers]]\nname = \"IS\"\ntype = \"wso2is\"\n\
                 [key_managers.connection]\nbase_url = \"https://is\"\n\
                 admin = { kind = \"basic\", username = \"admin\", password = \"pw\" }\n";
    let md = |toml: &str| vec![("X.md".to_owned(), format!("intro\n\n```toml\n{toml}```\n"))];
    assert_eq!(problems(&md(entry), root), (1, vec![]));
    let cases = [
        (
            entry.replace("type", "kind"),
            "key_managers[0].kind (line 3): unknown key",
        ),
        (
            entry.replace(
                "name = \"IS\"",
                "name = \"IS\"\nenable_map_oauth_consumer_app = true",
            ),
            "did you mean enable_map_oauth_consumer_apps?",
        ),
        (
            format!("{entry}tennant = \"acme.com\"\n"),
            "key_managers[0].connection.tennant (line 7): unknown key; did you mean tenant?",
        ),
        (
            entry.replace("wso2is", "okta"),
            "key_managers[0].type: Some(\"okta\") is not one of the adapters",
        ),
        (
            "[dependencies]\nkeyprov = { version = \"0.1\", features = [\"postgress\"] }\n"
                .to_owned(),
            "keyprov has no feature \"postgress\"",
        ),
    ];
    for (toml, expected) in cases {
        let (count, found) = problems(&md(&toml), root);
        assert_eq!(count, 1);
        assert!(
            found.len() == 1 && found[0].starts_with("X.md:3: ") && found[0].contains(expected),
            "{toml}\n{found:?}"
        );
    }
}
