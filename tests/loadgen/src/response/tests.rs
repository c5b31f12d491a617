//! Unit tests for classifying responses and reading SSE data lines.

use http::StatusCode;

use super::{Outcome, classify, sse_data};

const JSON: Option<&str> = Some("application/json");
const SSE: Option<&str> = Some("text/event-stream");

#[track_caller]
fn check(status: u16, content_type: Option<&str>, body: &str, expected: Outcome) {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
    assert_eq!(classify(status, content_type, body.as_bytes(), 7), expected);
}

#[track_caller]
fn check_sse(stream: &str, expected: &[&str]) {
    assert_eq!(sse_data(stream), expected);
}

const RESULT: &str = r##"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"# x"}],"structuredContent":{"text":"# x"}}}"##;

#[test]
fn json_result_without_is_error_is_ok() {
    check(200, JSON, RESULT, Outcome::Ok);
    check(
        200,
        Some("application/json; charset=utf-8"),
        RESULT,
        Outcome::Ok,
    );
    check(
        200,
        JSON,
        r#"{"jsonrpc":"2.0","id":7,"result":{"content":[],"isError":false}}"#,
        Outcome::Ok,
    );
}

#[test]
fn is_error_true_is_a_tool_error() {
    // MCP 2025-06-18 "Tools / Error Handling": tool execution errors are
    // results with isError: true, not JSON-RPC errors.
    check(
        200,
        JSON,
        r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"missing variables: date"}],"isError":true}}"#,
        Outcome::ToolError,
    );
}

#[test]
fn json_rpc_error_member_is_a_jsonrpc_error() {
    check(
        200,
        JSON,
        r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"unknown tool"}}"#,
        Outcome::JsonRpcError,
    );
}

#[test]
fn any_status_but_200_is_an_http_error_whatever_the_body() {
    check(401, JSON, RESULT, Outcome::HttpStatus(401));
    check(202, JSON, RESULT, Outcome::HttpStatus(202));
    check(500, Some("text/plain"), "boom", Outcome::HttpStatus(500));
}

#[test]
fn a_response_to_another_id_is_malformed() {
    check(
        200,
        JSON,
        r#"{"jsonrpc":"2.0","id":8,"result":{"content":[]}}"#,
        Outcome::Malformed,
    );
    check(
        200,
        JSON,
        r#"{"jsonrpc":"2.0","id":"7","result":{"content":[]}}"#,
        Outcome::Malformed,
    );
}

#[test]
fn unparsable_or_untyped_bodies_are_malformed() {
    check(200, JSON, "not json", Outcome::Malformed);
    check(200, JSON, r#"{"jsonrpc":"2.0","id":7}"#, Outcome::Malformed);
    check(200, Some("text/plain"), RESULT, Outcome::Malformed);
    check(200, None, RESULT, Outcome::Malformed);
}

#[test]
fn sse_response_is_found_after_priming_events_and_notifications() {
    let stream = format!(
        "id: 0\nretry: 3000\ndata:\n\n\
         event: message\ndata: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{{\"level\":\"info\",\"data\":\"x\"}}}}\n\n\
         event: message\ndata: {RESULT}\n\n"
    );
    check(200, SSE, &stream, Outcome::Ok);
}

#[test]
fn sse_server_request_with_our_id_is_not_the_response() {
    // A server-to-client request may reuse a numeric id; it has a method.
    let stream = "data: {\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}\n\n";
    check(200, SSE, stream, Outcome::Malformed);
}

#[test]
fn sse_tool_error_and_jsonrpc_error_are_classified_like_json() {
    check(
        200,
        SSE,
        "data: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[],\"isError\":true}}\n\n",
        Outcome::ToolError,
    );
    check(
        200,
        SSE,
        "data: {\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32603,\"message\":\"x\"}}\n\n",
        Outcome::JsonRpcError,
    );
}

#[test]
fn sse_stream_without_the_response_is_malformed() {
    check(200, SSE, ": keep-alive\n\n", Outcome::Malformed);
    check(200, SSE, "", Outcome::Malformed);
}

#[test]
fn sse_accepts_lf_crlf_and_cr_line_endings() {
    check_sse("data: a\n\n", &["a"]);
    check_sse("data: a\r\n\r\n", &["a"]);
    check_sse("data: a\r\rdata: b\r\n\r\n", &["a", "b"]);
}

#[test]
fn sse_joins_multiline_data_with_lf() {
    check_sse("data: {\"a\":\ndata: 1}\n\n", &["{\"a\":\n1}"]);
}

#[test]
fn sse_strips_exactly_one_leading_space() {
    check_sse("data:x\n\ndata: x\n\ndata:  x\n\n", &["x", "x", " x"]);
}

#[test]
fn sse_ignores_comments_and_other_fields() {
    check_sse(
        ": comment\nevent: message\nid: 3\nretry: 10\ndata: a\n\n",
        &["a"],
    );
}

#[test]
fn sse_event_without_data_lines_is_not_dispatched_but_empty_data_is() {
    check_sse("event: message\nid: 1\n\n", &[]);
    check_sse("data:\n\n", &[""]);
}

#[test]
fn sse_incomplete_trailing_event_is_discarded() {
    check_sse("data: a\n\ndata: b\n", &["a"]);
    check_sse("data: a\n\ndata: b", &["a"]);
}

#[test]
fn sse_field_without_colon_is_a_field_with_empty_value() {
    check_sse("data\n\n", &[""]);
}
