//! The routing tree, with Prometheus Alertmanager's semantics: a route matches when all
//! its matchers hold (the root matches everything); its children are tried in order
//! and the first matching child wins unless it sets `continue`; when no child matches,
//! the route itself does. Children inherit receiver, `group_by` and timers from their
//! parent unless they set their own. Time-interval muting is per route, not inherited.

use crate::alert::config::RouteConfig;
use crate::alert::matcher::{self, Labels, Matcher};

pub const DEFAULT_GROUP_WAIT: i64 = 30_000;
pub const DEFAULT_GROUP_INTERVAL: i64 = 5 * 60_000;
pub const DEFAULT_REPEAT_INTERVAL: i64 = 4 * 3_600_000;

/// Which labels form a group's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// `["..."]`: every label; each distinct label set is its own group.
    All,
    Labels(Vec<String>),
}

impl GroupBy {
    /// The label values that identify the group of `labels`.
    pub fn key_labels(&self, labels: &Labels) -> Labels {
        match self {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        }
    }
}

/// A node of the tree with inherited options resolved.
#[derive(Debug, Clone)]
pub struct Route {
    /// Position in the tree (`root`, `root.0`, `root.0.2`): part of every group key.
    pub path: String,
    pub receiver: String,
    pub matchers: Vec<Matcher>,
    pub group_by: GroupBy,
    pub group_wait: i64,
    pub group_interval: i64,
    pub repeat_interval: i64,
    pub continue_matching: bool,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
    pub routes: Vec<Route>,
}

impl Route {
    /// Builds the tree from configuration; the root's receiver defaults to `default`.
    /// Matchers must have been validated (`alert::validate`); a bad one is an error here.
    pub fn build(config: &RouteConfig) -> Result<Route, String> {
        let root = Route {
            path: "root".into(),
            receiver: config.receiver.clone().unwrap_or_else(|| "default".into()),
            matchers: Vec::new(),
            group_by: GroupBy::Labels(Vec::new()),
            group_wait: DEFAULT_GROUP_WAIT,
            group_interval: DEFAULT_GROUP_INTERVAL,
            repeat_interval: DEFAULT_REPEAT_INTERVAL,
            continue_matching: false,
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
            routes: Vec::new(),
        };
        // The root's own matchers are ignored, as in Alertmanager: it catches everything.
        let mut root = Self::node(config, &root, "root".into())?;
        root.matchers.clear();
        Ok(root)
    }

    fn node(config: &RouteConfig, parent: &Route, path: String) -> Result<Route, String> {
        let matchers = matcher::parse_all(&config.matchers).map_err(|(_, e)| e)?;
        let group_by = match &config.group_by {
            None => parent.group_by.clone(),
            Some(names) if names.iter().any(|n| n == "...") => GroupBy::All,
            Some(names) => GroupBy::Labels(names.clone()),
        };
        let mut route = Route {
            path: path.clone(),
            receiver: config
                .receiver
                .clone()
                .unwrap_or_else(|| parent.receiver.clone()),
            matchers,
            group_by,
            group_wait: config.group_wait.map_or(parent.group_wait, |d| d.ms()),
            group_interval: config
                .group_interval
                .map_or(parent.group_interval, |d| d.ms()),
            repeat_interval: config
                .repeat_interval
                .map_or(parent.repeat_interval, |d| d.ms()),
            continue_matching: config.continue_matching,
            mute_time_intervals: config.mute_time_intervals.clone(),
            active_time_intervals: config.active_time_intervals.clone(),
            routes: Vec::new(),
        };
        for (i, child) in config.routes.iter().enumerate() {
            let c = Self::node(child, &route, format!("{path}.{i}"))?;
            route.routes.push(c);
        }
        Ok(route)
    }

    /// The routes an alert with `labels` is sent through, in tree order.
    pub fn matches(&self, labels: &Labels) -> Vec<&Route> {
        if !matcher::all_match(&self.matchers, labels) {
            return Vec::new();
        }
        let mut all = Vec::new();
        for child in &self.routes {
            let m = child.matches(labels);
            if !m.is_empty() {
                all.extend(m);
                if !child.continue_matching {
                    break;
                }
            }
        }
        if all.is_empty() {
            all.push(self);
        }
        all
    }

    /// Finds a route by its path.
    pub fn find(&self, path: &str) -> Option<&Route> {
        if self.path == path {
            return Some(self);
        }
        self.routes.iter().find_map(|r| r.find(path))
    }

