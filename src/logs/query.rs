//! What `logs` asks the journal for: a selection of apps, instances or namespaces, turned
//! into `journalctl` match expressions, and checked again on each record.

use super::marks::Marks;
use super::record::{self, Record, Stream};
use crate::lifecycle::processes::{parse_instance_unit, unescape};

/// One thing selected by a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// An app; `instances: None` is every instance.
    App {
        name: String,
        instances: Option<Vec<u32>>,
    },
    /// Every app of a namespace.
    Namespace(String),
}

/// Which records `logs` shows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    /// Empty: every pm2ctl app (any entry carrying `PM2_APP`).
    pub matchers: Vec<Matcher>,
}

/// `--out`, `--err`, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamFilter {
    #[default]
    Both,
    Out,
    Err,
}

impl StreamFilter {
    pub fn accepts(self, stream: Stream) -> bool {
        match self {
            StreamFilter::Both => true,
            StreamFilter::Out => stream == Stream::Out,
            StreamFilter::Err => stream == Stream::Err,
        }
    }

    /// The `PRIORITY=` alternatives for journalctl (syslog priorities are 0..=7).
    fn priorities(self) -> Vec<u8> {
        match self {
            StreamFilter::Both => Vec::new(),
            StreamFilter::Err => (0..=3).collect(),
            StreamFilter::Out => (4..=7).collect(),
        }
    }
}

/// Everything `logs` asks the journal for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    pub selection: Selection,
    pub streams: StreamFilter,
    /// How many past lines to show before following (`--lines`).
    pub lines: u32,
    pub follow: bool,
    /// journalctl's `--since` syntax, passed through.
    pub since: Option<String>,
    /// Read the calling user's journal (apps of a user manager).
    pub user: bool,
    /// `flush` marks: older lines are hidden.
    pub marks: Marks,
    /// The target was every app (`all` or none): when following, apps started later are
    /// followed too.
    pub every_app: bool,
}

impl Query {
    /// The journalctl command line (without the program name).
    ///
    /// Each matcher is one group of matches and `+` ORs groups, so `-n` counts only the
    /// lines that will be shown. journald's suppression notices are their own group: they
    /// carry no `PM2_APP`, only the unit's name in the text, and are filtered afterwards.
    pub fn journalctl_args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "--no-pager".into(),
            "--output=json".into(),
            // Fields over 4 KiB would otherwise come back as null.
            "--all".into(),
            format!("--output-fields={}", record::FIELDS.join(",")),
            format!("--lines={}", self.lines),
        ];
        if self.user {
            args.push("--user".into());
        }
        if self.follow {
            args.push("--follow".into());
        }
        if let Some(since) = &self.since {
            args.push(format!("--since={since}"));
        }
        let priorities: Vec<String> = self
            .streams
            .priorities()
            .iter()
            .map(|p| format!("PRIORITY={p}"))
            .collect();
        let mut groups: Vec<Vec<String>> = Vec::new();
        if self.selection.matchers.is_empty() {
            // No field means "entries with this field", so every entry is read and filtered.
            if !priorities.is_empty() {
                groups.push(priorities.clone());
            }
        }
        for matcher in &self.selection.matchers {
            let mut group = match matcher {
                Matcher::App { name, instances } => {
                    let mut group = vec![format!("PM2_APP={name}")];
                    for i in instances.iter().flatten() {
                        group.push(format!("PM2_INSTANCE={i}"));
                    }
                    group
                }
                Matcher::Namespace(ns) => vec![format!("PM2_NAMESPACE={ns}")],
            };
            group.extend(priorities.iter().cloned());
            groups.push(group);
        }
        if !groups.is_empty() {
            groups.push(vec![format!("MESSAGE_ID={}", record::DROPPED_MESSAGE_ID)]);
        }
        for (i, group) in groups.into_iter().enumerate() {
            if i > 0 {
                args.push("+".into());
            }
            args.extend(group);
        }
        args
    }

    /// Whether `record` belongs in the output (journalctl's matches already did most of it).
    pub fn accepts(&self, record: &Record) -> bool {
        if let Some(unit) = &record.dropped_from {
            let flushed = parse_instance_unit(unit).is_some_and(|u| {
                record.realtime_usec <= self.marks.hidden_until(&unescape(u.escaped), None)
            });
            return !flushed && self.selection.accepts_unit(unit);
        }
        let Some(app) = &record.app else {
            return false;
        };
        record.realtime_usec > self.marks.hidden_until(app, record.namespace.as_deref())
            && self.streams.accepts(record.stream)
            && self
                .selection
                .accepts_app(app, record.instance, record.namespace.as_deref())
    }
}

impl Selection {
    pub fn accepts_app(&self, app: &str, instance: Option<u32>, namespace: Option<&str>) -> bool {
        if self.matchers.is_empty() {
            return true;
        }
        self.matchers.iter().any(|m| match m {
            Matcher::App { name, instances } => {
                name == app
                    && instances
                        .as_ref()
                        .is_none_or(|list| instance.is_some_and(|i| list.contains(&i)))
            }
            Matcher::Namespace(ns) => namespace == Some(ns.as_str()),
        })
    }

