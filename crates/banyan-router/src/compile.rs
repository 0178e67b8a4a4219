//! From the model's routes to one [`Router`] per listener, with every pattern, rewrite and
//! conflict error reported against the route's path in the config.

use std::collections::HashMap;

use banyan_model::validate::compile_regex;
use banyan_model::{Config, Diagnostic, RouteConfig, ValueMatch};
use http::Method;

use crate::pattern::{HostPattern, PathPattern, Seg, Test, ValueMatcher};
use crate::table::{Route, Router};

/// A path rewrite, resolved against the route's captures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rewrite {
    /// Replace the path with this template; `Capture(i)` is the route's i-th capture.
    Template(Vec<Part>),
    /// Remove this many leading segments (`strip_prefix`).
    StripSegments(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Lit(String),
    Capture(usize),
}

/// Every listener's table, and per config route its rewrite.
#[derive(Debug)]
pub struct CompiledRoutes {
    pub tables: Vec<(String, Router)>,
    /// Indexed like `config.routes`.
    pub rewrites: Vec<Option<Rewrite>>,
}

impl CompiledRoutes {
    pub fn table(&self, listener: &str) -> Option<&Router> {
        self.tables
            .iter()
            .find(|(l, _)| l == listener)
            .map(|(_, r)| r)
    }
}

/// Compiles the routes of a config that passed the model's checks.
pub fn compile(config: &Config) -> Result<CompiledRoutes, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut routes = Vec::new();
    let mut rewrites = Vec::new();
    for (i, rc) in config.routes.iter().enumerate() {
        match compile_route(i, rc) {
            Ok((route, rewrite)) => {
                routes.push(Some(route));
                rewrites.push(rewrite);
            }
            Err(mut e) => {
                errors.append(&mut e);
                routes.push(None);
                rewrites.push(None);
            }
        }
    }
    let mut tables = Vec::new();
    let mut reported = std::collections::HashSet::new();
    for l in &config.listeners {
        let mine: Vec<Route> = config
            .routes
            .iter()
            .zip(&routes)
            .filter(|(rc, _)| rc.listeners.as_ref().is_none_or(|ls| ls.contains(&l.name)))
            .filter_map(|(_, r)| r.clone())
            .collect();
        for d in conflicts(&mine) {
            if reported.insert(d.position.path.clone() + &d.message) {
                errors.push(d);
            }
        }
        tables.push((l.name.clone(), Router::new(mine)));
    }
    if config.listeners.is_empty() {
        // A config with routes and no listener yet (a fragment being checked) still gets its
        // routes compared: they will share a table on whatever listener serves them.
        let all: Vec<Route> = routes.iter().flatten().cloned().collect();
        errors.extend(conflicts(&all));
    }
    if errors.is_empty() {
        Ok(CompiledRoutes { tables, rewrites })
    } else {
        Err(errors)
    }
}