    /// Every route in the tree (depth first).
    pub fn walk(&self) -> Vec<&Route> {
        let mut out = vec![self];
        for r in &self.routes {
            out.extend(r.walk());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::config::{Dur, RouteConfig};
    use crate::alert::matcher::labels;

    fn rc(receiver: Option<&str>, matchers: &[&str]) -> RouteConfig {
        RouteConfig {
            receiver: receiver.map(String::from),
            matchers: matchers.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn gb(names: &[&str]) -> Option<Vec<String>> {
        Some(names.iter().map(|s| s.to_string()).collect())
    }

    /// The tree of Alertmanager's dispatch/route_test.go TestRouteMatch.
    fn golden_tree() -> Route {
        let mut testing = rc(Some("notify-testing"), &["env=testing"]);
        testing.group_by = gb(&["..."]);
        let mut prod_a = rc(Some("notify-productionA"), &["env=production"]);
        prod_a.group_wait = Some(Dur(60_000));
        prod_a.continue_matching = true;
        let mut prod_b = rc(Some("notify-productionB"), &["env=~produ.*", "job=~.*"]);
        prod_b.group_wait = Some(Dur(30_000));
        prod_b.group_interval = Some(Dur(5 * 60_000));
        prod_b.repeat_interval = Some(Dur(3_600_000));
        prod_b.group_by = gb(&["job"]);
        let mut team_a = rc(Some("notify-A"), &["owner=team-A"]);
        team_a.routes = vec![testing, prod_a, prod_b];

        let mut team_bc = rc(Some("notify-BC"), &["owner=~team-(B|C)"]);
        team_bc.group_by = gb(&["foo", "bar"]);
        team_bc.group_wait = Some(Dur(2 * 60_000));

        let mut wait_long = rc(None, &["wait=long"]);
        wait_long.group_wait = Some(Dur(2 * 60_000));
        let mut role_testing = rc(Some("notify-testing"), &["env=testing"]);
        role_testing.routes = vec![wait_long];
        let mut by_role = rc(None, &["group_by=role"]);
        by_role.group_by = gb(&["role"]);
        by_role.routes = vec![role_testing];

        let mut root = rc(Some("notify-def"), &[]);
        root.routes = vec![team_a, team_bc, by_role];
        Route::build(&root).unwrap()
    }

    /// What a matched route resolves to: receiver, group_by, wait, interval, repeat, continue.
    type Want = (&'static str, GroupBy, i64, i64, i64, bool);

    fn by(names: &[&str]) -> GroupBy {
        GroupBy::Labels(names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn alertmanager_route_match_golden_table() {
        let tree = golden_tree();
        let (w, i, r) = (
            DEFAULT_GROUP_WAIT,
            DEFAULT_GROUP_INTERVAL,
            DEFAULT_REPEAT_INTERVAL,
        );
        let cases: Vec<(Labels, Vec<Want>)> = vec![
            (
                labels(&[("owner", "team-A")]),
                vec![("notify-A", by(&[]), w, i, r, false)],
            ),
            (
                labels(&[("owner", "team-A"), ("env", "unset")]),
                vec![("notify-A", by(&[]), w, i, r, false)],
            ),
            (
                labels(&[("owner", "team-C")]),
                vec![("notify-BC", by(&["foo", "bar"]), 120_000, i, r, false)],
            ),
            (
                labels(&[("owner", "team-A"), ("env", "testing")]),
                vec![("notify-testing", GroupBy::All, w, i, r, false)],
            ),
            (
                labels(&[("owner", "team-A"), ("env", "production")]),
                vec![
                    ("notify-productionA", by(&[]), 60_000, i, r, true),
                    (
                        "notify-productionB",
                        by(&["job"]),
                        30_000,
                        300_000,
                        3_600_000,
                        false,
                    ),
                ],
            ),
            (
                labels(&[("group_by", "role")]),
                vec![("notify-def", by(&["role"]), w, i, r, false)],
            ),
            (
                labels(&[("env", "testing"), ("group_by", "role")]),
                vec![("notify-testing", by(&["role"]), w, i, r, false)],
            ),
            (
                labels(&[("env", "testing"), ("group_by", "role"), ("wait", "long")]),
                vec![("notify-testing", by(&["role"]), 120_000, i, r, false)],
            ),
        ];
        for (l, want) in cases {
            let got: Vec<Want> = tree
                .matches(&l)
                .into_iter()
                .map(|m| {
                    let recv: &'static str = Box::leak(m.receiver.clone().into_boxed_str());
                    (
                        recv,
                        m.group_by.clone(),
                        m.group_wait,
                        m.group_interval,
                        m.repeat_interval,
                        m.continue_matching,
                    )
                })
                .collect();
            assert_eq!(got, want, "labels {l:?}");
        }
    }

    #[test]
    fn unmatched_goes_to_root_and_paths_are_distinct() {
        let tree = golden_tree();
        let m = tree.matches(&labels(&[("owner", "nobody")]));
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].receiver, "notify-def");
        assert_eq!(m[0].path, "root");
        let paths: Vec<&str> = tree.walk().iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "root",
                "root.0",
                "root.0.0",
                "root.0.1",
                "root.0.2",
                "root.1",
                "root.2",
                "root.2.0",
                "root.2.0.0"
            ]
        );
        assert_eq!(tree.find("root.2.0.0").unwrap().group_wait, 120_000);
    }

    #[test]
    fn group_key_labels() {
        let l = labels(&[("team", "ml"), ("kind", "x")]);
        assert_eq!(
            by(&["team", "env"]).key_labels(&l),
            labels(&[("team", "ml")])
        );
        assert_eq!(GroupBy::All.key_labels(&l), l);
    }
}
