//! Banyan's configuration model: the types an operator writes, YAML parsing that reports every
//! error with its path, line and column, and the semantic checks that need no I/O.
//!
//! This crate must never depend on tokio, hyper or anything that does I/O: it is shared by the
//! gateway, the CLI and (later) the control plane, which must all agree on what is valid.
#![forbid(unsafe_code)]

pub mod config;
pub mod diag;
pub mod headers;
pub mod net;
pub mod node;
pub mod units;
pub mod validate;

use std::collections::HashMap;

pub use config::*;
pub use diag::{Diagnostic, Diagnostics, Position};
pub use node::Node;
pub use units::{ByteSize, Duration};

/// A parsed document: the located tree, and which list items were left out of the typed config
/// because they failed to parse. Turns paths into typed lists (`routes[2]`) into positions in
/// the file.
#[derive(Debug, Clone)]
pub struct Document {
    root: Node,
    /// For each list (`routes`), the document index of each typed item.
    kept: HashMap<String, Vec<usize>>,
}

impl Document {
    /// A document with no source (a config built in code): positions are unknown.
    pub fn empty() -> Self {
        Self {
            root: Node {
                kind: node::NodeKind::Null,
                line: 0,
                column: 0,
            },
            kept: HashMap::new(),
        }
    }

    /// Turns a diagnostic whose path indexes the typed config into one that points into the file.
    pub fn resolve(&self, mut d: Diagnostic) -> Diagnostic {
        if d.position.line > 0 {
            return d;
        }
        let path = self.doc_path(&d.position.path);
        d.position = self.root.locate(&path);
        d
    }

    fn doc_path(&self, path: &str) -> String {
        let Some(open) = path.find('[') else {
            return path.to_string();
        };
        let section = &path[..open];
        let Some(kept) = self.kept.get(section) else {
            return path.to_string();
        };
        let Some(close) = path[open..].find(']').map(|c| c + open) else {
            return path.to_string();
        };
        match path[open + 1..close]
            .parse::<usize>()
            .ok()
            .and_then(|i| kept.get(i))
        {
            Some(doc_i) => format!("{section}[{doc_i}]{}", &path[close + 1..]),
            None => path.to_string(),
        }
    }
}

/// Parses YAML into a [`Config`] and runs the model's checks. On success returns the config and
/// its document (for locating errors found later, e.g. by the router). On failure returns every
/// error found, in file order.
pub fn parse(src: &str) -> Result<(Config, Document), Diagnostics> {
    let p = parse_partial(src)?;
    if p.errors.is_empty() {
        Ok((p.config, p.doc))
    } else {
        Err(p.errors)
    }
}

/// A document that parsed far enough to be typed, and the errors the model found in it. Later
/// checks (the router's) can still run on it, so that one pass reports every error.
#[derive(Debug)]
pub struct Partial {
    /// The config, without the list items that failed to parse.
    pub config: Config,
    pub doc: Document,
    /// Every error found, in file order; empty when the config is valid as far as the model
    /// can tell.
    pub errors: Diagnostics,
    /// Indices into `config.routes` of routes whose `match` has errors. Checks that compare
    /// routes with each other (conflicts) must leave these out: the router would see them
    /// with their broken matchers dropped, and report overlaps that are not there.
    pub broken_matches: Vec<usize>,
}

/// Puts the section's default back into each of `fields` (which hold stand-ins).
fn restore_defaults<T>(section: &mut T, fields: &[String])
where
    T: serde::Serialize + serde::de::DeserializeOwned + Default,
{
    use serde_json::Value;
    if fields.is_empty() {
        return;
    }
    let (Ok(Value::Object(mut now)), Ok(Value::Object(default))) = (
        serde_json::to_value(&*section),
        serde_json::to_value(T::default()),
    ) else {
        return;
    };
    for f in fields {
        if let Some(v) = default.get(f) {
            now.insert(f.clone(), v.clone());
        }
    }
    if let Ok(v) = serde_json::from_value(Value::Object(now)) {
        *section = v;
    }
}

