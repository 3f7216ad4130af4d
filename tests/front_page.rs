//! The front page and the guide pages render with working links, the main example runs (it is
//! a doctest, not `ignore`), and user-facing text holds no project-internal references.

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: impl AsRef<Path>) -> String {
    let path = root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `[label]: target` lines.
fn definitions(markdown: &str) -> Vec<(String, String)> {
    markdown
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix('[')?;
            let (label, target) = rest.split_once("]: ")?;
            Some((label.to_owned(), target.trim().to_owned()))
        })
        .collect()
}

fn is_relative(target: &str) -> bool {
    !target.contains("://") && !target.starts_with('#')
}

/// Definitions that a Rust file puts in front of included Markdown: `#![doc = "[label]: x"]`.
fn overrides(rust: &str) -> Vec<String> {
    rust.lines()
        .filter_map(|line| {
            let rest = line
                .trim()
                .strip_prefix("#![doc = \"[")
                .or_else(|| line.trim().strip_prefix("#[doc = \"["))?;
            Some(rest.split_once("]: ")?.0.to_owned())
        })
        .collect()
}

#[test]
fn every_relative_link_of_the_front_page_has_a_rendered_target() {
    let readme = read("README.md");
    let lib = read("src/lib.rs");
    let overridden = overrides(&lib);
    let relative: Vec<_> = definitions(&readme)
        .into_iter()
        .filter(|(_, target)| is_relative(target))
        .collect();
    assert!(
        relative.len() >= 5,
        "the README's links are reference links"
    );
    for (label, target) in relative {
        assert!(
            overridden.contains(&label),
            "README link [{label}] -> {target} would be broken on the crate page: \
             define it in src/lib.rs before the README"
        );
        assert!(root().join(&target).exists(), "{target} does not exist");
    }
    // Inline relative links cannot be redefined: the README uses reference links only.
    assert!(
        !readme.contains("](docs/") && !readme.contains("](src/") && !readme.contains("](km-"),
        "an inline relative link in README.md"
    );
}

#[test]
fn guide_pages_link_to_each_other_through_rendered_targets() {
    let guide = read("src/guide.rs");
    let overridden = overrides(&guide);
    let mut pages = 0;
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path: PathBuf = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "README.md" || !name.ends_with(".md") {
            continue;
        }
        assert!(
            guide.contains(&format!("include_str!(\"../docs/{name}\")")),
            "docs/{name} is not part of keyprov::guide"
        );
        pages += 1;
        let text = read(&path);
        let inline_page_link = text.split("](").skip(1).any(|rest| {
            let target = rest.split(')').next().unwrap_or_default();
            is_relative(target) && target.contains(".md")
        });
        assert!(
            !inline_page_link,
            "docs/{name} has an inline link to another page (use a reference link)"
        );
        for (label, target) in definitions(&text) {
            if is_relative(&target) {
                assert!(
                    overridden.contains(&label),
                    "docs/{name}: [{label}] has no rendered target in src/guide.rs"
                );
            }
        }
    }
    assert!(pages >= 6, "{pages} guide pages");
}

#[test]
fn the_front_page_example_is_a_doctest_that_runs() {
    let readme = read("README.md");
    let main = readme
        .split("```")
        .skip(1)
        .step_by(2)
        .find(|block| block.contains("gateway") && block.contains(".provision("))
        .expect("the README shows provisioning and resolution");
    let fence = main.lines().next().unwrap_or_default();
    assert_eq!(fence, "rust", "the main example must run as a doctest");
    for step in [
        "SqliteStore::open",
        "create_application",
        "put_api",
        "subscribe",
        ".provision(",
        ".token(",
        "wait_for",
        ".resolve(",
    ] {
        assert!(main.contains(step), "the main example skips {step}");
    }
}

/// Words that only mean something inside the project's own process.
const JARGON: &[&str] = &[
    // Spelled in two parts so that this list does not cite them itself.
    concat!("behaviour", ".md"),
    concat!("key-managers", ".md P"),
    "the seed",
    "seed's",
    "issue 6",
    "this session",
    "quiet host",
    "../shared",
];

fn sources(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !path.ends_with("target") && !path.ends_with("node_modules") {
                sources(&path, into);
            }
        } else if path
            .extension()
            .is_some_and(|x| x == "rs" || x == "md" || x == "toml")
        {
            into.push(path);
        }
    }
}

#[test]
fn user_facing_text_has_no_project_internal_references() {
    let mut files = Vec::new();
    for dir in [
        "src",
        "docs",
        "examples",
        "km-oidc",
        "km-wso2is",
        "km-keycloak",
    ] {
        sources(&root().join(dir), &mut files);
    }
    files.push(root().join("README.md"));
    let mut found = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let lower = line.to_lowercase();
            for word in JARGON {
                if lower.contains(word) {
                    found.push(format!("{}:{}: {word}", path.display(), n + 1));
                }
            }
            // Rust docs and comments name the guide pages, not the specification's files.
            if path.extension().is_some_and(|x| x == "rs")
                && !path.ends_with("src/guide.rs")
                && (lower.contains(concat!("gateway", ".md"))
                    || lower.contains(concat!("key-managers", ".md")))
            {
                found.push(format!("{}:{}: a .md page cited", path.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "internal references:\n{}",
        found.join("\n")
    );
}
