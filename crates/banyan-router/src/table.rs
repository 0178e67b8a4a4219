//! The compiled route table: routes in priority order, a segment trie per host tier for lookup,
//! and a linear `explain` that must agree with the trie (a property test holds them together).
//!
//! Priority, highest first, compared in this order:
//! 1. host: exact beats `*.wildcard` beats any;
//! 2. path, segment by segment from the left: literal beats `{param}` beats `{*tail}`
//!    (a pattern that ends beats a tail that would match nothing);
//! 3. a route with `methods` beats one without;
//! 4. more header and query matchers beat fewer.
//!
//! Two routes with equal priority that can match one request are a conflict. A route can never
//! be shadowed by a strictly higher one: covering every request of another route needs a
//! pattern that is no more specific in any dimension, which never sorts higher.

use std::collections::HashMap;

use http::{HeaderMap, Method};

use crate::pattern::{HostPattern, PathPattern, Seg, ValueMatcher};

/// A route as the router sees it. `id` is the caller's handle (an index into its own list).
#[derive(Clone, Debug)]
pub struct Route {
    pub id: usize,
    pub name: String,
    pub host: HostPattern,
    /// `None`: any method.
    pub methods: Option<Vec<Method>>,
    pub path: PathPattern,
    pub headers: Vec<ValueMatcher>,
    pub query: Vec<ValueMatcher>,
}

/// A route's place in the order; larger is tried first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority {
    host: u8,
    path: Vec<u8>,
    methods: u8,
    matchers: usize,
}

impl Route {
    pub fn priority(&self) -> Priority {
        Priority {
            host: self.host.rank(),
            path: self.path.kinds(),
            methods: u8::from(self.methods.is_some()),
            matchers: self.headers.len() + self.query.len(),
        }
    }

    fn accepts_method(&self, m: &Method) -> bool {
        // HEAD is served by whatever serves GET, as every HTTP server does.
        self.methods
            .as_ref()
            .is_none_or(|ms| ms.contains(m) || (*m == Method::HEAD && ms.contains(&Method::GET)))
    }

    fn accepts_matchers(&self, req: &RequestView<'_>) -> Result<(), Reason> {
        for h in &self.headers {
            if !h.accepts_header(req.headers) {
                return Err(Reason::Header(h.to_string()));
            }
        }
        for q in &self.query {
            if !q.accepts_query(req.query) {
                return Err(Reason::Query(q.to_string()));
            }
        }
        Ok(())
    }
}

/// What the router needs of a request. `host` is lower case without port or trailing dot;
/// `path` is canonical (see [`crate::path::normalize`]).
#[derive(Clone, Copy, Debug)]
pub struct RequestView<'a> {
    pub method: &'a Method,
    pub host: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

/// Byte ranges in a path, kept inline up to a handful so that a lookup does not allocate.
#[derive(Clone, Debug, Default)]
pub struct Spans {
    inline: [(u32, u32); 8],
    len: usize,
    spill: Vec<(u32, u32)>,
}

/// Equal when the spans are: `pop` leaves stale entries past `len`, and a spilled stack can
/// hold what another keeps inline.
impl PartialEq for Spans {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Spans {}

impl Spans {
    pub fn push(&mut self, span: (u32, u32)) {
        if self.len < self.inline.len() && self.spill.is_empty() {
            self.inline[self.len] = span;
        } else {
            if self.spill.is_empty() {
                self.spill.extend_from_slice(&self.inline[..self.len]);
            }
            self.spill.push(span);
        }
        self.len += 1;
    }

    pub fn pop(&mut self) {
        if self.len == 0 {
            return;
        }
        self.len -= 1;
        if !self.spill.is_empty() {
            self.spill.pop();
        }
    }

