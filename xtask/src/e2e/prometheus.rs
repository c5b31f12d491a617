//! Reading the server's `/metrics` (Prometheus text format) in scenarios:
//! [`sum`] adds up every sample of one metric whose labels include the
//! requested ones. So `mcp_jwks_fetches_total{result="ok"}` means the same
//! with one unlabelled issuer (`…{result="ok"} 3`) and with one line per
//! issuer (`…{issuer="…",result="ok"} 3`, issue 13), and
//! `mcp_jwks_fetches_total{issuer="X",result="ok"}` picks one issuer.

use anyhow::{Context, bail, ensure};

/// One metric name and the labels a sample must carry (others are allowed).
#[derive(Debug, PartialEq)]
struct Series {
    name: String,
    labels: Vec<(String, String)>,
}

impl Series {
    /// Parses `name` or `name{k="v",…}` (label values escaped as in the
    /// text format: `\\`, `\"`, `\n`); returns it and the rest of `text`.
    fn parse(text: &str) -> anyhow::Result<(Series, &str)> {
        let end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(text.len());
        let name = &text[..end];
        ensure!(
            !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()),
            "no metric name in {text:?}"
        );
        let mut rest = &text[end..];
        let mut labels = Vec::new();
        if let Some(inner) = rest.strip_prefix('{') {
            rest = inner;
            loop {
                rest = rest.trim_start();
                if let Some(after) = rest.strip_prefix('}') {
                    rest = after;
                    break;
                }
                let eq = rest
                    .find('=')
                    .with_context(|| format!("no `=` in the labels of {text:?}"))?;
                let key = rest[..eq].trim();
                ensure!(
                    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "bad label name {key:?} in {text:?}"
                );
                let quoted = rest[eq + 1..].trim_start();
                let mut chars = quoted.char_indices();
                ensure!(
                    matches!(chars.next(), Some((_, '"'))),
                    "label {key} of {text:?} is not a quoted string"
                );
                let mut value = String::new();
                let mut close = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '"' => {
                            close = Some(i);
                            break;
                        }
                        '\\' => match chars.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, e @ ('\\' | '"'))) => value.push(e),
                            other => bail!("bad escape {other:?} in label {key} of {text:?}"),
                        },
                        c => value.push(c),
                    }
                }
                let close =
                    close.with_context(|| format!("unterminated label {key} in {text:?}"))?;
                labels.push((key.to_owned(), value));
                rest = quoted[close + 1..].trim_start();
                if let Some(after) = rest.strip_prefix(',') {
                    rest = after;
                } else {
                    ensure!(
                        rest.starts_with('}'),
                        "expected `,` or `}}` after label {key} in {text:?}"
                    );
                }
            }
        }
        Ok((
            Series {
                name: name.to_owned(),
                labels,
            },
            rest,
        ))
    }

    /// Whether a sample with `labels` belongs to this query.
    fn selects(&self, labels: &[(String, String)]) -> bool {
        self.labels.iter().all(|wanted| labels.contains(wanted))
    }
}

/// A query `name{k="v",…}` with `label` = `value` added (replacing a label
/// of that name).
pub(crate) fn with_label(query: &str, label: &str, value: &str) -> anyhow::Result<String> {
    let (mut series, rest) = Series::parse(query)?;
    ensure!(rest.trim().is_empty(), "trailing text in query {query:?}");
    series.labels.retain(|(k, _)| k != label);
    series.labels.push((label.to_owned(), value.to_owned()));
    let labels: Vec<String> = series
        .labels
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    Ok(format!("{}{{{}}}", series.name, labels.join(",")))
}

