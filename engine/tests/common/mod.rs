//! Terse construction of rule graphs for the engine's tests, which cannot use the compiler:
//! hostile and handmade graphs, and `rich_graph` for encodings. (A graph the language can
//! write is better written in it: `tests/` compiles rule sets.) And a `Journey` that plays
//! events for one customer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code
)]

use omnirule_engine::bundle::Bundle;
use omnirule_engine::graph::*;
use omnirule_engine::input::{Event, Profile};
use omnirule_engine::memory::Memory;
use omnirule_engine::{Decision, evaluate};
use serde_json::{Value as J, json};

pub const MIN: Millis = 60_000;
pub const HOUR: Millis = 3_600_000;
pub const DAY: Millis = 86_400_000;

fn field(name: &str, ty: Type, optional: bool) -> Field {
    Field {
        name: name.into(),
        ty,
        optional,
        pii: false,
    }
}

/// The shop schema most tests share (like the cross-crate tests' `SHOP`).
pub fn shop_schema() -> Schema {
    Schema {
        timezone: "UTC".into(),
        consents: vec!["marketing".into(), "location".into()],
        profile: vec![
            field("first_name", Type::String, true),
            field("tier", Type::String, false),
            field("score", Type::Number, true),
            field("labels", Type::Set(Box::new(Type::String)), false),
            field("birthday", Type::Time, true),
        ],
        events: vec![
            EventType {
                name: "page_view".into(),
                fields: vec![
                    field("sku", Type::String, false),
                    field("category", Type::String, false),
                    field("price", Type::Number, false),
                    field("tag", Type::String, true),
                    field("tags", Type::Set(Box::new(Type::String)), true),
                    field("dwell", Type::Duration, true),
                    field("seen_at", Type::Time, true),
                ],
                retain: None,
            },
            EventType {
                name: "purchase".into(),
                fields: vec![
                    field("sku", Type::String, false),
                    field("amount", Type::Number, false),
                    field("channel", Type::String, false),
                ],
                retain: Some(365 * DAY),
            },
            EventType {
                name: "beacon_enter".into(),
                fields: vec![
                    field("store", Type::String, false),
                    field("zone", Type::String, false),
                ],
                retain: None,
            },
        ],
        actions: vec![
            ActionType {
                name: "offer".into(),
                params: vec![
                    field("code", Type::String, false),
                    field("sku", Type::String, true),
                    field("percent", Type::Number, true),
                    field("message", Type::String, true),
                ],
            },
            ActionType {
                name: "banner".into(),
                params: vec![
                    field("slot", Type::String, false),
                    field("text", Type::String, false),
                ],
            },
        ],
    }
}

pub const PAGE_VIEW: EventTypeId = 0;
pub const PURCHASE: EventTypeId = 1;
pub const BEACON: EventTypeId = 2;
pub const OFFER: ActionId = 0;
pub const BANNER: ActionId = 1;

/// A graph under construction.
pub struct G {
    pub g: Graph,
}

impl Default for G {
    fn default() -> Self {
        Self::new()
    }
}

impl G {
    pub fn new() -> G {
        G {
            g: Graph {
                schema: shop_schema(),
                nodes: Vec::new(),
                queries: Vec::new(),
                conds: Vec::new(),
                cond_sources: CondSources::default(),
                segments: Vec::new(),
                groups: Vec::new(),
                rules: Vec::new(),
                triggers: Vec::new(),
                retention: Vec::new(),
                timezone: TzTable {
                    name: "UTC".into(),
                    initial_offset: 0,
                    transitions: Vec::new(),
                    rule: None,
                },
                limits: Limits::default(),
                goals: Vec::new(),
            },
        }
    }