    pub fn as_slice(&self) -> &[(u32, u32)] {
        if self.spill.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spill
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl FromIterator<(u32, u32)> for Spans {
    fn from_iter<I: IntoIterator<Item = (u32, u32)>>(iter: I) -> Self {
        let mut s = Spans::default();
        for x in iter {
            s.push(x);
        }
        s
    }
}

/// Byte ranges of a route's captures in the request path, in the order of
/// [`PathPattern::captures`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Captures(pub Spans);

impl Captures {
    pub fn get<'p>(&self, path: &'p str, i: usize) -> Option<&'p str> {
        self.0
            .as_slice()
            .get(i)
            .map(|&(s, e)| &path[s as usize..e as usize])
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The result of a lookup.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Matched {
        id: usize,
        captures: Captures,
    },
    /// Some route has this host and path, but none of them takes this method.
    MethodNotAllowed(Vec<Method>),
    NotFound,
}

/// Why a route did not take a request (for `explain`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    Host,
    Path,
    Method(Vec<Method>),
    Header(String),
    Query(String),
}

#[derive(Default, Debug)]
struct Node {
    lits: Vec<(Box<str>, Node)>,
    /// Built once `lits` grows past a handful: a linear scan is faster below that.
    index: Option<HashMap<Box<str>, usize>>,
    param: Option<Box<Node>>,
    end: Vec<u32>,
    tail: Vec<u32>,
}

const INDEX_AFTER: usize = 8;

impl Node {
    fn child(&self, seg: &str) -> Option<&Node> {
        match &self.index {
            Some(ix) => ix.get(seg).map(|&i| &self.lits[i].1),
            None => self.lits.iter().find(|(l, _)| &**l == seg).map(|(_, n)| n),
        }
    }

    fn insert(&mut self, segs: &[Seg], route: u32) {
        match segs.first() {
            None => self.end.push(route),
            Some(Seg::Tail(_)) => self.tail.push(route),
            Some(Seg::Param(_)) => self.param.get_or_insert_default().insert(&segs[1..], route),
            Some(Seg::Lit(l)) => {
                let i = match self.lits.iter().position(|(x, _)| x == l) {
                    Some(i) => i,
                    None => {
                        self.lits.push((l.clone(), Node::default()));
                        self.lits.len() - 1
                    }
                };
                self.lits[i].1.insert(&segs[1..], route);
            }
        }
    }

    fn build_index(&mut self) {
        if self.lits.len() > INDEX_AFTER {
            self.index = Some(
                self.lits
                    .iter()
                    .enumerate()
                    .map(|(i, (l, _))| (l.clone(), i))
                    .collect(),
            );
        }
        for (_, n) in &mut self.lits {
            n.build_index();
        }
        if let Some(p) = &mut self.param {
            p.build_index();
        }
    }
}

/// The compiled table for one listener.
#[derive(Debug, Default)]
pub struct Router {
    /// Highest priority first.
    routes: Vec<Route>,
    exact: HashMap<String, Node>,
    wildcard: HashMap<String, Node>,
    any: Node,
}

/// Per-lookup scratch: segment spans and the capture stack.
struct Walk<'a> {
    req: &'a RequestView<'a>,
    segs: Spans,
    caps: Spans,
    allow: Vec<Method>,
}

impl Router {
    /// Builds the table. Routes are sorted by priority; ties keep a fixed order (host, path,
    /// name) so that the table is the same whatever order the config lists them in.
    pub fn new(mut routes: Vec<Route>) -> Self {
        routes.sort_by_cached_key(|r| {
            (
                std::cmp::Reverse(r.priority()),
                r.host.to_string(),
                r.path.raw.clone(),
                r.name.clone(),
            )
        });
        let mut router = Router {
            routes,
            ..Default::default()
        };
        for (i, r) in router.routes.iter().enumerate() {
            let trie = match &r.host {
                HostPattern::Exact(h) => router.exact.entry(h.clone()).or_default(),
                HostPattern::Wildcard(s) => router.wildcard.entry(s.clone()).or_default(),
                HostPattern::Any => &mut router.any,
            };
            trie.insert(&r.path.segs, i as u32);
        }
        for n in router
            .exact
            .values_mut()
            .chain(router.wildcard.values_mut())
        {
            n.build_index();
        }
        router.any.build_index();
        router
    }

    /// Routes in priority order, highest first.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Finds the route for a request: one walk per host tier, most specific first.
    pub fn lookup(&self, req: &RequestView<'_>) -> Outcome {
        let mut segs = Spans::default();
        let base = req.path.as_ptr() as usize;
        for s in crate::path::segments(req.path) {
            let start = (s.as_ptr() as usize - base) as u32;
            segs.push((start, start + s.len() as u32));
        }
        let mut w = Walk {
            req,
            segs,
            caps: Spans::default(),
            allow: Vec::new(),
        };
        // Like `HostPattern::matches`: a wildcard stands for one non-empty label. The host is
        // split only when some route names a wildcard (an empty map hashes nothing either).
        let wildcard = || {
            let (label, rest) = req.host.split_once('.')?;
            self.wildcard.get(rest).filter(|_| !label.is_empty())
        };
        let tiers = [
            self.exact.get(req.host),
            (!self.wildcard.is_empty()).then(wildcard).flatten(),
            Some(&self.any),
        ];
        for trie in tiers.into_iter().flatten() {
            if let Some(id) = self.walk(trie, 0, &mut w) {
                return Outcome::Matched {
                    id,
                    captures: Captures(w.caps),
                };
            }
        }
        if w.allow.is_empty() {
            Outcome::NotFound
        } else {
            Outcome::MethodNotAllowed(w.allow)
        }
    }