    /// Whether a suppression notice about `unit` concerns the selection. A unit name says
    /// nothing of its namespace, so a namespace selection takes every pm2ctl unit's notices.
    pub fn accepts_unit(&self, unit: &str) -> bool {
        let Some(parsed) = parse_instance_unit(unit) else {
            return false;
        };
        if self.matchers.is_empty()
            || self
                .matchers
                .iter()
                .any(|m| matches!(m, Matcher::Namespace(_)))
        {
            return true;
        }
        self.accepts_app(&unescape(parsed.escaped), Some(parsed.index), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str) -> Matcher {
        Matcher::App {
            name: name.into(),
            instances: None,
        }
    }

    fn query(matchers: Vec<Matcher>, streams: StreamFilter) -> Query {
        Query {
            selection: Selection { matchers },
            streams,
            lines: 15,
            ..Query::default()
        }
    }

    fn matches(q: &Query) -> Vec<String> {
        q.journalctl_args()
            .into_iter()
            .skip_while(|a| a.starts_with("--"))
            .collect()
    }

    #[test]
    fn each_app_is_a_group_and_suppression_notices_one_more() {
        let q = query(
            vec![
                app("api"),
                Matcher::App {
                    name: "worker".into(),
                    instances: Some(vec![1, 2]),
                },
            ],
            StreamFilter::Both,
        );
        assert_eq!(
            matches(&q),
            [
                "PM2_APP=api",
                "+",
                "PM2_APP=worker",
                "PM2_INSTANCE=1",
                "PM2_INSTANCE=2",
                "+",
                "MESSAGE_ID=a596d6fe7bfa4994828e72309e95d61e"
            ]
        );
        let args = q.journalctl_args();
        assert!(args.contains(&"--lines=15".to_string()));
        assert!(!args.contains(&"--follow".to_string()));
    }

    #[test]
    fn err_and_out_are_priority_ranges_in_every_group() {
        let q = query(vec![Matcher::Namespace("prod".into())], StreamFilter::Err);
        assert_eq!(
            matches(&q),
            [
                "PM2_NAMESPACE=prod",
                "PRIORITY=0",
                "PRIORITY=1",
                "PRIORITY=2",
                "PRIORITY=3",
                "+",
                "MESSAGE_ID=a596d6fe7bfa4994828e72309e95d61e"
            ]
        );
        let q = query(vec![], StreamFilter::Out);
        assert_eq!(
            matches(&q)[..4],
            ["PRIORITY=4", "PRIORITY=5", "PRIORITY=6", "PRIORITY=7"]
        );
    }

    #[test]
    fn follow_since_and_user_reach_journalctl() {
        let q = Query {
            follow: true,
            since: Some("-1h".into()),
            user: true,
            ..query(vec![app("a")], StreamFilter::Both)
        };
        let args = q.journalctl_args();
        for flag in [
            "--follow",
            "--since=-1h",
            "--user",
            "--output=json",
            "--all",
        ] {
            assert!(args.contains(&flag.to_string()), "{flag} missing: {args:?}");
        }
    }

    fn record(app: Option<&str>, instance: u32, stream: Stream) -> Record {
        Record {
            realtime_usec: 1,
            message: "m".into(),
            stream,
            app: app.map(String::from),
            instance: Some(instance),
            namespace: Some("default".into()),
            date_format: None,
            dropped_from: None,
        }
    }

    #[test]
    fn records_are_checked_against_the_selection() {
        let q = query(
            vec![Matcher::App {
                name: "api".into(),
                instances: Some(vec![1]),
            }],
            StreamFilter::Err,
        );
        assert!(q.accepts(&record(Some("api"), 1, Stream::Err)));
        assert!(!q.accepts(&record(Some("api"), 0, Stream::Err)));
        assert!(!q.accepts(&record(Some("api"), 1, Stream::Out)));
        assert!(!q.accepts(&record(Some("web"), 1, Stream::Err)));
        assert!(
            !q.accepts(&record(None, 1, Stream::Err)),
            "not an app's line"
        );

        let every = query(vec![], StreamFilter::Both);
        assert!(every.accepts(&record(Some("web"), 3, Stream::Out)));
        assert!(!every.accepts(&record(None, 3, Stream::Out)));
    }

    #[test]
    fn flushed_lines_are_hidden() {
        let mut q = query(vec![], StreamFilter::Both);
        q.marks.apps.insert("api".into(), 1);
        assert!(
            !q.accepts(&record(Some("api"), 0, Stream::Out)),
            "at the mark"
        );
        assert!(
            q.accepts(&record(Some("web"), 0, Stream::Out)),
            "another app"
        );
        let later = Record {
            realtime_usec: 2,
            ..record(Some("api"), 0, Stream::Out)
        };
        assert!(q.accepts(&later));
        let notice = Record {
            dropped_from: Some("pm2ctl-api@0.service".into()),
            ..record(None, 0, Stream::Out)
        };
        assert!(!q.accepts(&notice));
    }

    #[test]
    fn suppression_notices_follow_the_selection() {
        let notice = |unit: &str| Record {
            dropped_from: Some(unit.into()),
            ..record(None, 0, Stream::Out)
        };
        let q = query(vec![app("my-api")], StreamFilter::Err);
        assert!(q.accepts(&notice("pm2ctl-my\\x2dapi@0.service")));
        assert!(!q.accepts(&notice("pm2ctl-web@0.service")));
        assert!(!q.accepts(&notice("nginx.service")));
        let every = query(vec![], StreamFilter::Both);
        assert!(every.accepts(&notice("pm2ctl-web@0.service")));
        assert!(!every.accepts(&notice("nginx.service")));
    }
}
