//! Unit tests of run-dev's re-executed command line, templates copy and
//! banner (its flags are tested with the others in `crate::flags`).

use std::path::Path;

use super::*;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn reexec_drops_keycloak_url_in_both_spellings_but_not_the_servers_flags() {
    let rest = without_keycloak_url(&args(&[
        "--keycloak-url",
        "http://localhost:8080",
        "--port",
        "9000",
        "--keycloak-url=http://localhost:8081",
        "--release",
        "--",
        "--keycloak-url",
        "x",
    ]));
    assert_eq!(
        rest,
        args(&["--port", "9000", "--release", "--", "--keycloak-url", "x"])
    );
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xtask-run-dev-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn templates_are_copied_on_first_run_only_so_dev_edits_survive() {
    let dir = scratch("copy");
    let from = dir.join("templates");
    std::fs::create_dir_all(from.join("sub")).unwrap();
    std::fs::write(from.join("nippo.md"), "shipped").unwrap();
    std::fs::write(from.join("sub/x.md"), "nested").unwrap();
    let to = dir.join("target/dev-templates");

    assert!(copy_dir_once(&from, &to).unwrap());
    assert_eq!(
        std::fs::read_to_string(to.join("sub/x.md")).unwrap(),
        "nested"
    );

    std::fs::write(to.join("nippo.md"), "edited in dev").unwrap();
    assert!(!copy_dir_once(&from, &to).unwrap());
    assert_eq!(
        std::fs::read_to_string(to.join("nippo.md")).unwrap(),
        "edited in dev"
    );
    assert_eq!(
        std::fs::read_to_string(from.join("nippo.md")).unwrap(),
        "shipped"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn banner_names_url_users_token_command_and_inspector_client() {
    let text = banner(&Banner {
        resource: "http://localhost:8000/mcp",
        public_url: "http://localhost:8000",
        issuer: "http://localhost:8080/realms/mcp",
        keycloak: "http://localhost:8080",
        keycloak_note: "Keycloak 26.7.3 started in 60 s",
        keycloak_log: None,
        templates: Path::new("/w/target/dev-templates"),
        templates_note: "",
        token_prefix: String::new(),
    });
    for needle in [
        "http://localhost:8000/mcp",
        "alice / alice",
        "bob / bob",
        r#"TOKEN=$(cargo xtask token --user alice --scope "mcp:tools templates:write")"#,
        r#""method":"tools/list""#,
        "${SID:+-H \"Mcp-Session-Id: $SID\"}",
        "Client ID mcp-client",
        "Streamable HTTP",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}