/// Compiles one route, or returns all of its errors.
pub fn compile_route(
    i: usize,
    rc: &RouteConfig,
) -> Result<(Route, Option<Rewrite>), Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let at = |f: &str| format!("routes[{i}].{f}");
    let path = match PathPattern::parse(&rc.matches.path) {
        Ok(p) => Some(p),
        Err((msg, hint)) => {
            errors.push(Diagnostic::new(at("match.path"), msg).hint(hint));
            None
        }
    };
    let headers = compile_matchers(&rc.matches.headers, true);
    let query = compile_matchers(&rc.matches.query, false);
    let methods = rc.matches.methods.as_ref().map(|ms| {
        ms.iter()
            .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
            .collect::<Vec<_>>()
    });
    let Some(path) = path else {
        return Err(errors);
    };
    let rewrite = match compile_rewrite(rc, &path) {
        Ok(r) => r,
        Err(d) => {
            errors.push(d.into_at(&at("rewrite")));
            None
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let route = Route {
        id: i,
        name: rc.name.clone(),
        host: HostPattern::parse(rc.matches.host.as_deref()),
        methods,
        path,
        headers,
        query,
    };
    Ok((route, rewrite))
}

fn compile_matchers(ms: &[ValueMatch], header: bool) -> Vec<ValueMatcher> {
    ms.iter()
        .filter_map(|m| {
            let test = match (&m.exact, &m.regex, m.present) {
                (Some(x), None, None) => Test::Exact(x.clone()),
                (None, Some(r), None) => Test::Regex(compile_regex(r).ok()?),
                (None, None, Some(true)) => Test::Present,
                (None, None, Some(false)) => Test::Absent,
                _ => return None,
            };
            let name = if header {
                m.name.to_ascii_lowercase()
            } else {
                m.name.clone()
            };
            Some(ValueMatcher { name, test })
        })
        .collect()
}

struct RewriteError(String, String, &'static str);

impl RewriteError {
    fn into_at(self, base: &str) -> Diagnostic {
        Diagnostic::new(format!("{base}.{}", self.2), self.0).hint(self.1)
    }
}

fn compile_rewrite(rc: &RouteConfig, path: &PathPattern) -> Result<Option<Rewrite>, RewriteError> {
    let Some(rw) = &rc.rewrite else {
        return Ok(None);
    };
    match (&rw.path, &rw.strip_prefix) {
        (Some(_), Some(_)) => Err(RewriteError(
            "`path` and `strip_prefix` cannot be combined".into(),
            "a path template can drop the prefix itself: /{*rest}".into(),
            "path",
        )),
        (Some(t), None) => parse_template(t, path).map(|p| Some(Rewrite::Template(p))),
        (None, Some(prefix)) => {
            let want: Vec<&str> = crate::path::segments(prefix).collect();
            let lits: Vec<&str> = path
                .segs
                .iter()
                .map_while(|s| match s {
                    Seg::Lit(l) => Some(&**l),
                    _ => None,
                })
                .collect();
            if !prefix.starts_with('/') || want.is_empty() || !lits.starts_with(&want) {
                return Err(RewriteError(
                    format!(
                        "`{prefix}` is not a prefix of the route's path `{}`",
                        path.raw
                    ),
                    format!(
                        "strip a literal prefix of the pattern, like `{}`",
                        path.literal_prefix()
                    ),
                    "strip_prefix",
                ));
            }
            Ok(Some(Rewrite::StripSegments(want.len())))
        }
        (None, None) => Ok(None),
    }
}

fn parse_template(t: &str, path: &PathPattern) -> Result<Vec<Part>, RewriteError> {
    let err = |m: String, h: String| RewriteError(m, h, "path");
    if !t.starts_with('/') {
        return Err(err(
            format!("`{t}` does not start with `/`"),
            "write an absolute path like /invoices/{id}".into(),
        ));
    }
    let names: Vec<&str> = path.captures().collect();
    let mut parts = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Lit(rest[..open].to_string()));
        }
        let close = rest[open..].find('}').map(|c| c + open).ok_or_else(|| {
            err(
                format!("unclosed `{{` in `{t}`"),
                "captures are written {name}".into(),
            )
        })?;
        let name = rest[open + 1..close].trim_start_matches('*');
        let idx = names.iter().position(|n| *n == name).ok_or_else(|| {
            err(
                format!("`{{{name}}}` is not a capture of `{}`", path.raw),
                if names.is_empty() {
                    "this route's path has no captures".into()
                } else {
                    format!("captures: {}", names.join(", "))
                },
            )
        })?;
        parts.push(Part::Capture(idx));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Lit(rest.to_string()));
    }
    // What is forwarded must be as canonical as what was routed: check the whole template
    // with each capture standing for a plain segment.
    let sample: String = parts
        .iter()
        .map(|p| match p {
            Part::Lit(l) => l.as_str(),
            Part::Capture(_) => "x",
        })
        .collect();
    if let Some(c) = sample.chars().find(|c| matches!(c, '?' | '#' | '}')) {
        return Err(err(
            format!("`{c}` is not allowed in a path template"),
            "a template is a path only; the request's query is forwarded as it came".into(),
        ));
    }
    match crate::path::normalize(&sample) {
        Ok(n) if n == sample => {}
        Ok(n) => {
            return Err(err(
                format!("`{t}` is not in canonical form (it would be forwarded as `{n}`)"),
                "remove `//` and write unreserved characters without escapes".into(),
            ));
        }
        Err(e) => {
            return Err(err(
                format!("`{t}` is not a safe path: {e}"),
                "templates may not hold `.` or `..` segments, encoded `/` or `\\`, or control characters".into(),
            ));
        }
    }
    Ok(parts)
}

