//! Unit tests of run-dev's command line, templates copy and banner.

use std::path::Path;

use super::*;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn defaults_are_the_servers_embedded_defaults() {
    let opts = parse(&[]).unwrap().unwrap();
    assert_eq!(
        opts,
        Options {
            port: 8000,
            keycloak_port: None,
            keycloak_url: None,
            templates: None,
            redirect_uris: Vec::new(),
            release: false,
            server_args: Vec::new(),
        }
    );
}

#[test]
fn flags_after_double_dash_go_to_the_server_verbatim() {
    let opts = parse(&args(&[
        "--port",
        "9000",
        "--redirect-uri",
        "http://localhost:6275/oauth/callback",
        "--release",
        "--",
        "--stateless",
        "--port",
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(opts.port, 9000);
    assert_eq!(
        opts.redirect_uris,
        args(&["http://localhost:6275/oauth/callback"])
    );
    assert!(opts.release);
    assert_eq!(opts.server_args, args(&["--stateless", "--port"]));
}

#[test]
fn keycloak_port_and_keycloak_url_are_exclusive() {
    let err = parse(&args(&[
        "--keycloak-port",
        "8081",
        "--keycloak-url",
        "http://localhost:8080",
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("pass one of them"), "{err}");
}

#[test]
fn port_zero_and_garbage_are_refused() {
    for bad in ["0", "70000", "http"] {
        let err = parse(&args(&["--port", bad])).unwrap_err();
        assert!(err.to_string().contains("--port"), "{bad}: {err}");
    }
}

#[test]
fn unknown_option_is_refused_with_usage() {
    let err = parse(&args(&["--prot", "1"])).unwrap_err();
    assert!(err.to_string().contains("unknown option `--prot`"), "{err}");
}

#[test]
fn help_is_not_a_run() {
    assert_eq!(parse(&args(&["--help"])).unwrap(), None);
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