/// Like [`parse`], but returns what parsed along with the errors. Fails only when the document
/// cannot be typed at all (bad YAML, a top level that is not a mapping).
pub fn parse_partial(src: &str) -> Result<Partial, Diagnostics> {
    let root = Node::parse(src).map_err(Diagnostics::from)?;
    let parsed = node::from_node::<Config>(&root);
    let mut errors = Diagnostics(parsed.errors);
    let Some(mut config) = parsed.value else {
        errors.sort();
        return Err(errors);
    };
    // A field of a section that failed holds its type's stand-in (0, ""); the section's own
    // default is what the other checks must see (a route's header limit against the server's).
    let failed = |section: &str| -> Vec<String> {
        errors
            .iter()
            .filter_map(|e| {
                let rest = e.position.path.strip_prefix(section)?.strip_prefix('.')?;
                Some(rest.split(['.', '[']).next()?.to_string())
            })
            .collect()
    };
    restore_defaults(&mut config.server, &failed("server"));
    restore_defaults(&mut config.admin, &failed("admin"));
    restore_defaults(&mut config.runtime, &failed("runtime"));
    let mut unparsed = validate::Unparsed::default();
    let mut kept_all = HashMap::new();
    for (section, len) in [
        ("listeners", config.listeners.len()),
        ("services", config.services.len()),
        ("routes", config.routes.len()),
    ] {
        let failed: Vec<usize> = parsed
            .failed_items
            .iter()
            .filter_map(|p| {
                p.strip_prefix(section)?
                    .strip_prefix('[')?
                    .strip_suffix(']')?
                    .parse()
                    .ok()
            })
            .collect();
        let names = failed.iter().filter_map(|&i| item_name(&root, section, i));
        match section {
            "listeners" => unparsed.listeners.extend(names),
            "services" => unparsed.services.extend(names),
            _ => {}
        }
        let kept = (0..).filter(|i| !failed.contains(i)).take(len).collect();
        kept_all.insert(section.to_string(), kept);
    }
    let doc = Document {
        root,
        kept: kept_all,
    };
    let mut broken_matches = Vec::new();
    // A field that failed to parse holds a stand-in; what validation says of it is noise.
    let unparsable: Vec<String> = errors.iter().map(|e| e.position.path.clone()).collect();
    for d in validate::validate_with(&config, &unparsed) {
        // Route indices here are the config's (failed routes left out), as the router's are.
        if let Some(i) = d
            .position
            .path
            .strip_prefix("routes[")
            .and_then(|rest| rest.split_once("].match"))
            .and_then(|(i, _)| i.parse::<usize>().ok())
            && !broken_matches.contains(&i)
        {
            broken_matches.push(i);
        }
        let d = doc.resolve(d);
        if !unparsable.contains(&d.position.path) {
            errors.push(d);
        }
    }
    errors.sort();
    Ok(Partial {
        config,
        doc,
        errors,
        broken_matches,
    })
}

/// The `name` of item `index` of a top-level list, as written, when it is a plain string.
fn item_name(root: &Node, section: &str, index: usize) -> Option<String> {
    use node::NodeKind;
    fn field<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
        let NodeKind::Map(entries) = &node.kind else {
            return None;
        };
        entries
            .iter()
            .find(|(k, _)| matches!(&k.kind, NodeKind::Str(s) if s == key))
            .map(|(_, v)| v)
    }
    let NodeKind::Seq(items) = &field(root, section)?.kind else {
        return None;
    };
    match &field(items.get(index)?, "name")?.kind {
        NodeKind::Str(name) => Some(name.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semantic_errors_point_at_the_document_item_even_after_a_broken_one() {
        let src = "\
services:
  - name: a
    endpoints: [{url: 'http://127.0.0.1:1'}]
routes:
  - name: broken
    match: {path: /x}
    service: 12
    timeout: nope
  - name: good
    match: {path: /y}
    service: missing
";
        let errs = parse(src).unwrap_err();
        let text = errs.to_string();
        assert!(
            text.contains("routes[1].service (line 11, column 14): no service is named `missing`"),
            "{text}"
        );
        assert!(text.contains("routes[0].timeout (line 8"), "{text}");
    }

    #[test]
    fn unknown_fields_everywhere_are_all_reported() {
        let src = "\
listenrs: []
server: {idle_timout: 5s}
routes:
  - name: r
    match: {path: /x, hots: a.example.com}
    service: s
    servce: s
";
        let errs = parse(src).unwrap_err();
        let paths: Vec<_> = errs.iter().map(|d| d.position.path.clone()).collect();
        for p in [
            "listenrs",
            "server.idle_timout",
            "routes[0].match.hots",
            "routes[0].servce",
        ] {
            assert!(paths.contains(&p.to_string()), "{p} missing from {errs}");
        }
        assert!(
            errs.to_string().contains("did you mean `listeners`?"),
            "{errs}"
        );
    }

    #[test]
    fn a_service_that_failed_to_parse_is_not_reported_missing_by_its_routes() {
        let src = "\
services:
  - name: app
    endpoints: [{url: 'http://127.0.0.1:1'}]
    timeouts: {connect: soon}
routes:
  - name: r
    match: {path: /x, headers: [{name: x}]}
    service: app
";
        let p = parse_partial(src).unwrap();
        let text = p.errors.to_string();
        assert!(text.contains("services[0].timeouts.connect"), "{text}");
        assert!(!text.contains("no service is named"), "{text}");
        assert_eq!(p.broken_matches, vec![0], "{text}");
    }

    #[test]
    fn a_valid_config_parses_with_defaults() {
        let (c, _) = parse(
            "listeners: [{name: public, address: '127.0.0.1:8080'}]\nservices: [{name: s, endpoints: [{url: 'http://127.0.0.1:1'}]}]\nroutes: [{name: r, match: {path: '/{*rest}'}, service: s}]\n",
        )
        .unwrap();
        assert_eq!(c.server.max_headers, 100);
        assert_eq!(c.services[0].endpoints[0].weight, 1);
    }
}

#[cfg(test)]
mod header_matcher_tests {
    #[test]
    fn matchers_on_headers_removed_before_routing_are_refused() {
        let src = "\
services: [{name: s}]
routes:
  - name: r
    match:
      path: /x
      headers:
        - {name: X_Banyan_Consumer, exact: admin}
        - {name: connection, present: true}
        - {name: x-http-method-override, exact: DELETE}
        - {name: x-forwarded-proto, exact: https}
    service: s
";
        let errs = super::parse(src).unwrap_err();
        let paths: Vec<_> = errs.iter().map(|d| d.position.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "routes[0].match.headers[0].name",
                "routes[0].match.headers[1].name",
                "routes[0].match.headers[2].name"
            ],
            "{errs}"
        );
        assert!(errs.to_string().contains("identity namespace"), "{errs}");
    }

    /// The identity namespace is removed from every request: a prefix that would take the
    /// Host, the body's length or the request id with it is refused.
    #[test]
    fn an_identity_prefix_over_a_protected_field_is_refused() {
        for prefix in ["hos", "content-", "content-length", "x-request-"] {
            let src = format!(
                "server: {{identity_header_prefix: {prefix}}}\nservices: [{{name: s}}]\n\
                 routes: [{{name: r, match: {{path: /x}}, service: s}}]\n"
            );
            let errs = super::parse(&src).unwrap_err();
            assert_eq!(errs.len(), 1, "{prefix}: {errs}");
            assert!(
                errs.to_string().contains("would remove every client's"),
                "{errs}"
            );
        }
        for prefix in ["x-banyan-", "content-x-", "hostile-"] {
            let src = format!(
                "server: {{identity_header_prefix: {prefix}}}\nservices: [{{name: s}}]\n\
                 routes: [{{name: r, match: {{path: /x}}, service: s}}]\n"
            );
            assert!(super::parse(&src).is_ok(), "{prefix}");
        }
    }
}