    fn walk(&self, node: &Node, depth: usize, w: &mut Walk<'_>) -> Option<usize> {
        if let Some(&(s, e)) = w.segs.as_slice().get(depth) {
            let seg = &w.req.path[s as usize..e as usize];
            if let Some(child) = node.child(seg)
                && let Some(id) = self.walk(child, depth + 1, w)
            {
                return Some(id);
            }
            // A `{param}` is one non-empty segment: `/users/` is not `/users/{id}` with no id.
            if let Some(child) = node.param.as_ref().filter(|_| e > s) {
                w.caps.push((s, e));
                if let Some(id) = self.walk(child, depth + 1, w) {
                    return Some(id);
                }
                w.caps.pop();
            }
        } else if let Some(id) = self.pick(&node.end, w) {
            return Some(id);
        }
        if !node.tail.is_empty() {
            let span = match w.segs.as_slice().get(depth) {
                Some(&(s, _)) => (s, w.req.path.len() as u32),
                None => (w.req.path.len() as u32, w.req.path.len() as u32),
            };
            w.caps.push(span);
            if let Some(id) = self.pick(&node.tail, w) {
                return Some(id);
            }
            w.caps.pop();
        }
        None
    }

    fn pick(&self, candidates: &[u32], w: &mut Walk<'_>) -> Option<usize> {
        for &i in candidates {
            let r = &self.routes[i as usize];
            if r.accepts_matchers(w.req).is_err() {
                continue;
            }
            if r.accepts_method(w.req.method) {
                return Some(r.id);
            }
            for m in r.methods.iter().flatten() {
                if !w.allow.contains(m) {
                    w.allow.push(m.clone());
                }
            }
        }
        None
    }

    /// Tries every route in priority order and says why each one above the winner lost.
    /// Slow and thorough: for `banyan routes explain`, never for traffic.
    pub fn explain(&self, req: &RequestView<'_>) -> Explanation {
        let mut losers = Vec::new();
        for (i, r) in self.routes.iter().enumerate() {
            match check(r, req) {
                Ok(captures) => {
                    return Explanation {
                        winner: Some((i, captures)),
                        losers,
                    };
                }
                Err(reason) => losers.push((i, reason)),
            }
        }
        Explanation {
            winner: None,
            losers,
        }
    }
}

/// `explain`'s answer: indices into [`Router::routes`].
#[derive(Debug)]
pub struct Explanation {
    pub winner: Option<(usize, Captures)>,
    pub losers: Vec<(usize, Reason)>,
}

/// Matches one route against a request without the trie.
pub fn check(r: &Route, req: &RequestView<'_>) -> Result<Captures, Reason> {
    if !r.host.matches(req.host) {
        return Err(Reason::Host);
    }
    let captures = match_path(&r.path, req.path).ok_or(Reason::Path)?;
    r.accepts_matchers(req)?;
    if !r.accepts_method(req.method) {
        return Err(Reason::Method(r.methods.clone().unwrap_or_default()));
    }
    Ok(captures)
}

fn match_path(p: &PathPattern, path: &str) -> Option<Captures> {
    let base = path.as_ptr() as usize;
    let segs: Vec<&str> = crate::path::segments(path).collect();
    let mut caps = Spans::default();
    for (i, s) in p.segs.iter().enumerate() {
        match s {
            Seg::Tail(_) => {
                let start = segs
                    .get(i)
                    .map_or(path.len(), |x| x.as_ptr() as usize - base);
                caps.push((start as u32, path.len() as u32));
                return Some(Captures(caps));
            }
            Seg::Lit(l) => {
                if segs.get(i) != Some(&&**l) {
                    return None;
                }
            }
            Seg::Param(_) => {
                let x = segs.get(i).filter(|x| !x.is_empty())?;
                let start = x.as_ptr() as usize - base;
                caps.push((start as u32, (start + x.len()) as u32));
            }
        }
    }
    (segs.len() == p.segs.len()).then_some(Captures(caps))
}