/// The sum of the samples in `exposition` (a `/metrics` body) named like
/// `query` whose labels include every label of `query`; 0 when none.
/// Comments and other metrics are skipped; a malformed sample of the
/// queried metric is an error.
pub(crate) fn sum(exposition: &str, query: &str) -> anyhow::Result<f64> {
    let (wanted, rest) = Series::parse(query)?;
    ensure!(rest.trim().is_empty(), "trailing text in query {query:?}");
    let mut total = 0.0;
    for line in exposition.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .unwrap_or(line.len());
        if line[..name_end] != wanted.name {
            continue;
        }
        let (series, rest) = Series::parse(line)?;
        if !wanted.selects(&series.labels) {
            continue;
        }
        // The value, then an optional timestamp.
        let value = rest
            .split_whitespace()
            .next()
            .with_context(|| format!("no value in metric line {line:?}"))?;
        let value: f64 = value
            .parse()
            .with_context(|| format!("metric line {line:?}"))?;
        total += value;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER_A: &str = "http://localhost:8080/realms/mcp";
    const ISSUER_B: &str = "http://localhost:8080/realms/mcp-second";

    /// The single-issuer format the server has before issue 13.
    const OLD: &str = "\
# HELP mcp_jwks_fetches_total JWKS fetches by result
# TYPE mcp_jwks_fetches_total counter
mcp_jwks_fetches_total{result=\"ok\"} 3
mcp_jwks_fetches_total{result=\"error\"} 1
# TYPE mcp_jwks_kid_miss_refreshes_total counter
mcp_jwks_kid_miss_refreshes_total 2
mcp_jwks_keys 2
mcp_jwks_keys_extra 40
";

    /// The issue 13 format: an `issuer` label on every JWKS line.
    const NEW: &str = "\
# HELP mcp_jwks_fetches_total JWKS fetches by result
# TYPE mcp_jwks_fetches_total counter
mcp_jwks_fetches_total{issuer=\"http://localhost:8080/realms/mcp\",result=\"ok\"} 3
mcp_jwks_fetches_total{issuer=\"http://localhost:8080/realms/mcp\",result=\"error\"} 1
mcp_jwks_fetches_total{issuer=\"http://localhost:8080/realms/mcp-second\",result=\"ok\"} 5
mcp_jwks_fetches_total{issuer=\"http://localhost:8080/realms/mcp-second\",result=\"error\"} 0
mcp_jwks_kid_miss_refreshes_total{issuer=\"http://localhost:8080/realms/mcp\"} 2
mcp_jwks_kid_miss_refreshes_total{issuer=\"http://localhost:8080/realms/mcp-second\"} 0
mcp_jwks_keys{issuer=\"http://localhost:8080/realms/mcp\"} 2
mcp_jwks_keys{issuer=\"http://localhost:8080/realms/mcp-second\"} 1
";

    fn get(body: &str, query: &str) -> f64 {
        match sum(body, query) {
            Ok(v) => v,
            Err(e) => panic!("{query}: {e:#}"),
        }
    }

    fn for_issuer(query: &str, issuer: &str) -> String {
        match with_label(query, "issuer", issuer) {
            Ok(q) => q,
            Err(e) => panic!("{query}: {e:#}"),
        }
    }

    #[test]
    fn the_rotation_queries_read_the_old_format() {
        assert_eq!(get(OLD, "mcp_jwks_fetches_total{result=\"ok\"}"), 3.0);
        assert_eq!(get(OLD, "mcp_jwks_fetches_total{result=\"error\"}"), 1.0);
        assert_eq!(get(OLD, "mcp_jwks_kid_miss_refreshes_total"), 2.0);
        assert_eq!(get(OLD, "mcp_jwks_keys"), 2.0);
        // Every line of the metric, whatever its labels.
        assert_eq!(get(OLD, "mcp_jwks_fetches_total"), 4.0);
    }

    #[test]
    fn the_rotation_queries_sum_the_issuers_of_the_new_format() {
        assert_eq!(get(NEW, "mcp_jwks_fetches_total{result=\"ok\"}"), 8.0);
        assert_eq!(get(NEW, "mcp_jwks_fetches_total{result=\"error\"}"), 1.0);
        assert_eq!(get(NEW, "mcp_jwks_fetches_total"), 9.0);
        assert_eq!(get(NEW, "mcp_jwks_kid_miss_refreshes_total"), 2.0);
        assert_eq!(get(NEW, "mcp_jwks_keys"), 3.0);
    }

    #[test]
    fn an_issuer_label_picks_one_issuer() {
        let ok = "mcp_jwks_fetches_total{result=\"ok\"}";
        assert_eq!(get(NEW, &for_issuer(ok, ISSUER_A)), 3.0);
        assert_eq!(get(NEW, &for_issuer(ok, ISSUER_B)), 5.0);
        assert_eq!(
            get(
                NEW,
                &for_issuer("mcp_jwks_kid_miss_refreshes_total", ISSUER_B)
            ),
            0.0
        );
        assert_eq!(get(NEW, &for_issuer("mcp_jwks_keys", ISSUER_A)), 2.0);
        // Label order in the query does not matter.
        let reordered = format!("mcp_jwks_fetches_total{{result=\"ok\", issuer=\"{ISSUER_B}\"}}");
        assert_eq!(get(NEW, &reordered), 5.0);
        // An issuer the server does not know has no samples.
        assert_eq!(get(NEW, &for_issuer(ok, "http://elsewhere/")), 0.0);
        // The old format has no issuer label: nothing matches.
        assert_eq!(get(OLD, &for_issuer(ok, ISSUER_A)), 0.0);
    }

    #[test]
    fn with_label_builds_a_query_and_replaces_the_label() {
        assert_eq!(
            for_issuer("mcp_jwks_keys", "a\"b"),
            "mcp_jwks_keys{issuer=\"a\\\"b\"}"
        );
        assert_eq!(
            for_issuer("mcp_jwks_fetches_total{issuer=\"x\",result=\"ok\"}", "y"),
            "mcp_jwks_fetches_total{result=\"ok\",issuer=\"y\"}"
        );
    }

    #[test]
    fn names_match_exactly_and_absent_metrics_are_zero() {
        // `mcp_jwks_keys_extra` is another metric, not a sample of `mcp_jwks_keys`.
        assert_eq!(get(OLD, "mcp_jwks_keys_extra"), 40.0);
        assert_eq!(get(OLD, "mcp_jwks_key"), 0.0);
        assert_eq!(get(OLD, "mcp_introspection_calls_total"), 0.0);
        assert_eq!(get("", "mcp_jwks_keys"), 0.0);
    }

    #[test]
    fn escaped_label_values_timestamps_and_special_values() {
        let body = "\
m{path=\"a,b\",q=\"say \\\"hi\\\"\",nl=\"x\\ny\"} 1.5 1700000000000
m{path=\"c\"} 2
m{le=\"+Inf\",} +Inf
";
        assert_eq!(get(body, "m{path=\"a,b\"}"), 1.5);
        assert_eq!(get(body, "m{q=\"say \\\"hi\\\"\"}"), 1.5);
        assert_eq!(get(body, "m{nl=\"x\\ny\"}"), 1.5);
        assert_eq!(get(body, "m{path=\"c\"}"), 2.0);
        assert!(get(body, "m{le=\"+Inf\"}").is_infinite());
    }

    #[test]
    fn malformed_samples_of_the_queried_metric_and_bad_queries_fail() {
        for body in [
            "m{a=\"1\" 3\n",
            "m{a=1} 3\n",
            "m{a=\"1\"}\n",
            "m{a=\"1\"} three\n",
            "m{a=\"\\x\"} 3\n",
        ] {
            assert!(sum(body, "m").is_err(), "{body:?} was accepted");
        }
        // A malformed line of another metric is not ours to judge.
        assert_eq!(get("other{a=1} 3\nm 4\n", "m"), 4.0);
        for query in ["", "m{", "m{a}", "m x", "{a=\"1\"}", "1m"] {
            assert!(sum("m 1\n", query).is_err(), "query {query:?} was accepted");
        }
    }
}