    /// Hash-consed node.
    pub fn node(&mut self, n: Node) -> NodeId {
        if let Some(i) = self.g.nodes.iter().position(|x| *x == n) {
            return i as NodeId;
        }
        self.g.nodes.push(n);
        (self.g.nodes.len() - 1) as NodeId
    }
    pub fn s(&mut self, v: &str) -> NodeId {
        self.node(Node::Lit(Literal::String(v.into())))
    }
    pub fn n(&mut self, v: f64) -> NodeId {
        self.node(Node::Lit(Literal::Number(v)))
    }
    pub fn b(&mut self, v: bool) -> NodeId {
        self.node(Node::Lit(Literal::Bool(v)))
    }
    pub fn ev(&mut self, f: &str) -> NodeId {
        self.node(Node::EventField(f.into()))
    }
    pub fn prof(&mut self, f: &str) -> NodeId {
        self.node(Node::ProfileField(f.into()))
    }
    pub fn bound(&mut self, slot: Slot) -> NodeId {
        self.node(Node::Bound(slot))
    }
    /// `slot.field`
    pub fn bf(&mut self, slot: Slot, f: &str) -> NodeId {
        let of = self.bound(slot);
        self.node(Node::Field { of, name: f.into() })
    }
    pub fn cmp(&mut self, op: CmpOp, a: NodeId, b: NodeId) -> NodeId {
        self.node(Node::Cmp(op, a, b))
    }
    pub fn eq(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.cmp(CmpOp::Eq, a, b)
    }
    pub fn and(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.node(Node::And(a, b))
    }
    pub fn interp(&mut self, pieces: Vec<Piece>) -> NodeId {
        self.node(Node::Interp(pieces))
    }
    /// An interpolation of a single value.
    pub fn text_of(&mut self, n: NodeId) -> NodeId {
        self.interp(vec![Piece::Value(n)])
    }

    pub fn query(
        &mut self,
        event: EventTypeId,
        within: Option<Millis>,
        since: Option<Slot>,
        slot: Slot,
        filter: Option<NodeId>,
    ) -> QueryId {
        let q = Query {
            event,
            within,
            since,
            slot,
            filter,
        };
        if let Some(i) = self.g.queries.iter().position(|x| *x == q) {
            return i as QueryId;
        }
        self.g.queries.push(q);
        (self.g.queries.len() - 1) as QueryId
    }

    pub fn cond(&mut self, c: Cond, source: &str) -> CondId {
        self.g.conds.push(c);
        self.g.cond_sources.push(source);
        (self.g.conds.len() - 1) as CondId
    }
    pub fn test(&mut self, n: NodeId, source: &str) -> CondId {
        self.cond(Cond::Test(n), source)
    }

    pub fn group(&mut self, name: &str, cap: Option<Cap>) -> GroupId {
        self.g.groups.push(Group {
            name: name.into(),
            cap,
        });
        (self.g.groups.len() - 1) as GroupId
    }

    pub fn segment(&mut self, name: &str, cond: CondId, slots: Slot) -> SegmentId {
        self.g.segments.push(Segment {
            name: name.into(),
            cond,
            slots,
        });
        (self.g.segments.len() - 1) as SegmentId
    }

    /// `banner { slot: "s", text: <text> }`
    pub fn banner(&mut self, text: NodeId) -> ActionCall {
        let slot = self.s("s");
        ActionCall {
            action: BANNER,
            params: vec![("slot".into(), slot), ("text".into(), text)],
        }
    }

    /// A rule on `on` that shows a banner with its own name; adjust and [`G::add`] it.
    pub fn rule(&mut self, name: &str, on: &[EventTypeId], when: Option<CondId>) -> Rule {
        let text = self.s(name);
        let call = self.banner(text);
        Rule {
            name: name.into(),
            title: None,
            on: on.to_vec(),
            consents: Vec::new(),
            when,
            outcome: Outcome::Actions(vec![call]),
            cap: None,
            priority: 0,
            group: None,
            schedule: Schedule::default(),
            slots: 8,
        }
    }

    pub fn add(&mut self, r: Rule) -> RuleId {
        self.g.rules.push(r);
        (self.g.rules.len() - 1) as RuleId
    }

