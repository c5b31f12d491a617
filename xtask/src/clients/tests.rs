//! Unit tests for the pure parts of `cargo xtask clients`: the install stamp,
//! the argument lists handed to the clients, and the parsing of tool output.
//! The clients themselves are proven by `cargo xtask clients selftest`.

use super::*;

#[test]
fn fnv1a64_matches_reference_vectors() {
    // Reference values from the FNV specification's test suite.
    let mut empty = Fnv1a64::new();
    empty.write(b"");
    assert_eq!(empty.0, 0xcbf2_9ce4_8422_2325);
    let mut a = Fnv1a64::new();
    a.write(b"a");
    assert_eq!(a.0, 0xaf63_dc4c_8601_ec8c);
    let mut foobar = Fnv1a64::new();
    foobar.write(b"foobar");
    assert_eq!(foobar.0, 0x8594_4171_f739_67e8);
}

#[test]
fn stamp_is_stable_for_the_same_manifests() {
    let inputs: [&[u8]; 3] = [b"Python 3.11.7", b"v20.20.2", b"mcp==1.30.0\n"];
    assert_eq!(stamp(&inputs), stamp(&inputs));
    assert!(stamp(&inputs).starts_with(STAMP_FORMAT));
}

#[test]
fn stamp_changes_when_any_input_changes() {
    let base: [&[u8]; 3] = [b"Python 3.11.7", b"v20.20.2", b"mcp==1.30.0\n"];
    let changed: [[&[u8]; 3]; 3] = [
        [b"Python 3.12.1", b"v20.20.2", b"mcp==1.30.0\n"],
        [b"Python 3.11.7", b"v22.1.0", b"mcp==1.30.0\n"],
        [b"Python 3.11.7", b"v20.20.2", b"mcp==1.29.0\n"],
    ];
    for inputs in changed {
        assert_ne!(stamp(&base), stamp(&inputs), "{inputs:?}");
    }
}

#[test]
fn stamp_keeps_input_boundaries_apart() {
    assert_ne!(stamp(&[b"ab", b"c"]), stamp(&[b"a", b"bc"]));
}

#[test]
fn node_major_reads_node_version_output() -> anyhow::Result<()> {
    assert_eq!(node_major("v20.20.2\n")?, 20);
    assert_eq!(node_major("v22.19.0")?, 22);
    Ok(())
}

#[test]
fn node_major_rejects_output_that_is_not_a_version() {
    for bad in ["", "20.1.0", "vX.1", "node: command not found"] {
        assert!(node_major(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn script_args_never_carry_the_token() {
    // The token travels in MCP_TOKEN: argv is visible to every local user.
    let scenarios = [
        Scenario::ListTools,
        Scenario::Expect401,
        Scenario::Render {
            name: "readme",
            variables_json: "{}",
            expect_text: Some("x"),
        },
    ];
    for scenario in scenarios {
        let args = script_args("http://127.0.0.1:1/mcp", &scenario);
        assert!(
            !args.iter().any(|a| a.contains("Bearer") || a == "--token"),
            "{args:?}"
        );
    }
}

#[test]
fn script_args_name_the_scenario_and_url() {
    let render = Scenario::Render {
        name: "readme",
        variables_json: r#"{"project":"x"}"#,
        expect_text: Some("# x"),
    };
    assert_eq!(
        script_args("http://127.0.0.1:1/mcp", &render),
        [
            "render",
            "--name",
            "readme",
            "--variables",
            r#"{"project":"x"}"#,
            "--expect-text",
            "# x",
            "--url",
            "http://127.0.0.1:1/mcp"
        ]
    );
    assert_eq!(
        script_args("http://127.0.0.1:1/mcp", &Scenario::Expect401),
        ["expect-401", "--url", "http://127.0.0.1:1/mcp"]
    );
}

#[test]
fn inspector_args_use_streamable_http_and_a_bearer_header() {
    let pairs: &[(&str, &str)] = &[("name", "readme"), ("variables", r#"{"a":1}"#)];
    let args = inspector_args(
        "http://127.0.0.1:1/mcp",
        Some("t0k"),
        &InspectorCall::CallTool {
            tool: "render_template",
            args: pairs,
        },
    );
    assert_eq!(
        args,
        [
            "http://127.0.0.1:1/mcp",
            "--transport",
            "http",
            "--stored-auth-only",
            "--header",
            "Authorization: Bearer t0k",
            "--method",
            "tools/call",
            "--tool-name",
            "render_template",
            "--tool-arg",
            "name=readme",
            "--tool-arg",
            r#"variables={"a":1}"#
        ]
    );
}

#[test]
fn inspector_args_send_no_authorization_without_a_token() {
    let args = inspector_args("http://127.0.0.1:1/mcp", None, &InspectorCall::ListTools);
    assert_eq!(
        args,
        [
            "http://127.0.0.1:1/mcp",
            "--transport",
            "http",
            "--stored-auth-only",
            "--method",
            "tools/list"
        ]
    );
}

#[test]
fn announced_url_must_be_a_loopback_mcp_endpoint() -> anyhow::Result<()> {
    assert_eq!(
        parse_announced_url("http://127.0.0.1:4242/mcp\n")?,
        "http://127.0.0.1:4242/mcp"
    );
    for bad in [
        "",
        "Traceback (most recent call last):",
        "http://10.0.0.1:80/mcp",
    ] {
        assert!(parse_announced_url(bad).is_err(), "{bad:?}");
    }
    Ok(())
}
