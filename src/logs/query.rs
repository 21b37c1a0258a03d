//! What `logs` asks the journal for: a selection of apps, instances or namespaces, turned
//! into `journalctl` match expressions, and checked again on each record.

use super::marks::Marks;
use super::record::{self, Record, Stream};
use crate::unit::name as naming;
use crate::unit::name::{app_name, parse_instance_unit};
use std::collections::HashMap;

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

/// The journal of a user's own manager (`--user`). systemd 252 applies `LogExtraFields=` to
/// system units only, so the lines of a user's units carry no `PM2_*` field: they are found
/// by the fields journald itself derives from the process (`_SYSTEMD_USER_SLICE`,
/// `_SYSTEMD_USER_UNIT`, `_UID`), their app and instance come from the unit's name, and what
/// a name cannot say (namespace, `log_date_format`) from the state store. journald writes a
/// user's lines to a journal file of their own, or to the system journal for system users
/// (`nobody`, uid < 1000), which only members of `systemd-journal` read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserJournal {
    /// The user whose manager runs the apps.
    pub uid: u32,
    /// What the state store knows of each app, by name.
    pub apps: HashMap<String, AppFields>,
}

/// The `PM2_*` fields of an app that a user unit's lines lack.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppFields {
    pub namespace: String,
    pub date_format: Option<String>,
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
    pub user: Option<UserJournal>,
    /// `flush` marks: older lines are hidden.
    pub marks: Marks,
    /// The target was every app (`all` or none): when following, apps started later are
    /// followed too.
    pub every_app: bool,
    /// Show the system manager's own lines about the apps' units (`logs --events`); without
    /// it they are left out, whatever systemd tags them with.
    pub events: bool,
    /// The instance units of the selection, by which such lines are found where systemd does
    /// not give them the unit's `PM2_*` fields (252 does not, 257 does).
    pub event_units: Vec<String>,
}