impl Rewrite {
    /// Builds the forwarded path from the canonical request path and its captures.
    pub fn apply(&self, path: &str, captures: &crate::table::Captures, out: &mut String) {
        match self {
            Rewrite::Template(parts) => {
                for p in parts {
                    match p {
                        Part::Lit(l) => out.push_str(l),
                        Part::Capture(i) => out.push_str(captures.get(path, *i).unwrap_or("")),
                    }
                }
                if out.is_empty() {
                    out.push('/');
                }
            }
            Rewrite::StripSegments(n) => {
                let mut rest = path;
                for _ in 0..*n {
                    rest = rest[1..].find('/').map_or("", |i| &rest[i + 1..]);
                }
                if rest.is_empty() {
                    out.push('/');
                } else {
                    out.push_str(rest);
                }
            }
        }
    }
}

/// Routes that could conflict: same host, literals in the same places, same priority.
type GroupKey<'a> = (String, Vec<(u8, &'a str)>, u8, usize);

/// Conflicts among the routes of one table: equal priority and an overlap.
fn conflicts(routes: &[Route]) -> Vec<Diagnostic> {
    // Only routes with the same host, the same literals in the same places and the same
    // priority can conflict, so group by that and compare within groups.
    let mut groups: HashMap<GroupKey<'_>, Vec<&Route>> = HashMap::new();
    for r in routes {
        let shape = r
            .path
            .segs
            .iter()
            .map(|s| match s {
                Seg::Lit(l) => (2, &**l),
                Seg::Param(_) => (1, ""),
                Seg::Tail(_) => (0, ""),
            })
            .collect();
        let key = (
            r.host.to_string(),
            shape,
            u8::from(r.methods.is_some()),
            r.headers.len() + r.query.len(),
        );
        groups.entry(key).or_default().push(r);
    }
    let mut out = Vec::new();
    for group in groups.values() {
        for (a, ra) in group.iter().enumerate() {
            for rb in group.iter().skip(a + 1) {
                if let Some(method) = shared_method(ra, rb)
                    && !excluded(&ra.headers, &rb.headers)
                    && !excluded(&ra.query, &rb.query)
                {
                    let (first, second) = if ra.id < rb.id { (ra, rb) } else { (rb, ra) };
                    let host = match &first.host {
                        HostPattern::Any => String::new(),
                        HostPattern::Exact(h) => format!(" (host {h})"),
                        HostPattern::Wildcard(s) => format!(" (host x.{s})"),
                    };
                    let same_methods = match (&first.methods, &second.methods) {
                        (Some(a), Some(b)) => a.len() == b.len() && a.iter().all(|m| b.contains(m)),
                        (a, b) => a.is_none() && b.is_none(),
                    };
                    let same = same_methods
                        && first.headers.len() == second.headers.len()
                        && first
                            .headers
                            .iter()
                            .zip(&second.headers)
                            .all(|(x, y)| x.same_as(y))
                        && first
                            .query
                            .iter()
                            .zip(&second.query)
                            .all(|(x, y)| x.same_as(y));
                    let hint = if same {
                        "the two routes match exactly the same requests: remove one, or tell them apart with `methods`, a header or a query matcher"
                    } else {
                        "neither is more specific: narrow one with a distinct `exact` header or query value, or `methods` (regexes are assumed to overlap)"
                    };
                    out.push(
                        Diagnostic::new(
                            format!("routes[{}].match", second.id),
                            format!(
                                "route `{}` conflicts with route `{}` (routes[{}]): both match {method} {}{host} at the same priority",
                                second.name,
                                first.name,
                                first.id,
                                first.path.example()
                            ),
                        )
                        .hint(hint),
                    );
                }
            }
        }
    }
    out.sort_by_key(|d| d.position.path.clone());
    out
}

fn shared_method(a: &Route, b: &Route) -> Option<String> {
    match (&a.methods, &b.methods) {
        (None, None) => Some("GET".into()),
        (Some(x), Some(y)) => x
            .iter()
            .find(|m| y.contains(m))
            .map(|m| m.to_string())
            .or_else(|| {
                let head_get = |p: &[Method], q: &[Method]| {
                    p.contains(&Method::HEAD) && q.contains(&Method::GET)
                };
                (head_get(x, y) || head_get(y, x)).then(|| "HEAD".into())
            }),
        // Different priorities; never in one group.
        _ => None,
    }
}

/// True when some name is matched by both sides in a way no request satisfies.
fn excluded(a: &[ValueMatcher], b: &[ValueMatcher]) -> bool {
    a.iter()
        .any(|x| b.iter().any(|y| x.name == y.name && x.excludes(y)))
}
