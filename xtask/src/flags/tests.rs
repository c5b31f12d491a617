//! Unit tests of the command line: every task's flags as the docs invoke
//! them (README.md, docs/*.md, bench/README.md, e2e/clients/README.md,
//! .ci/run), and the errors for an unknown flag, a missing value and a bad
//! value.

use clap::{CommandFactory as _, Parser as _};

use super::*;

/// Parses `cargo xtask ARGS`, panicking with clap's message on an error.
#[track_caller]
fn parse(args: &str) -> XtaskCmd {
    let argv = std::iter::once("xtask").chain(args.split_whitespace());
    match Xtask::try_parse_from(argv) {
        Ok(flags) => flags.subcommand,
        Err(e) => panic!("`cargo xtask {args}`: {e}"),
    }
}

/// The rendered error of `cargo xtask ARGS`, which must not parse.
#[track_caller]
fn error(args: &str) -> String {
    let argv = std::iter::once("xtask").chain(args.split_whitespace());
    match Xtask::try_parse_from(argv) {
        Ok(flags) => panic!("`cargo xtask {args}` parsed: {flags:?}"),
        Err(e) => e.to_string(),
    }
}

#[track_caller]
fn check_error(args: &str, needles: &[&str]) {
    let message = error(args);
    for needle in needles {
        assert!(
            message.contains(needle),
            "`cargo xtask {args}`: {needle:?} missing in\n{message}"
        );
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn clap_definition_is_consistent() {
    Xtask::command().debug_assert();
}

#[test]
fn unknown_flag_is_named_with_a_suggestion() {
    check_error(
        "bench --qiuck",
        &["unexpected argument '--qiuck'", "'--quick'"],
    );
    check_error("run-dev --prot 1", &["unexpected argument '--prot'"]);
    check_error("token --usr alice", &["'--usr'", "'--user'"]);
}

#[test]
fn missing_value_names_the_flag() {
    check_error("fuzz --time", &["a value is required for '--time <SECS>'"]);
    check_error("bench --rounds", &["'--rounds <N>'"]);
    check_error("token --user", &["'--user <NAME>'"]);
    check_error("e2e --only", &["'--only <SUBSTRING>'"]);
    check_error("keycloak --audience", &["'--audience <URL>'"]);
}

#[test]
fn malformed_values_are_refused_with_the_flag() {
    check_error("soak --duration soon", &["'--duration <SECS>'"]);
    check_error("fuzz --time 0", &["'--time <SECS>'"]);
    check_error("fuzz --target nope", &["nope", "render"]);
    check_error("fuzz --sanitizer memory", &["memory", "address"]);
    check_error("bench --only A,Z", &["unknown target \"Z\""]);
    check_error("keycloak --port 70000", &["'--port <N>'"]);
}

#[test]
fn unknown_and_missing_tasks_are_refused() {
    check_error("deploy", &["unrecognized subcommand 'deploy'"]);
    check_error("clients", &["install", "selftest"]);
    let argv = ["xtask"];
    assert!(Xtask::try_parse_from(argv).is_err());
}

#[test]
fn help_is_not_an_error_of_the_run() {
    for args in ["--help", "bench --help", "run-dev -h", "token --help"] {
        let argv = std::iter::once("xtask").chain(args.split_whitespace());
        let err = Xtask::try_parse_from(argv).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp, "{args}");
    }
}

#[test]
fn test_passes_every_other_argument_to_cargo_test_verbatim() {
    let XtaskCmd::Test(t) = parse("test") else {
        panic!()
    };
    assert!(!t.no_e2e() && t.cargo_test_args().is_empty());

    let XtaskCmd::Test(t) = parse("test --no-e2e") else {
        panic!()
    };
    assert!(t.no_e2e());

    let XtaskCmd::Test(t) = parse("test --no-e2e expired -- --nocapture") else {
        panic!()
    };
    assert!(t.no_e2e());
    assert_eq!(
        t.cargo_test_args(),
        strings(&["expired", "--", "--nocapture"])
    );

    let XtaskCmd::Test(t) = parse("test -- --nocapture") else {
        panic!()
    };
    assert_eq!(t.cargo_test_args(), strings(&["--", "--nocapture"]));

    let XtaskCmd::Test(t) = parse("test --release -p auth") else {
        panic!()
    };
    assert_eq!(t.cargo_test_args(), strings(&["--release", "-p", "auth"]));

    let XtaskCmd::Test(t) = parse("test expired --no-e2e") else {
        panic!()
    };
    assert!(t.no_e2e(), "{t:?}");
}

#[test]
fn run_dev_defaults_are_the_servers_embedded_defaults() {
    let XtaskCmd::RunDev(r) = parse("run-dev") else {
        panic!()
    };
    assert_eq!(
        r,
        RunDev {
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
fn run_dev_flags_after_double_dash_go_to_the_server_verbatim() {
    let XtaskCmd::RunDev(r) = parse(
        "run-dev --port 9000 --redirect-uri http://localhost:6275/oauth/callback \
         --redirect-uri http://127.0.0.1:1/cb --templates /t --release -- --stateless --port",
    ) else {
        panic!()
    };
    assert_eq!(r.port, 9000);
    assert_eq!(
        r.redirect_uris,
        strings(&[
            "http://localhost:6275/oauth/callback",
            "http://127.0.0.1:1/cb"
        ])
    );
    assert_eq!(r.templates, Some(PathBuf::from("/t")));
    assert!(r.release);
    assert_eq!(r.server_args, strings(&["--stateless", "--port"]));

    let XtaskCmd::RunDev(r) = parse("run-dev --keycloak-url http://localhost:8080") else {
        panic!()
    };
    assert_eq!(r.keycloak_url.as_deref(), Some("http://localhost:8080"));
    let XtaskCmd::RunDev(r) = parse("run-dev --keycloak-port 8081") else {
        panic!()
    };
    assert_eq!(r.keycloak_port, Some(8081));
}

#[test]
fn run_dev_keycloak_port_and_keycloak_url_are_exclusive() {
    check_error(
        "run-dev --keycloak-port 8081 --keycloak-url http://localhost:8080",
        &["'--keycloak-port <N>' cannot be used with '--keycloak-url <URL>'"],
    );
}

#[test]
fn run_dev_port_zero_and_garbage_are_refused() {
    for bad in ["0", "70000", "http"] {
        check_error(&format!("run-dev --port {bad}"), &["'--port <N>'"]);
        check_error(
            &format!("run-dev --keycloak-port {bad}"),
            &["'--keycloak-port <N>'"],
        );
    }
}

#[test]
fn repeated_single_value_flag_takes_the_last() {
    let XtaskCmd::RunDev(r) = parse("run-dev --port 9000 --port 9001") else {
        panic!()
    };
    assert_eq!(r.port, 9001);
}

#[test]
fn e2e_flags() {
    let XtaskCmd::E2e(e) = parse("e2e") else {
        panic!()
    };
    assert!(e.only.is_empty() && !e.fail_fast && !e.list);

    let XtaskCmd::E2e(e) = parse("e2e --only revocation --only rotation --fail-fast") else {
        panic!()
    };
    assert_eq!(e.only, strings(&["revocation", "rotation"]));
    assert!(e.fail_fast);

    // The last of --keep-going and --fail-fast wins.
    let XtaskCmd::E2e(e) = parse("e2e --fail-fast --keep-going") else {
        panic!()
    };
    assert!(!e.fail_fast);
    let XtaskCmd::E2e(e) = parse("e2e --keep-going --fail-fast") else {
        panic!()
    };
    assert!(e.fail_fast);

    let XtaskCmd::E2e(e) = parse("e2e --list") else {
        panic!()
    };
    assert!(e.list);
}

#[test]
fn bench_flags() {
    let XtaskCmd::Bench(b) = parse("bench") else {
        panic!()
    };
    assert!(!b.quick && !b.no_docs && !b.no_build);
    assert_eq!((b.duration, b.warmup, b.rounds), (None, None, None));
    assert_eq!((b.concurrency, b.threads), (32, None));
    assert!(b.only.is_empty());

    let XtaskCmd::Bench(b) = parse("bench --quick --no-docs") else {
        panic!()
    };
    assert!(b.quick && b.no_docs);

    let XtaskCmd::Bench(b) = parse("bench --rounds 3") else {
        panic!()
    };
    assert_eq!(b.rounds, Some(3));

    let XtaskCmd::Bench(b) = parse(
        "bench --duration 20 --warmup 5 --concurrency 64 --threads 2 --only A,B-session --no-build",
    ) else {
        panic!()
    };
    assert_eq!((b.duration, b.warmup), (Some(20), Some(5)));
    assert_eq!((b.concurrency, b.threads), (64, Some(2)));
    assert_eq!(b.only, vec![Target::A, Target::BSession]);
    assert!(b.no_build);
}

#[test]
fn fuzz_flags() {
    let XtaskCmd::Fuzz(f) = parse("fuzz") else {
        panic!()
    };
    assert_eq!(f.secs, crate::fuzz::DEFAULT_SECS);
    assert!(f.targets.is_empty());
    assert_eq!(f.sanitizer, "none");

    let XtaskCmd::Fuzz(f) =
        parse("fuzz --time 30 --target render --target front_matter --sanitizer address")
    else {
        panic!()
    };
    assert_eq!(f.secs, 30);
    assert_eq!(f.targets, strings(&["render", "front_matter"]));
    assert_eq!(f.sanitizer, "address");
}

#[test]
fn soak_flags() {
    let XtaskCmd::Soak(s) = parse("soak") else {
        panic!()
    };
    assert!(!s.quick);
    assert_eq!((s.duration, s.cache_entries), (None, None));
    assert_eq!((s.tokens, s.concurrency), (500, 16));

    let XtaskCmd::Soak(s) = parse("soak --quick --duration 180") else {
        panic!()
    };
    assert!(s.quick);
    assert_eq!(s.duration, Some(180));

    let XtaskCmd::Soak(s) = parse("soak --tokens 100 --cache-entries 10 --concurrency 4") else {
        panic!()
    };
    assert_eq!(
        (s.tokens, s.cache_entries, s.concurrency),
        (100, Some(10), 4)
    );
}

#[test]
fn keycloak_flags() {
    let XtaskCmd::Keycloak(k) = parse("keycloak") else {
        panic!()
    };
    assert_eq!(k.port, 8080);
    assert_eq!(k.management_port, None);
    assert_eq!(k.audience, "http://localhost:8000/mcp");
    assert!(k.redirect_uris.is_empty() && k.features.is_empty() && !k.check);

    let XtaskCmd::Keycloak(k) = parse("keycloak --port 0 --check") else {
        panic!()
    };
    assert_eq!(k.port, 0);
    assert!(k.check);

    let XtaskCmd::Keycloak(k) = parse(
        "keycloak --management-port 9001 --audience http://127.0.0.1:1/mcp \
         --redirect-uri http://a/cb --redirect-uri http://b/cb \
         --features resource-indicators,token-exchange --features dpop",
    ) else {
        panic!()
    };
    assert_eq!(k.management_port, Some(9001));
    assert_eq!(k.audience, "http://127.0.0.1:1/mcp");
    assert_eq!(k.redirect_uris, strings(&["http://a/cb", "http://b/cb"]));
    assert_eq!(
        k.features,
        strings(&["resource-indicators", "token-exchange", "dpop"])
    );
}

#[test]
fn token_flags() {
    let XtaskCmd::Token(t) = parse("token") else {
        panic!()
    };
    assert_eq!((t.user, t.password, t.secret), (None, None, None));
    assert_eq!(
        (t.client.as_str(), t.scope.as_str()),
        ("mcp-test", "mcp:tools")
    );
    assert!(!t.claims);

    // `--scope "mcp:tools templates:write"`: one argument with a space.
    let argv = [
        "xtask",
        "token",
        "--user",
        "alice",
        "--scope",
        "mcp:tools templates:write",
    ];
    let XtaskCmd::Token(t) = Xtask::try_parse_from(argv).unwrap().subcommand else {
        panic!()
    };
    assert_eq!(t.user.as_deref(), Some("alice"));
    assert_eq!(t.scope, "mcp:tools templates:write");

    let XtaskCmd::Token(t) =
        parse("token --user bob --password pw --client mcp-short --secret s --claims")
    else {
        panic!()
    };
    assert_eq!(t.user.as_deref(), Some("bob"));
    assert_eq!(t.password.as_deref(), Some("pw"));
    assert_eq!(t.client, "mcp-short");
    assert_eq!(t.secret.as_deref(), Some("s"));
    assert!(t.claims);
}

#[test]
fn clients_commands() {
    let XtaskCmd::Clients(c) = parse("clients install") else {
        panic!()
    };
    assert_eq!(c.command, ClientsCmd::Install);
    let XtaskCmd::Clients(c) = parse("clients selftest") else {
        panic!()
    };
    assert_eq!(c.command, ClientsCmd::Selftest);
}

#[test]
fn doctor_flags() {
    let XtaskCmd::Doctor(d) = parse("doctor") else {
        panic!()
    };
    assert_eq!(
        (
            d.keycloak_url.as_str(),
            d.realm.as_str(),
            d.resource.as_str()
        ),
        ("http://localhost:8080", "mcp", "http://localhost:8000/mcp")
    );

    let XtaskCmd::Doctor(d) = parse(
        "doctor --keycloak-url https://kc.example.com --realm prod --resource https://mcp.example.com/mcp",
    ) else {
        panic!()
    };
    assert_eq!(
        (
            d.keycloak_url.as_str(),
            d.realm.as_str(),
            d.resource.as_str()
        ),
        (
            "https://kc.example.com",
            "prod",
            "https://mcp.example.com/mcp"
        )
    );
    check_error("doctor --realm", &["--realm"]);
}