impl Query {
    /// The journalctl command line (without the program name).
    ///
    /// Each matcher is one group of matches and `+` ORs groups, so `-n` counts only the
    /// lines that will be shown. journald's suppression notices are their own group: they
    /// carry no `PM2_APP`, only the unit's name in the text, and are filtered afterwards
    /// (a user unit's notices name the user's manager, not the unit: none are read there).
    /// An app's group asks for its slice too: systemd 257 gives PID 1's lines about a unit
    /// the unit's `PM2_APP`, but they come from `-.slice`, never from the app's. Those lines
    /// are a group of their own, by unit, when `events` asks for them.
    pub fn journalctl_args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "--no-pager".into(),
            "--output=json".into(),
            // Fields over 4 KiB would otherwise come back as null.
            "--all".into(),
            format!("--output-fields={}", record::FIELDS.join(",")),
            format!("--lines={}", self.lines),
        ];
        if self.user.is_some() {
            // Not `--user`: systemd 252 then reads only the user's own journal files, and
            // journald writes none for system users (their lines go to the system journal).
            // Every readable file, and `_UID` below, is the user's journal either way; quiet
            // about the files a user may not read.
            args.push("--quiet".into());
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
        // In a user's journal, only that user's entries.
        let owner: Vec<String> = self
            .user
            .iter()
            .map(|user| format!("_UID={}", user.uid))
            .collect();
        let mut groups: Vec<Vec<String>> = Vec::new();
        if self.selection.matchers.is_empty() {
            // No field means "entries with this field", so every entry is read and filtered.
            let group: Vec<String> = owner.iter().chain(&priorities).cloned().collect();
            if !group.is_empty() {
                groups.push(group);
            }
        }
        for matcher in &self.selection.matchers {
            let mut group = match (matcher, &self.user) {
                (Matcher::App { name, instances }, None) => {
                    let mut group = vec![
                        format!("PM2_APP={name}"),
                        format!(
                            "_SYSTEMD_SLICE={}{}.slice",
                            naming::PREFIX,
                            naming::escape(name)
                        ),
                    ];
                    for i in instances.iter().flatten() {
                        group.push(format!("PM2_INSTANCE={i}"));
                    }
                    group
                }
                (Matcher::App { name, instances }, Some(_)) => {
                    user_unit_matches(name, instances.as_deref())
                }
                (Matcher::Namespace(ns), _) => vec![format!("PM2_NAMESPACE={ns}")],
            };
            group.extend(owner.iter().cloned());
            group.extend(priorities.iter().cloned());
            groups.push(group);
        }
        if !groups.is_empty() && self.user.is_none() {
            groups.push(vec![format!("MESSAGE_ID={}", record::DROPPED_MESSAGE_ID)]);
            if self.events && !self.event_units.is_empty() {
                let mut group = vec!["_PID=1".to_string()];
                group.extend(self.event_units.iter().map(|u| format!("UNIT={u}")));
                groups.push(group);
            }
        }
        for (i, group) in groups.into_iter().enumerate() {
            if i > 0 {
                args.push("+".into());
            }
            args.extend(group);
        }
        args
    }

    /// Fills in the app, instance, namespace and date format of a user unit's line, which
    /// lack them (see [`UserJournal`]), and the app and instance of the manager's line about
    /// an instance unit where systemd did not tag it; any other record is left as it is.
    pub fn attribute(&self, record: &mut Record) {
        if let Some(unit) = record
            .event_unit
            .as_deref()
            .filter(|_| record.app.is_none())
        {
            if let Some(parsed) = parse_instance_unit(unit) {
                record.app = Some(app_name(parsed.escaped));
                record.instance = Some(parsed.index);
            }
            return;
        }
        let Some(user) = &self.user else {
            return;
        };
        if record.app.is_some() {
            return;
        }
        let Some((app, index)) = record
            .user_unit
            .as_deref()
            .and_then(parse_instance_unit)
            .map(|unit| (app_name(unit.escaped), unit.index))
        else {
            return;
        };
        if let Some(fields) = user.apps.get(&app) {
            record
                .namespace
                .get_or_insert_with(|| fields.namespace.clone());
            if record.date_format.is_none() {
                record.date_format = fields.date_format.clone();
            }
        }
        record.instance = Some(index);
        record.app = Some(app);
    }

    /// Whether `record` belongs in the output (journalctl's matches already did most of it).
    pub fn accepts(&self, record: &Record) -> bool {
        if let Some(unit) = &record.dropped_from {
            let flushed = parse_instance_unit(unit).is_some_and(|u| {
                record.realtime_usec <= self.marks.hidden_until(&app_name(u.escaped), None)
            });
            return !flushed && self.selection.accepts_unit(unit);
        }
        let Some(app) = &record.app else {
            return false;
        };
        if let Some(unit) = &record.event_unit {
            // Neither stdout nor stderr: only when asked, and for the selection.
            return self.events
                && record.realtime_usec
                    > self.marks.hidden_until(app, record.namespace.as_deref())
                && (self.event_units.contains(unit)
                    || self.selection.accepts_app(
                        app,
                        record.instance,
                        record.namespace.as_deref(),
                    ));
        }
        record.realtime_usec > self.marks.hidden_until(app, record.namespace.as_deref())
            && self.streams.accepts(record.stream)
            && self
                .selection
                .accepts_app(app, record.instance, record.namespace.as_deref())
    }
}