    /// Triggers (priority descending, then file order) and retention (per queried type: the
    /// longest `within`, else the type's `retain`, else 30 days; all declared fields; everyone),
    /// then the graph.
    pub fn graph(mut self) -> Graph {
        let n = self.g.schema.events.len();
        self.g.triggers.clear();
        for ev in 0..n as u32 {
            let mut rules: Vec<(i64, usize)> = self
                .g
                .rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.on.contains(&ev))
                .map(|(i, r)| (r.priority, i))
                .collect();
            if rules.is_empty() {
                continue;
            }
            rules.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            self.g.triggers.push(Trigger {
                event: ev,
                rules: rules.into_iter().map(|(_, i)| i as u32).collect(),
            });
        }
        self.g.retention = (0..n)
            .map(|i| {
                let et = &self.g.schema.events[i];
                let qs: Vec<&Query> = self
                    .g
                    .queries
                    .iter()
                    .filter(|q| q.event as usize == i)
                    .collect();
                if qs.is_empty() {
                    return Retention {
                        event: i as u32,
                        keep: None,
                        fields: Vec::new(),
                        consents: Vec::new(),
                    };
                }
                let keep = qs
                    .iter()
                    .map(|q| q.within.or(et.retain).unwrap_or(30 * DAY))
                    .max();
                Retention {
                    event: i as u32,
                    keep,
                    fields: et.fields.iter().map(|f| f.name.clone()).collect(),
                    consents: vec![vec![]],
                }
            })
            .collect();
        self.g
    }

    pub fn bundle(self) -> Bundle {
        Bundle::new(self.graph()).unwrap()
    }
}

/// Parses an RFC 3339 instant.
pub fn t(s: &str) -> Millis {
    omnirule_text::time::parse_time(s).unwrap()
}

pub fn customer() -> J {
    json!({"id": "c1", "tier": "silver", "labels": [], "consents": ["marketing", "location"]})
}

pub fn view(time: &str, sku: &str, category: &str) -> J {
    json!({"type": "page_view", "id": format!("v-{time}-{sku}"), "time": time,
           "sku": sku, "category": category, "price": 10})
}

pub fn purchase(time: &str, sku: &str) -> J {
    json!({"type": "purchase", "id": format!("p-{time}-{sku}"), "time": time,
           "sku": sku, "amount": 10, "channel": "store"})
}

pub fn beacon(time: &str) -> J {
    json!({"type": "beacon_enter", "id": format!("b-{time}"), "time": time,
           "store": "paris-01", "zone": "entrance"})
}

/// One customer's journey.
pub struct Journey {
    pub bundle: Bundle,
    pub profile: Profile,
    pub memory: Memory,
}

impl Journey {
    pub fn new(bundle: Bundle, profile: J) -> Journey {
        let profile = Profile::from_json(&bundle, &profile).unwrap();
        Journey {
            bundle,
            profile,
            memory: Memory::default(),
        }
    }

    pub fn send(&mut self, event: J) -> Vec<Decision> {
        let event = Event::from_json(&self.bundle, &event).unwrap();
        let out = evaluate(&self.bundle, &self.memory, &self.profile, &event);
        self.memory = out.memory;
        out.decisions
    }

    pub fn play(&mut self, events: impl IntoIterator<Item = J>) -> Vec<Decision> {
        let mut last = Vec::new();
        for e in events {
            last = self.send(e);
        }
        last
    }
}

pub fn rules(decisions: &[Decision]) -> Vec<&str> {
    decisions.iter().map(|d| &*d.rule).collect()
}

pub fn param<'a>(decisions: &'a [Decision], rule: &str, name: &str) -> &'a J {
    static NULL: J = J::Null;
    decisions
        .iter()
        .find(|d| &*d.rule == rule)
        .and_then(|d| d.params.get(name))
        .unwrap_or(&NULL)
}