#[cfg(test)]
mod section_tests {
    #[test]
    fn a_broken_server_section_does_not_hide_the_routes_errors() {
        let src = "\
server: {idle_timeout: soon}
services: [{name: s}]
routes:
  - {name: r, match: {path: /x}, service: nope}
";
        let errs = super::parse(src).unwrap_err();
        let paths: Vec<_> = errs.iter().map(|d| d.position.path.as_str()).collect();
        assert_eq!(
            paths,
            ["server.idle_timeout", "routes[0].service"],
            "{errs}"
        );
    }
}

#[cfg(test)]
mod every_field_tests {
    /// Every bad value is reported, however many share a mapping, and the stand-ins that let
    /// parsing go on never produce errors of their own.
    #[test]
    fn every_bad_field_of_a_mapping_is_reported_once() {
        let src = "\
server: {max_body_bytes: lots, header_read_timeout: -3s, max_headers: many}
services:
  - name: api
    endpoints: [{url: 'http://127.0.0.1:1', weight: heavy}]
    protocol: http3
    timeouts: {idle: forever, connect: soon}
    max_idle_per_endpoint: -1
routes:
  - name: r
    match: {path: /x, methods: GET}
    service: api
    timeout: soon
    max_body_bytes: big
  - {name: ok, match: {path: /y}, service: api}
";
        let errs = super::parse(src).unwrap_err();
        let paths: Vec<_> = errs.iter().map(|d| d.position.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "server.max_body_bytes",
                "server.header_read_timeout",
                "server.max_headers",
                "services[0].endpoints[0].weight",
                "services[0].protocol",
                "services[0].timeouts.idle",
                "services[0].timeouts.connect",
                "services[0].max_idle_per_endpoint",
                "routes[0].match.methods",
                "routes[0].timeout",
                "routes[0].max_body_bytes",
            ],
            "{errs}"
        );
    }
}

#[cfg(test)]
mod stand_in_tests {
    /// A section's field that failed takes the section's default for the checks that read it,
    /// not a stand-in that would make other parts look wrong.
    #[test]
    fn a_failed_section_field_does_not_make_other_parts_look_wrong() {
        let src = "\
admin: {enabled: maybe, address: 'not an address'}
server: {max_header_bytes: lots, identity_header_prefix: [x]}
services: [{name: s}]
routes:
  - name: r
    match: {path: /x, headers: [{name: x-tenant, exact: a}]}
    service: s
    max_header_bytes: 8KiB
";
        let errs = super::parse(src).unwrap_err();
        let paths: Vec<_> = errs.iter().map(|d| d.position.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "admin.enabled",
                "admin.address",
                "server.max_header_bytes",
                "server.identity_header_prefix"
            ],
            "{errs}"
        );
    }
}