/// The matches of an app's lines in a user's journal: its slice holds every instance
/// (those started later too, when following); selected instances are their units.
fn user_unit_matches(name: &str, instances: Option<&[u32]>) -> Vec<String> {
    let escaped = naming::escape(name);
    match instances {
        Some(list) if !list.is_empty() => list
            .iter()
            .map(|i| format!("_SYSTEMD_USER_UNIT={}{escaped}@{i}.service", naming::PREFIX))
            .collect(),
        _ => vec![format!(
            "_SYSTEMD_USER_SLICE={}{escaped}.slice",
            naming::PREFIX
        )],
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
        self.accepts_app(&app_name(parsed.escaped), Some(parsed.index), None)
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
                "_SYSTEMD_SLICE=pm2ctl-api.slice",
                "+",
                "PM2_APP=worker",
                "_SYSTEMD_SLICE=pm2ctl-worker.slice",
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
            user: Some(UserJournal::default()),
            ..query(vec![app("a")], StreamFilter::Both)
        };
        let args = q.journalctl_args();
        for flag in [
            "--follow",
            "--since=-1h",
            "--quiet",
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
            user_unit: None,
            event_unit: None,
        }
    }

    fn user_query(matchers: Vec<Matcher>, streams: StreamFilter) -> Query {
        let api = AppFields {
            namespace: "prod".into(),
            date_format: Some("HH:mm".into()),
        };
        Query {
            user: Some(UserJournal {
                uid: 1000,
                apps: HashMap::from([("my-api".to_string(), api)]),
            }),
            ..query(matchers, streams)
        }
    }

    #[test]
    fn a_users_apps_are_matched_by_their_units_and_uid() {
        let q = user_query(
            vec![
                app("my-api"),
                Matcher::App {
                    name: "worker".into(),
                    instances: Some(vec![1, 2]),
                },
            ],
            StreamFilter::Err,
        );
        let errors = ["PRIORITY=0", "PRIORITY=1", "PRIORITY=2", "PRIORITY=3"];
        let mut expected = vec!["_SYSTEMD_USER_SLICE=pm2ctl-my\\x2dapi.slice", "_UID=1000"];
        expected.extend(errors);
        expected.extend([
            "+",
            "_SYSTEMD_USER_UNIT=pm2ctl-worker@1.service",
            "_SYSTEMD_USER_UNIT=pm2ctl-worker@2.service",
            "_UID=1000",
        ]);
        expected.extend(errors);
        assert_eq!(matches(&q), expected, "no suppression notices group either");
        assert!(!q.journalctl_args().contains(&"--user".to_string()));

        // Every app, as the follower of `logs all` reads: the user's entries, filtered.
        let every = user_query(vec![], StreamFilter::Both);
        assert_eq!(matches(&every), ["_UID=1000"]);
    }

    #[test]
    fn a_user_units_line_gets_its_app_from_the_unit_name() {
        let q = user_query(vec![app("my-api")], StreamFilter::Both);
        let mut line = Record {
            user_unit: Some("pm2ctl-my\\x2dapi@2.service".into()),
            ..record(None, 0, Stream::Out)
        };
        line.namespace = None;
        assert!(!q.accepts(&line), "not attributed yet");
        q.attribute(&mut line);
        assert_eq!(line.app.as_deref(), Some("my-api"));
        assert_eq!(line.instance, Some(2));
        assert_eq!(line.namespace.as_deref(), Some("prod"));
        assert_eq!(line.date_format.as_deref(), Some("HH:mm"));
        assert!(q.accepts(&line));

        // Another unit of the user, or the system journal's own view: left alone.
        let mut other = Record {
            user_unit: Some("dbus.service".into()),
            ..record(None, 0, Stream::Out)
        };
        q.attribute(&mut other);
        assert_eq!(other.app, None);
        let system = query(vec![app("my-api")], StreamFilter::Both);
        let mut line = Record {
            user_unit: Some("pm2ctl-my\\x2dapi@0.service".into()),
            ..record(None, 0, Stream::Out)
        };
        system.attribute(&mut line);
        assert_eq!(line.app, None, "system mode shows system apps only");
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

    fn event(unit: &str, app: Option<&str>) -> Record {
        Record {
            event_unit: Some(unit.into()),
            namespace: None,
            ..record(app, 0, Stream::Out)
        }
    }

    #[test]
    fn the_managers_lines_are_shown_only_when_asked() {
        let mut q = query(vec![app("chatty")], StreamFilter::Both);
        // As 257 tags them, and as 252 does not (the app comes from the unit's name).
        let tagged = event("pm2ctl-chatty@0.service", Some("chatty"));
        let mut untagged = event("pm2ctl-chatty@1.service", None);
        q.attribute(&mut untagged);
        assert_eq!(untagged.app.as_deref(), Some("chatty"));
        assert_eq!(untagged.instance, Some(1));
        assert!(!q.accepts(&tagged), "an event is not the app's output");
        assert!(!q.accepts(&untagged));
        assert!(!matches(&q).contains(&"_PID=1".to_string()));

        q.events = true;
        q.event_units = vec![
            "pm2ctl-chatty@0.service".into(),
            "pm2ctl-chatty@1.service".into(),
        ];
        assert!(q.accepts(&tagged));
        assert!(q.accepts(&untagged));
        let mut other = event("pm2ctl-web@0.service", None);
        q.attribute(&mut other);
        assert!(!q.accepts(&other), "another app's events");
        assert_eq!(
            matches(&q)[matches(&q).len() - 3..],
            [
                "_PID=1",
                "UNIT=pm2ctl-chatty@0.service",
                "UNIT=pm2ctl-chatty@1.service"
            ]
        );
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