/// A graph using most features (bindings, since, segments, groups, caps, splits, schedules,
/// a timezone), for encoding and robustness tests.
pub fn rich_graph() -> Graph {
    let mut g = G::new();
    g.g.timezone = TzTable {
        name: "Europe/Paris".into(),
        initial_offset: 3600,
        transitions: vec![(1_774_746_000_000, 7200), (1_792_890_000_000, 3600)],
        rule: None,
    };
    let cat = g.bf(4, "category");
    let knit = g.s("knit");
    let is_knit = g.eq(cat, knit);
    let q1 = g.query(PAGE_VIEW, Some(7 * DAY), None, 4, Some(is_knit));
    let bind = g.cond(
        Cond::Bind { query: q1, slot: 4 },
        "seen page_view as v within 7d where v.category == \"knit\"",
    );
    let psku = g.bf(0, "sku");
    let vsku = g.bf(4, "sku");
    let same = g.eq(psku, vsku);
    let q2 = g.query(PURCHASE, None, Some(4), 0, Some(same));
    let seen = g.node(Node::Seen(q2));
    let not = g.node(Node::Not(seen));
    let test = g.test(not, "not seen purchase since v where purchase.sku == v.sku");
    let both = g.cond(Cond::And(vec![bind, test]), "...");
    let hero = g.group("entrance_screen", Some(Cap::Limit { count: 2, per: DAY }));
    let code = g.s("KNIT20");
    let pct = g.n(20.0);
    let first = g.prof("first_name");
    let there = g.s("there");
    let name = g.node(Node::Coalesce(first, there));
    let msg = g.interp(vec![
        Piece::Text("Hi ".into()),
        Piece::Value(name),
        Piece::Text(", ".into()),
        Piece::Value(vsku),
    ]);
    let mut r = g.rule("sweater_in_store", &[BEACON], Some(both));
    r.title = Some("Browsed knitwear online, now in a store".into());
    r.consents = vec![0, 1];
    r.outcome = Outcome::Actions(vec![ActionCall {
        action: OFFER,
        params: vec![
            ("code".into(), code),
            ("sku".into(), vsku),
            ("percent".into(), pct),
            ("message".into(), msg),
        ],
    }]);
    r.cap = Some(Cap::Limit {
        count: 1,
        per: 30 * DAY,
    });
    r.priority = 10;
    r.group = Some(hero);
    r.schedule = Schedule {
        active: Some((20_758, 20_849)),
        hours: Some((540, 1260)),
        days: None,
    };
    g.add(r);
    let qp = g.query(PURCHASE, Some(90 * DAY), None, 0, None);
    let seenp = g.node(Node::Seen(qp));
    let dormant_n = g.node(Node::Not(seenp));
    let dormant_c = g.test(dormant_n, "not seen purchase within 90d");
    let dormant = g.segment("dormant", dormant_c, 1);
    let seg = g.node(Node::Segment(dormant));
    let c = g.test(seg, "dormant");
    let unit = g.prof("id");
    let back = g.s("BACK10");
    let mut w = g.rule("win_back", &[BEACON, PAGE_VIEW], Some(c));
    w.consents = vec![0];
    w.outcome = Outcome::Split {
        name: "win_back_test".into(),
        unit,
        arms: vec![
            Arm {
                basis_points: 5000,
                variant: None,
                actions: vec![],
            },
            Arm {
                basis_points: 5000,
                variant: Some("ten".into()),
                actions: vec![ActionCall {
                    action: OFFER,
                    params: vec![("code".into(), back)],
                }],
            },
        ],
    };
    w.cap = Some(Cap::Once);
    g.add(w);
    let lst = g.node(Node::Lit(Literal::List(vec![
        Literal::String("a".into()),
        Literal::Number(1.5),
        Literal::Duration(5),
        Literal::Time(6),
        Literal::Bool(true),
        Literal::List(vec![]),
    ])));
    let tag = g.ev("tag");
    let inl = g.node(Node::In(tag, lst));
    let c2 = g.test(inl, "event.tag in [...]");
    let r3 = g.rule("tagged", &[PAGE_VIEW], Some(c2));
    g.add(r3);
    g.graph()
}
