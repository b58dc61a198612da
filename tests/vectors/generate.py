#!/usr/bin/env python3
"""Writes the generated conformance vectors in tests/vectors/generated/.

Each family below states a semantic rule of the language or runtime and computes the expected
decisions with its own small oracle (window arithmetic, FNV-1a, JavaScript number printing,
local time through Python's zoneinfo...), independent of the engine. The engine is then checked
against these expectations on every runtime; a disagreement is a bug in one of the two, and is
decided by the contract (docs/language.md), never by copying the engine's output here.

    python3 tests/vectors/generate.py          # rewrite the files
    python3 tests/vectors/generate.py --check  # exit 1 if the files are stale

Hand-written vectors for the trickiest cases live beside, in tests/vectors/*.json.
"""

import datetime as dt
import json
import math
import os
import sys
from decimal import Decimal
from zoneinfo import ZoneInfo

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "generated")

SCHEMA = """schema {
  timezone "Europe/Paris"
  consent marketing, location
  profile { first_name: string? pii, tier: string, score: number?, labels: set<string> }
  event page_view    { sku: string, category: string, price: number, tag: string? }
  event purchase     { sku: string, amount: number, channel: string }
  event beacon_enter { store: string, zone: string }
  action offer  { code: string, sku: string?, percent: number?, message: string? }
  action banner { slot: string, text: string }
}
"""

MS = 1
SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
T0 = 1_795_168_800_000  # 2026-11-20T10:00:00Z, a Friday


def rfc3339(ms):
    t = dt.datetime.fromtimestamp(ms // 1000, tz=dt.timezone.utc)
    frac = ms % 1000
    base = t.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:03d}Z" if frac else f"{base}Z"


def customer(cid="c1", consents=("marketing", "location"), **fields):
    p = {"id": cid, "tier": "silver", "labels": [], "consents": list(consents)}
    p.update(fields)
    return p


def view(ms, sku="SW-1", category="knitwear", price=79, eid=None, **extra):
    e = {"type": "page_view", "id": eid or f"v-{ms}", "time": rfc3339(ms), "sku": sku,
         "category": category, "price": price}
    e.update(extra)
    return e


def purchase(ms, sku="SW-1", amount=79, eid=None):
    return {"type": "purchase", "id": eid or f"p-{ms}", "time": rfc3339(ms), "sku": sku,
            "amount": amount, "channel": "store"}


def beacon(ms, eid=None):
    return {"type": "beacon_enter", "id": eid or f"b-{ms}", "time": rfc3339(ms),
            "store": "paris-01", "zone": "entrance"}


def banner(rule, slot, text, group=None):
    return {"rule": rule, "action": "banner", "params": {"slot": slot, "text": text},
            "group": group, "experiment": None, "variant": None}


def banner_rule(name, on, when=None, text=None, extra=""):
    lines = [f"rule {name} {{", f"  on {on}"]
    if when:
        lines.append(f"  when {when}")
    lines.append(f'  do banner {{ slot: "s", text: "{text or name}" }}')
    if extra:
        lines.extend("  " + x for x in extra.strip().splitlines())
    lines.append("}")
    return "\n".join(lines) + "\n"


def vector(name, profile, events, expect, remembered=None, fired=None):
    v = {"name": name, "profile": profile, "memory": None, "events": events,
         "expect": [{"decisions": d} for d in expect]}
    if remembered is not None:
        v["remembered"] = remembered
    if fired is not None:
        v["fired"] = fired
    return v


def family(topic, about, rules, vectors, schema=SCHEMA):
    return {"format": "omnirule-vectors", "version": 1, "topic": topic, "about": about,
            "rules": schema + "\n" + rules, "vectors": vectors}


# ----- windows: `within D` includes an event exactly D old -----------------------------------

def windows():
    spans = [("1h", HOUR), ("1d", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY)]
    rules = "".join(banner_rule(f"w_{n}", "beacon_enter", f"seen page_view within {n}")
                    for n, _ in spans)
    deltas = [1, HOUR - 1, HOUR, HOUR + 1, DAY - MINUTE, DAY, DAY + 1, 6 * DAY, 7 * DAY,
              7 * DAY + 1, 30 * DAY - HOUR, 30 * DAY, 30 * DAY + 1, 31 * DAY]
    vs = []
    for d in deltas:
        v = view(T0)
        b = beacon(T0 + d)
        fired = [banner(f"w_{n}", "s", f"w_{n}") for n, w in spans if d <= w]
        # Page views are read by 30-day queries at most: older ones are dropped.
        remembered = [v["id"]] if d <= 30 * DAY else []
        vs.append(vector(f"a view {d} ms before the beacon", customer(), [v, b],
                         [[], fired], remembered=remembered))
    return family("windows", "`within D` means at most D before now, inclusive; memory keeps "
                  "what the longest window reads, that long.", rules, vs)


# ----- splits: FNV-1a 32 of NAME:unit, modulo 10000, cumulative basis points -----------------

def fnv1a32(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def splits():
    arms = [("control", 1000), ("a", 2000), ("b", 7000)]
    rules = """rule exp {
  on page_view
  do split promo_2026 by profile.id {
    10% control
    20% "a": banner { slot: "s", text: "A" }
    70% "b": banner { slot: "s", text: "B" }
  }
}
rule exp_tier {
  on beacon_enter
  do split tier_test by profile.tier {
    50% "x": banner { slot: "t", text: "X" }
    50% control
  }
}
"""
    units = [f"c{i}" for i in range(1, 81)] + [
        "zoë", "Zoë", "客户-42", "🧶-knit", "", " ", "c1 ", "C1", "ana@example.com",
        "0", "-1", "9007199254740993", "é", "e\u0301", "a" * 200, "tab\tid", "quote\"id",
        "back\\slash", "ß", "İstanbul"]
    vs = []
    for u in units:
        bucket = fnv1a32(f"promo_2026:{u}".encode("utf-8")) % 10000
        acc = 0
        variant = None
        for name, bp in arms:
            acc += bp
            if bucket < acc:
                variant = name
                break
        if variant == "control":
            d = {"rule": "exp", "action": None, "params": {}, "group": None,
                 "experiment": "promo_2026", "variant": "control"}
        else:
            d = {"rule": "exp", "action": "banner",
                 "params": {"slot": "s", "text": variant.upper()}, "group": None,
                 "experiment": "promo_2026", "variant": variant}
        vs.append(vector(f"unit {json.dumps(u, ensure_ascii=True)} (bucket {bucket})",
                         customer(u), [view(T0)], [[d]]))
    for tier in ["gold", "silver", "bronze", "platinum", "Gold", "金"]:
        bucket = fnv1a32(f"tier_test:{tier}".encode("utf-8")) % 10000
        if bucket < 5000:
            d = {"rule": "exp_tier", "action": "banner", "params": {"slot": "t", "text": "X"},
                 "group": None, "experiment": "tier_test", "variant": "x"}
        else:
            d = {"rule": "exp_tier", "action": None, "params": {}, "group": None,
                 "experiment": "tier_test", "variant": "control"}
        vs.append(vector(f"tier {tier} (bucket {bucket})", customer("c1", tier=tier),
                         [beacon(T0)], [[d]]))
    return family("splits", "Bucket = FNV-1a 32-bit of UTF-8 `NAME:unit` mod 10000 against "
                  "cumulative basis points; control decisions carry no action.", rules, vs)


# ----- numbers: interpolation prints numbers as JavaScript does ------------------------------

def js_number(x: float) -> str:
    """ECMAScript Number::toString(10)."""
    if math.isnan(x):
        return "NaN"
    if x == 0:
        return "0"
    if x < 0:
        return "-" + js_number(-x)
    if math.isinf(x):
        return "Infinity"
    # Shortest round-trip digits (Python's repr uses the same criterion as JavaScript).
    d = Decimal(repr(x))
    sign, digits, exp = d.normalize().as_tuple()
    s = "".join(map(str, digits))
    k = len(s)
    n = exp + k  # value = 0.s * 10^n
    if k <= n <= 21:
        return s + "0" * (n - k)
    if 0 < n <= 21:
        return s[:n] + "." + s[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + s
    e = n - 1
    es = f"e+{e}" if e >= 0 else f"e-{-e}"
    return (s if k == 1 else s[0] + "." + s[1:]) + es


def numbers():
    rules = """rule price_text {
  on page_view
  do banner { slot: "p", text: "{event.price}" }
}
rule tripled {
  on page_view
  do banner { slot: "x3", text: "{event.price * 3}" }
}
rule plus_tenth {
  on page_view
  do banner { slot: "plus", text: "{event.price + 0.1}" }
}
rule halved {
  on page_view
  do banner { slot: "half", text: "{event.price / 2}" }
}
rule negated {
  on page_view
  do banner { slot: "neg", text: "{-event.price}" }
}
"""
    prices = [0, 1, -1, 0.1, 0.2, 0.5, 79.9, 79.95, 1e21, 1e-7, 1.5e-7, 0.000001, 123456789012,
              9007199254740991, 9007199254740993, -273.15, 1e300, 2.5e-300, 3.14159,
              100, 1e20, 123e18, 0.1 + 0.2, 1 / 3, 2 / 3, 1e-6, 4.35, -0.0000005, 5e-324]
    vs = []
    for p in prices:
        x = float(p)
        def dec(slot, rule, value):
            return banner(rule, slot, js_number(value))
        ds = [dec("p", "price_text", x), dec("x3", "tripled", x * 3),
              dec("plus", "plus_tenth", x + 0.1), dec("half", "halved", x / 2),
              dec("neg", "negated", -x)]
        # The engine's decisions: in file order (all priority 0).
        vs.append(vector(f"price {p!r}", customer(), [view(T0, price=p)], [ds]))
    return family("numbers", "Numbers interpolate as JavaScript's Number::toString prints "
                  "them; arithmetic is IEEE 754 double.", rules, vs)


# ----- missing values: any comparison with missing is false, != too --------------------------

def missing():
    checks = [
        ("gt", "profile.score > 10", lambda s: s is not None and s > 10),
        ("le", "profile.score <= 10", lambda s: s is not None and s <= 10),
        ("eq", "profile.score == 10", lambda s: s is not None and s == 10),
        ("ne", "profile.score != 10", lambda s: s is not None and s != 10),
        ("is_missing", "profile.score is missing", lambda s: s is None),
        ("is_present", "profile.score is present", lambda s: s is not None),
        ("coalesce", "(profile.score ?? 0) > 10", lambda s: (s if s is not None else 0) > 10),
        ("not_gt", "not (profile.score > 10)", lambda s: not (s is not None and s > 10)),
        ("arith", "profile.score + 1 > 10", lambda s: s is not None and s + 1 > 10),
        ("or_missing", "profile.score > 10 or profile.tier == \"gold\"",
         lambda s: s is not None and s > 10),
    ]
    rules = "".join(banner_rule(n, "page_view", w) for n, w, _ in checks)
    vs = []
    for score in [None, "null", 5, 10, 11, -3.5, 9.999999, 1e9]:
        fields = {} if score is None else {"score": None if score == "null" else score}
        s = None if score in (None, "null") else score
        ds = [banner(n, "s", n) for n, _, f in checks if f(s)]
        label = "absent" if score is None else f"{score}"
        vs.append(vector(f"score {label}", customer(**fields), [view(T0)], [ds]))
    return family("missing", "Comparisons with a missing operand are false (`!=` too); `??` "
                  "supplies a default; arithmetic on missing is missing.", rules, vs)


# ----- caps: `limit N per D` counts earlier firings in the D before now, inclusive -----------

def caps():
    rules = (banner_rule("twice_a_day", "beacon_enter", extra="limit 2 per 1d")
             + banner_rule("once_ever", "beacon_enter", extra="once")
             + banner_rule("weekly", "beacon_enter", extra="limit 1 per 7d"))
    caps_def = [("twice_a_day", 2, DAY), ("once_ever", 1, None), ("weekly", 1, 7 * DAY)]
    patterns = [
        [0],
        [0, HOUR],
        [0, HOUR, 2 * HOUR],
        [0, HOUR, DAY],
        [0, HOUR, DAY + 1],
        [0, 7 * DAY],
        [0, 7 * DAY + 1],
        [0, DAY, 2 * DAY, 3 * DAY],
        [0, 1, 2, 3, 4],
        [0, 6 * DAY, 7 * DAY, 7 * DAY + 1, 14 * DAY + 2],
        [0, HOUR, DAY + HOUR, DAY + HOUR + 1],
        [0, 12 * HOUR, 24 * HOUR, 36 * HOUR, 48 * HOUR],
    ]
    vs = []
    for pat in patterns:
        history = {name: [] for name, _, _ in caps_def}
        events, expect = [], []
        for off in pat:
            now = T0 + off
            b = beacon(now)
            ds = []
            for name, n, w in caps_def:
                past = history[name]
                used = len(past) if w is None else sum(1 for t in past if now - t <= w)
                if used < n:
                    past.append(now)
                    ds.append(banner(name, "s", name))
            events.append(b)
            expect.append(ds)
        last = T0 + pat[-1]
        # Firing records kept: those the windows of an event up to one window late can still
        # count, 2 × the window before the newest (once: all of them).
        fired = []
        for name, n, w in caps_def:
            for t in history[name]:
                if w is None or last - t <= 2 * w:
                    fired.append([name, f"b-{t}"])
        fired.sort(key=lambda f: (f[0], f[1]))
        vs.append(vector("beacons at +" + ", +".join(f"{o}ms" for o in pat), customer(),
                         events, expect, remembered=[], fired=fired))
    return family("caps", "`limit N per D`: at most N firings in the D before now, inclusive, "
                  "not counting the current event; `once`: never again.", rules, vs)


# ----- decision order and groups -------------------------------------------------------------

def ordering():
    import random
    rng = random.Random(20261123)
    out = []
    for k in range(20):
        n = rng.randint(3, 6)
        rules, specs = "group g\n", []
        for i in range(n):
            prio = rng.choice([-5, 0, 0, 1, 3, 10])
            grouped = rng.random() < 0.5
            name = f"r{i}"
            extra = (f"priority {prio}\n" if prio else "") + ("group g\n" if grouped else "")
            rules += banner_rule(name, "page_view", text=name, extra=extra)
            specs.append((name, prio, grouped, i))
        ordered = sorted(specs, key=lambda s: (-s[1], s[3]))
        ds, taken = [], False
        for name, prio, grouped, _ in ordered:
            if grouped:
                if taken:
                    continue
                taken = True
            ds.append(banner(name, "s", name, group="g" if grouped else None))
        v = vector("one page view", customer(), [view(T0)], [ds])
        out.append(family(f"ordering_{k:02d}", "Decisions come in priority order (descending), "
                          "then file order; in a group only the first fires.", rules, [v]))
    return out


# ----- schedules: hours and days in the rule set's timezone, across DST ----------------------

def schedules():
    paris = ZoneInfo("Europe/Paris")
    rules = (banner_rule("open_hours", "beacon_enter", extra="hours 09:00 .. 21:00")
             + banner_rule("night", "beacon_enter", extra="hours 22:00 .. 02:00")
             + banner_rule("weekend", "beacon_enter", extra="days sat, sun")
             + banner_rule("workweek", "beacon_enter", extra="days mon .. fri")
             + banner_rule("early_bird", "beacon_enter", extra="hours 02:00 .. 03:30"))
    instants = []
    for day in ["2026-03-28", "2026-03-29", "2026-03-30", "2026-10-24", "2026-10-25",
                "2026-11-20", "2026-11-22"]:
        for hhmm in ["00:30", "01:00", "01:59", "02:30", "07:59", "08:00", "08:59", "09:00",
                     "19:59", "20:00", "20:59", "21:00", "23:30"]:
            instants.append(f"{day}T{hhmm}:00Z")
    vs = []
    for iso in instants:
        utc = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
        local = utc.astimezone(paris)
        minutes = local.hour * 60 + local.minute
        wd = local.weekday()  # Monday 0
        ds = []
        if 9 * 60 <= minutes < 21 * 60:
            ds.append(banner("open_hours", "s", "open_hours"))
        if minutes >= 22 * 60 or minutes < 2 * 60:
            ds.append(banner("night", "s", "night"))
        if wd >= 5:
            ds.append(banner("weekend", "s", "weekend"))
        if wd <= 4:
            ds.append(banner("workweek", "s", "workweek"))
        if 2 * 60 <= minutes < 3 * 60 + 30:
            ds.append(banner("early_bird", "s", "early_bird"))
        ms = int(utc.timestamp() * 1000)
        vs.append(vector(f"{iso} ({local.strftime('%a %H:%M %Z')} in Paris)", customer(),
                         [beacon(ms)], [ds]))
    return family("schedules", "`hours` and `days` are local to the schema's timezone; DST "
                  "changes move them in UTC.", rules, vs)


# ----- unicode strings -----------------------------------------------------------------------

def unicode_strings():
    rules = """rule shout {
  on page_view
  do banner { slot: "up", text: "{upper(event.sku)}|{lower(event.sku)}|{len(event.sku)}" }
}
rule knit {
  on page_view
  when contains(lower(event.category), "strick") or starts_with(event.category, "🧶")
  do banner { slot: "k", text: "knit:{event.category}" }
}
rule ends {
  on page_view
  when ends_with(event.sku, "é")
  do banner { slot: "e", text: "é" }
}
"""
    cases = [("SW-1", "knitwear"), ("straße", "Strickwaren"), ("ÉTÉ-é", "🧶 wool"),
             ("zoë", "STRICKJACKE"), ("客户", "毛衣"), ("🧶🧵", "🧶"), ("", ""),
             ("café", "e\u0301"), ("cafe\u0301", "x"), ("ǅ", "ǈ"), ("Σσς", "ΣΑΣ"),
             ("<script>alert(1)</script>", "<b>"), ("tab\tnew\nline", "\"quoted\""),
             ("ﬀ", "ﬁ"), ("İ", "ı")]
    vs = []
    for sku, cat in cases:
        ds = [banner("shout", "up", f"{sku.upper()}|{sku.lower()}|{len(sku)}")]
        if "strick" in cat.lower() or cat.startswith("🧶"):
            ds.append(banner("knit", "k", f"knit:{cat}"))
        if sku.endswith("é"):
            ds.append(banner("ends", "e", "é"))
        vs.append(vector(f"sku {json.dumps(sku)} category {json.dumps(cat)}", customer(),
                         [view(T0, sku=sku, category=cat)], [ds]))
    return family("unicode", "Strings are Unicode: case mapping is full (ß → SS), `len` counts "
                  "code points, comparisons are by code point, no normalisation.", rules, vs)


# ----- consent -------------------------------------------------------------------------------

def consent():
    rules = (banner_rule("mkt", "beacon_enter", "seen page_view within 7d",
                         extra="consent marketing")
             + banner_rule("loc", "beacon_enter", extra="consent location")
             + banner_rule("both", "beacon_enter", extra="consent marketing, location")
             + banner_rule("anyone", "beacon_enter"))
    vs = []
    for consents in [[], ["marketing"], ["location"], ["marketing", "location"],
                     ["location", "marketing"], ["Marketing"], ["marketing", "other"]]:
        c = set(consents)
        ds = []
        if "marketing" in c:
            ds.append(banner("mkt", "s", "mkt"))
        if "location" in c:
            ds.append(banner("loc", "s", "loc"))
        if {"marketing", "location"} <= c:
            ds.append(banner("both", "s", "both"))
        ds.append(banner("anyone", "s", "anyone"))
        v = view(T0)
        # Page views are read only by `mkt`: remembered only with marketing consent.
        remembered = [v["id"]] if "marketing" in c else []
        vs.append(vector(f"consents {consents}", customer(consents=consents),
                         [v, beacon(T0 + HOUR)], [[], ds], remembered=remembered))
    return family("consent", "A rule fires and reads history only with all its consents; "
                  "memory keeps an event type only for customers who allow a rule reading it.",
                  rules, vs)


# ----- groups with caps ---------------------------------------------------------------------

# ----- late events: a cap holds in every window, whatever order events arrive in ------------

def late_caps():
    rules = (banner_rule("twice_a_day", "beacon_enter", extra="limit 2 per 1d")
             + banner_rule("monthly", "beacon_enter", extra="limit 1 per 30d")
             + banner_rule("once_ever", "beacon_enter", extra="once"))
    caps_def = [("twice_a_day", 2, DAY), ("monthly", 1, 30 * DAY), ("once_ever", 1, None)]
    MIN = 60_000
    # Offsets in arrival order; a smaller one after a larger one is a late event.
    patterns = [
        [30 * MIN, 29 * MIN],
        [30 * MIN, 29 * MIN, 28 * MIN, 27 * MIN],
        [0, 2 * DAY, DAY],
        [0, 2 * DAY, DAY + 1],
        [DAY, 0, 2 * DAY],
        [0, 3 * DAY, 2 * DAY - 1, 2 * DAY + 1],
        [10 * DAY, 9 * DAY, 8 * DAY, 11 * DAY],
        [5 * DAY, 3 * DAY, 4 * DAY + HOUR],
        [40 * DAY, 5 * DAY, 39 * DAY, 80 * DAY],
        [HOUR, 0, 2 * HOUR, 3 * HOUR, DAY + 1],
    ]

    def allowed(times, now, n, w, newest):
        """One more firing at `now` keeps the cap: brute force over window starts."""
        if w is None:
            return len(times) < n
        if newest is not None and now < newest - w:
            return False  # more than one window late: the memory cannot be sure
        # Every window [s, s + w] holding `now`; the count can only change at these starts.
        starts = {now - w, now} | {t for t in times} | {t - w for t in times}
        for s in starts:
            if now - w <= s <= now:
                if sum(1 for t in times if s <= t <= s + w) >= n:
                    return False
        return True

    vs = []
    for pat in patterns:
        history = {name: [] for name, _, _ in caps_def}
        events, expect = [], []
        newest = None
        for off in pat:
            now = T0 + off
            ds = []
            for name, n, w in caps_def:
                if allowed(history[name], now, n, w, newest):
                    history[name].append(now)
                    ds.append(banner(name, "s", name))
            events.append(beacon(now))
            expect.append(ds)
            newest = now if newest is None else max(newest, now)
        fired = sorted([name, f"b-{t}"] for name, n, w in caps_def for t in history[name]
                       if w is None or newest - t <= 2 * w)
        vs.append(vector("beacons arriving at +" + ", +".join(f"{o}ms" for o in pat), customer(),
                         events, expect, remembered=[], fired=fired))
    return family("late_caps", "Late and out-of-order events: a capped rule never has more than "
                  "N firings in any window of its length, whatever order events arrive in; an "
                  "event more than one window older than the newest decides nothing under a cap; "
                  "memory keeps firings for two windows before the newest.", rules, vs)


def erasure():
    rules = (banner_rule("once_ever", "beacon_enter", extra="once")
             + banner_rule("browsed", "beacon_enter", "seen page_view within 1d"))
    erased = T0 + HOUR

    def tombstone(events=(), firings=(), seen=()):
        return {"format": "omnirule-memory", "version": 2, "newest": rfc3339(erased),
                "erased": rfc3339(erased), "events": list(events), "firings": list(firings),
                "seen": list(seen)}

    def remembered_view(ms, eid):
        return {"type": "page_view", "id": eid, "time": rfc3339(ms), "fields": {}}

    once = banner("once_ever", "s", "once_ever")
    browsed = banner("browsed", "s", "browsed")
    vs = []
    # A stale copy merged into the tombstone: its history, firings and ids (all dated before
    # the deletion) count for nothing; what happens after it is remembered as usual.
    v = vector("a stale copy merged into a tombstone brings nothing back", customer(),
               [beacon(T0 + 2 * HOUR, eid="b-old"), view(T0 + 3 * HOUR),
                beacon(T0 + 4 * HOUR)],
               [[once], [], [browsed]],
               remembered=[f"v-{T0 + 3 * HOUR}"], fired=[["once_ever", "b-old"]])
    v["memory"] = tombstone(
        events=[remembered_view(T0, "v-old")],
        firings=[{"rule": "once_ever", "group": None, "time": rfc3339(T0), "event": "b-old"}],
        seen=[{"id": "b-old", "time": rfc3339(T0)}])
    vs.append(v)
    # Events dated before the deletion that arrive after it are decided, but leave nothing:
    # not their firings (the cap does not hold them), not their history, not their ids.
    v = vector("events dated before the deletion are decided and leave nothing behind",
               customer(),
               [beacon(T0), beacon(T0 + 30 * MINUTE), view(T0 + 10 * MINUTE),
                beacon(T0, eid=f"b-{T0}"), beacon(T0 + 2 * HOUR), beacon(T0 + 3 * HOUR)],
               [[once], [once], [], [once], [once], []],
               remembered=[], fired=[["once_ever", f"b-{T0 + 2 * HOUR}"]])
    v["memory"] = tombstone()
    vs.append(v)
    return family("erasure", "Deletion: a tombstone (the memory's `erased` time) drops everything "
                  "dated at or before it, whatever copy is merged in later; events after it are "
                  "remembered as usual, events before it are decided but leave nothing.",
                  rules, vs)


def limits():
    rules = banner_rule("viewed", "page_view")
    seen = banner("viewed", "s", "viewed")
    max_field, max_id = 16 * 1024, 256
    vs = []
    for n, ok in [(max_field, True), (max_field + 1, False)]:
        for name, text in [("ascii", "x" * n), ("multi-byte", "é" * (n // 2) + "x" * (n % 2))]:
            e = view(T0, sku=text, eid=f"v-{name}-{n}")
            expect = [{"decisions": [seen]} if ok else
                      {"error": f"`sku` is {n} bytes long; at most {max_field} are accepted"}]
            v = vector(f"a {n}-byte {name} field is {'accepted' if ok else 'refused'}",
                       customer(), [e], [], remembered=[])
            v["expect"] = expect
            vs.append(v)
    for n, ok in [(max_id, True), (max_id + 1, False)]:
        e = view(T0, eid="i" * n)
        v = vector(f"a {n}-byte event id is {'accepted' if ok else 'refused'}", customer(), [e], [],
                   remembered=[])
        v["expect"] = [{"decisions": [seen]} if ok else
                       {"error": f"`id` is {n} bytes long; at most {max_id} are accepted"}]
        vs.append(v)
    # Times beyond the range, as integers JavaScript cannot hold exactly (found by the
    # differential fuzzer: a JavaScript host sends other digits, and must get the same answer).
    for t in [-9223372036854775808, 9223372036854775807, 8640000000000001, -1e300]:
        e = view(T0, eid=f"t-{t}")
        e["time"] = t
        v = vector(f"time {t} is refused as out of range", customer(), [e], [], remembered=[])
        v["expect"] = [{"error": "outside the range of ±8.64e15 ms"}]
        vs.append(v)
    return family("limits", "Input limits: a declared field value of at most 16 KiB (a string's "
                  "UTF-8 bytes) and ids of at most 256 bytes; larger ones are refused with the "
                  "size and the limit, on every runtime and through every input path.", rules, vs)


def timezones():
    """One family per zone: a weekday-hours rule checked at instants far from today, against
    Python's zoneinfo (the system's tzdata)."""
    from zoneinfo import ZoneInfo
    zones = ["America/New_York", "Europe/Paris", "Australia/Sydney", "Pacific/Chatham",
             "Asia/Kolkata", "America/Sao_Paulo"]
    rules = banner_rule("open", "beacon_enter", extra="hours 09:00 .. 21:00\ndays mon .. fri")
    out = []
    for zone in zones:
        tz = ZoneInfo(zone)
        vs = []
        for year in [1975, 1995, 2060, 2099, 2150]:
            events, expect = [], []
            # Around both DST changes of the year (and a Tuesday noon), every 37 minutes over
            # a few days: the hours' edges meet the offset changes.
            for month, day in [(3, 8), (4, 1), (10, 1), (11, 1)]:
                start = int(dt.datetime(year, month, day, tzinfo=dt.timezone.utc).timestamp()) * 1000
                for k in range(0, 4 * 24 * 60, 37 * 5):
                    ms = start + k * 60_000
                    local = dt.datetime.fromtimestamp(ms / 1000, tz)
                    inside = local.weekday() < 5 and 9 * 60 <= local.hour * 60 + local.minute < 21 * 60
                    events.append(beacon(ms))
                    expect.append([banner("open", "s", "open")] if inside else [])
            vs.append(vector(f"weekday hours in {zone}, {year}", customer(), events, expect))
        topic = "timezone_" + zone.split("/")[-1].lower()
        out.append(family(topic, f"Local time in {zone} at any instant: the offset table the "
                          "compiler writes from tzdata, then the zone's recurring rule (its POSIX "
                          "TZ footer) after the table ends; expectations from Python's zoneinfo.",
                          rules, vs, schema=SCHEMA.replace("Europe/Paris", zone)))
    return out


def group_caps():
    rules = ("group g limit 2 per 1d\n"
             + banner_rule("a", "beacon_enter", extra="priority 2\ngroup g\nlimit 1 per 1d")
             + banner_rule("b", "beacon_enter", extra="priority 1\ngroup g")
             + banner_rule("free", "beacon_enter", extra="limit 3 per 1d"))
    patterns = [
        [0], [0, 1], [0, 1, 2], [0, HOUR, 2 * HOUR, 3 * HOUR], [0, DAY], [0, DAY + 1],
        [0, 1, DAY, DAY + 1], [0, 1, DAY + 1, DAY + 2], [0, 12 * HOUR, 24 * HOUR, 36 * HOUR],
        [0, 2, 4, 6, DAY + 3], [0, 1, 2, 3, 4, 5], [0, DAY - 1, DAY, DAY + 1],
    ]
    vs = []
    for pat in patterns:
        hist = {"a": [], "b": [], "free": [], "g": []}
        events, expect = [], []
        for off in pat:
            now = T0 + off
            within = lambda ts, w: sum(1 for t in ts if now - t <= w)
            ds = []
            taken = False
            # Decision order: a (priority 2), b (priority 1), free (0).
            for name, cap, grouped in [("a", 1, True), ("b", None, True), ("free", 3, False)]:
                if cap is not None and within(hist[name], DAY) >= cap:
                    continue
                if grouped and (taken or within(hist["g"], DAY) >= 2):
                    continue
                hist[name].append(now)
                if grouped:
                    taken = True
                    hist["g"].append(now)
                ds.append(banner(name, "s", name, group="g" if grouped else None))
            events.append(beacon(now))
            expect.append(ds)
        last = T0 + pat[-1]
        fired = sorted([name, f"b-{t}"] for name in ["a", "b", "free"] for t in hist[name]
                       if last - t <= 2 * DAY)
        vs.append(vector("beacons at +" + ", +".join(f"{o}ms" for o in pat), customer(),
                         events, expect, remembered=[], fired=fired))
    return family("group_caps", "A group's cap counts the firings of all its rules; a rule "
                  "stopped by its own cap leaves the group to the next rule.", rules, vs)


# ----- history: order, the current event, candidates, history functions ---------------------

def ms_of(event):
    """An event's time in ms since the epoch (the oracle's own reading of RFC 3339)."""
    t = dt.datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    return (t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(milliseconds=1)


class History:
    """One customer's history as the language reads it: the earlier events, in (time, id)
    order; the current event is not part of its own history. Each family's vectors stay inside
    its windows, so pruning never decides."""

    def __init__(self):
        self.events = []

    def add(self, event):
        self.events.append(event)

    def before(self, now_event, type_, within=None):
        """The `type_` events before `now_event` (within `within` of it), newest first."""
        now = (ms_of(now_event), now_event["id"])
        out = [e for e in self.events if e["type"] == type_ and (ms_of(e), e["id"]) < now
               and (within is None or now[0] - ms_of(e) <= within)]
        return sorted(out, key=lambda e: (ms_of(e), e["id"]), reverse=True)


def queries():
    rules = (banner_rule("again", "purchase", "seen purchase within 1d")
             + banner_rule("newest", "beacon_enter", "seen page_view as v within 1d",
                           text="{v.sku} {v.time}")
             + banner_rule("dear", "beacon_enter",
                           "seen page_view within 1d where page_view.price > 50")
             + banner_rule("stats", "beacon_enter", "count(purchase within 30d) >= 2",
                           text="{count(purchase within 30d)} {sum(purchase.amount within 30d)} "
                                "{last(purchase within 30d) is present} "
                                "{time_since(purchase within 30d) / 1h}")
             + banner_rule("latest", "beacon_enter", "seen purchase as p within 30d",
                           text="{p.sku} {p.time}")
             + banner_rule("empty", "beacon_enter",
                           "count(purchase within 30d) == 0 and sum(purchase.amount within 30d) == 0"
                           " and time_since(purchase within 30d) is missing"
                           " and last(purchase within 30d) is missing"))

    def decide(h, e):
        ds = []
        if e["type"] == "purchase" and h.before(e, "purchase", DAY):
            ds.append(banner("again", "s", "again"))
        if e["type"] == "beacon_enter":
            views = h.before(e, "page_view", DAY)
            if views:
                v = views[0]
                ds.append(banner("newest", "s", f"{v['sku']} {rfc3339(ms_of(v))}"))
            if any(v["price"] > 50 for v in views):
                ds.append(banner("dear", "s", "dear"))
            ps = h.before(e, "purchase", 30 * DAY)
            if len(ps) >= 2:
                total = sum(float(p["amount"]) for p in ps)
                hours = (ms_of(e) - ms_of(ps[0])) / HOUR
                ds.append(banner("stats", "s",
                                 f"{len(ps)} {js_number(total)} true {js_number(hours)}"))
            if ps:
                ds.append(banner("latest", "s", f"{ps[0]['sku']} {rfc3339(ms_of(ps[0]))}"))
            else:
                ds.append(banner("empty", "s", "empty"))
        h.add(e)
        return ds

    cases = [
        ("a purchase is not part of its own history",
         [purchase(T0, "A"), purchase(T0 + MINUTE, "B")]),
        ("views at one instant are in id order: the larger id is the newer",
         [view(T0, "B", eid="b"), view(T0, "A", eid="a"), beacon(T0 + HOUR)]),
        ("the same views arriving the other way round",
         [view(T0, "A", eid="a"), view(T0, "B", eid="b"), beacon(T0 + HOUR)]),
        ("`where` names the candidate by its event type",
         [view(T0, "A", price=20), beacon(T0 + HOUR), view(T0 + 2 * HOUR, "B", price=80),
          beacon(T0 + 3 * HOUR)]),
        ("count, sum, last and time_since; over no history 0, 0, missing and missing",
         [beacon(T0 - 3 * DAY), purchase(T0 - 2 * DAY, "A", amount=10),
          purchase(T0 - DAY, "B", amount=12.5), beacon(T0 - DAY + 3 * HOUR)]),
        ("a purchase arriving late is history for the beacons after it in time",
         [purchase(T0 - 2 * HOUR, "A", amount=5), beacon(T0), purchase(T0 - HOUR, "B", amount=7),
          beacon(T0 + HOUR + 30 * MINUTE)]),
    ]
    vs = []
    for name, events in cases:
        h = History()
        vs.append(vector(name, customer(), events, [decide(h, e) for e in events]))
    return family("queries", "History is the earlier events in (time, id) order, not the current "
                  "one; `seen ... as v` binds the newest match; inside `where` the candidate is "
                  "named by its type; `count`, `sum`, `last`, `time_since` over no history are 0, "
                  "0, missing, missing.", rules, vs)


# ----- bindings: the newest choice that makes the whole condition hold ----------------------

def bindings():
    rules = ('segment knit_fan = seen page_view as v within 7d where v.category == "knit"\n\n'
             "rule sweater {\n"
             "  on beacon_enter\n"
             '  when seen page_view as v within 7d where v.category == "knit"\n'
             "   and not seen purchase since v where purchase.sku == v.sku\n"
             '  do offer { code: "K", sku: v.sku }\n'
             "}\n"
             + banner_rule("any_view", "beacon_enter", "seen page_view as v within 7d and knit_fan",
                           text="{v.sku}"))

    def key(e):
        return (ms_of(e), e["id"])

    def decide(h, e):
        ds = []
        if e["type"] == "beacon_enter":
            views = h.before(e, "page_view", 7 * DAY)
            knit = [v for v in views if v["category"] == "knit"]
            bought = h.before(e, "purchase")
            for v in knit:
                if not any(key(p) > key(v) and p["sku"] == v["sku"] for p in bought):
                    ds.append({"rule": "sweater", "action": "offer",
                               "params": {"code": "K", "sku": v["sku"]}, "group": None,
                               "experiment": None, "variant": None})
                    break
            if knit:
                ds.append(banner("any_view", "s", views[0]["sku"]))
        h.add(e)
        return ds

    cases = [
        ("the rule's own binding is the newest view; the segment's is its own",
         [view(T0, "K1", "knit"), view(T0 + HOUR, "T1", "tee"), beacon(T0 + 2 * HOUR)]),
        ("bought since: the older view is tried, and then none is left",
         [view(T0, "OLD", "knit"), view(T0 + DAY, "NEW", "knit"),
          view(T0 + DAY + HOUR, "TEE", "tshirt"), beacon(T0 + 2 * DAY),
          purchase(T0 + 2 * DAY + HOUR, "NEW"), beacon(T0 + 2 * DAY + 2 * HOUR),
          purchase(T0 + 2 * DAY + 3 * HOUR, "OLD"), beacon(T0 + 2 * DAY + 4 * HOUR)]),
        ("a purchase at the view's instant with a smaller id is before it",
         [view(T0, "S", "knit", eid="v1"), purchase(T0, "S", eid="p1"), beacon(T0 + HOUR)]),
        ("a purchase at the view's instant with a larger id is after it",
         [view(T0, "S", "knit", eid="v1"), purchase(T0, "S", eid="w1"), beacon(T0 + HOUR)]),
        ("a purchase of another sku leaves the view",
         [view(T0, "S", "knit"), purchase(T0 + HOUR, "X"), beacon(T0 + 2 * HOUR)]),
    ]
    import random
    rng = random.Random(20261129)
    for k in range(12):
        events = []
        for i in range(rng.randint(6, 14)):
            at = T0 + rng.randint(0, 96) * HOUR
            kind = rng.choice(["view", "view", "purchase", "beacon"])
            sku = rng.choice(["S1", "S2", "S3"])
            if kind == "view":
                events.append(view(at, sku, rng.choice(["knit", "knit", "tee"]), eid=f"v{i}"))
            elif kind == "purchase":
                events.append(purchase(at, sku, eid=f"p{i}"))
            else:
                events.append(beacon(at, eid=f"b{i}"))
        events.sort(key=lambda e: (ms_of(e), e["id"]))
        if k % 3 == 2:
            rng.shuffle(events)  # arriving out of order
        events.append(beacon(T0 + 97 * HOUR, eid="b_last"))
        cases.append((f"random history {k}{' (out of order)' if k % 3 == 2 else ''}", events))
    vs = []
    for name, events in cases:
        h = History()
        vs.append(vector(name, customer(), events, [decide(h, e) for e in events]))
    return family("bindings", "`seen E as v` binds the newest match for which the rest of the "
                  "condition holds, trying older ones in turn; `since v` means after v in (time, "
                  "id) order; a segment's bindings are its own.", rules, vs)


# ----- de-duplication: an event whose id was seen changes nothing -----------------------------

def dedup():
    rules = (banner_rule("any", "page_view, beacon_enter", extra="limit 10 per 1d")
             + banner_rule("recall", "beacon_enter", "seen page_view as v within 1d",
                           text="{v.sku}"))
    # A duplicate that moved the memory's newest time two days on would prune the view (kept
    # 1d) and the firings: `recall` and `fired` show that it did not.
    events = [view(T0, "A", eid="v1"), view(T0, "A", eid="v1"),
              view(T0 + 2 * DAY, "B", eid="v1"), beacon(T0 + HOUR, eid="b1"),
              beacon(T0 + HOUR, eid="b1"), beacon(T0 + 2 * DAY, eid="b1"),
              beacon(T0 + 2 * HOUR, eid="b2")]
    fired_now = [banner("any", "s", "any"), banner("recall", "s", "A")]
    expect = [[banner("any", "s", "any")], [], [], fired_now, [], [], fired_now]
    v = vector("a remembered type and an unread one, each sent again, later and changed",
               customer(), events, expect, remembered=["v1"],
               fired=[["any", "b1"], ["any", "b2"], ["any", "v1"]])
    return family("dedup", "An event whose id was seen yields no decision and leaves memory as it "
                  "was, whatever its time and content.", rules, [v])


# ----- groups: conditions, caps across rules, written order -----------------------------------

def group_conditions():
    rules = ("group hero limit 2 per 1d\n\n"
             "rule a {\n  on page_view\n  when event.category == \"knit\"\n"
             "  do banner { slot: \"hero\", text: \"a\" }\n  group hero\n  priority 9\n}\n"
             "rule b {\n  on page_view\n  do banner { slot: \"hero\", text: \"b\" }\n"
             "  group hero\n}\n"
             "rule free {\n  on page_view\n"
             "  do banner { slot: \"side\", text: \"free\" }, offer { code: \"C\" }\n"
             "  priority -1\n}\n")
    free = [banner("free", "side", "free"),
            {"rule": "free", "action": "offer", "params": {"code": "C"}, "group": None,
             "experiment": None, "variant": None}]
    patterns = [
        [("knit", 0), ("tee", MINUTE), ("knit", 2 * MINUTE), ("knit", DAY + MINUTE)],
        [("tee", 0), ("knit", MINUTE)],
        [("knit", 0), ("knit", HOUR), ("knit", 2 * HOUR), ("tee", DAY), ("tee", DAY + 1)],
        [("tee", 0), ("tee", 1), ("tee", 2)],
    ]
    vs = []
    for pat in patterns:
        hero, events, expect = [], [], []
        for cat, off in pat:
            now = T0 + off
            ds = []
            for name, holds in [("a", cat == "knit"), ("b", True)]:
                if holds and sum(1 for _, t in hero if now - t <= DAY) < 2:
                    hero.append((name, now))
                    ds.append(banner(name, "hero", name, group="hero"))
                    break
            events.append(view(now, category=cat))
            expect.append(ds + free)
        last = T0 + pat[-1][1]
        fired = sorted([name, f"v-{t}"] for name, t in hero if last - t <= 2 * DAY)
        vs.append(vector("views: " + ", ".join(f"{c} at +{o}ms" for c, o in pat), customer(),
                         events, expect, remembered=[], fired=fired))
    return family("group_conditions", "In a group the first rule whose condition holds fires; "
                  "the group's cap counts all its rules; a rule without a cap leaves no firing "
                  "record; a rule's actions come in written order.", rules, vs)


# ----- splits: control is a firing, a missing unit is no firing --------------------------------

def split_caps():
    rules = """rule by_id {
  on page_view
  do split win_back_test by profile.id {
    50% control
    50% "ten": offer { code: "BACK10" }
  }
  once
}
rule by_name {
  on page_view
  consent marketing
  do split name_test by profile.first_name {
    50% control
    50% "ten": offer { code: "NAME10" }
  }
}
"""

    def arm(rule, experiment, unit, code):
        if fnv1a32(f"{experiment}:{unit}".encode("utf-8")) % 10000 < 5000:
            return {"rule": rule, "action": None, "params": {}, "group": None,
                    "experiment": experiment, "variant": "control"}
        return {"rule": rule, "action": "offer", "params": {"code": code}, "group": None,
                "experiment": experiment, "variant": "ten"}

    vs = []
    for profile in [customer("c1"), customer("c3"), customer("c3", first_name="Ana"),
                    customer("c1", first_name="Zoë"), customer("c4", first_name=""),
                    customer("c2", consents=[], first_name="Ana")]:
        events = [view(T0), view(T0 + HOUR)]
        by_name = []
        if "first_name" in profile and "marketing" in profile["consents"]:
            by_name = [arm("by_name", "name_test", profile["first_name"], "NAME10")]
        expect = [[arm("by_id", "win_back_test", profile["id"], "BACK10")] + by_name, by_name]
        vs.append(vector(f"{profile['id']}, first name {json.dumps(profile.get('first_name'))}, "
                         f"consents {profile['consents']}", profile, events, expect,
                         fired=[["by_id", events[0]["id"]]]))
    return family("split_caps", "A control decision counts as a firing for the rule's cap; a "
                  "split whose unit is missing does not fire.", rules, vs)


# ----- retention needs every consent of a rule that reads the type ---------------------------

def retention_consent():
    rules = (banner_rule("both", "beacon_enter", "seen page_view within 1d",
                         extra="consent marketing, location")
             + banner_rule("mkt", "beacon_enter", "seen purchase within 1d",
                           extra="consent marketing"))
    vs = []
    for consents in [[], ["marketing"], ["location"], ["marketing", "location"]]:
        c = set(consents)
        events = [view(T0, eid="v1"), purchase(T0 + MINUTE, eid="p1"), beacon(T0 + HOUR)]
        ds, remembered = [], []
        if {"marketing", "location"} <= c:
            ds.append(banner("both", "s", "both"))
            remembered.append("v1")
        if "marketing" in c:
            ds.append(banner("mkt", "s", "mkt"))
            remembered.append("p1")
        vs.append(vector(f"consents {consents}", customer(consents=consents), events,
                         [[], [], ds], remembered=remembered))
    return family("retention_consent", "Memory keeps an event type for a customer only with "
                  "every consent of some rule that reads it.", rules, vs)


# ----- schedule edges: `active` dates, DST transition instants, to the millisecond -----------

def schedule_edges():
    paris = ZoneInfo("Europe/Paris")
    rules = (banner_rule("november_weekdays", "beacon_enter",
                         extra="days mon .. fri\nactive 2026-11-02 .. 2026-11-27")
             + banner_rule("one_am", "beacon_enter", extra="hours 01:00 .. 02:00")
             + banner_rule("two_am", "beacon_enter", extra="hours 02:00 .. 03:00")
             + banner_rule("three_am", "beacon_enter", extra="hours 03:00 .. 04:00")
             + banner_rule("nine_am", "beacon_enter", extra="hours 09:00 .. 10:00"))
    hours = [("one_am", 1), ("two_am", 2), ("three_am", 3), ("nine_am", 9)]
    instants = [
        # The first and last active days, in local time, and the weekend between.
        "2026-11-01T22:30:00Z", "2026-11-01T22:59:59.999Z", "2026-11-01T23:00:00Z",
        "2026-11-01T23:30:00Z", "2026-11-21T12:00:00Z", "2026-11-27T22:59:59.999Z",
        "2026-11-27T23:00:00Z", "2026-11-30T12:00:00Z",
        # Hours' ends to the millisecond, before and after the spring change.
        "2026-03-28T07:59:59.999Z", "2026-03-28T08:00:00Z", "2026-03-28T08:59:59.999Z",
        "2026-03-28T09:00:00Z", "2026-03-30T07:00:00Z", "2026-03-30T08:30:00Z",
        # The changes themselves: 01:00Z on 29 March is 03:00 local; on 25 October, 02:00 local.
        "2026-03-29T00:00:00Z", "2026-03-29T00:59:59.999Z", "2026-03-29T01:00:00Z",
        "2026-03-29T01:59:59.999Z", "2026-03-29T02:00:00Z", "2026-10-24T23:59:59.999Z",
        "2026-10-25T00:00:00Z", "2026-10-25T00:59:59.999Z", "2026-10-25T01:00:00Z",
        "2026-10-25T01:59:59.999Z", "2026-10-25T02:00:00Z", "2026-10-26T07:30:00Z",
        "2026-10-26T08:30:00Z",
    ]
    vs = []
    for iso in instants:
        b = beacon(0)
        b["time"] = iso
        ms = ms_of(b)
        b = beacon(ms)
        local = dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(paris)
        ds = []
        if (dt.date(2026, 11, 2) <= local.date() <= dt.date(2026, 11, 27)
                and local.weekday() <= 4):
            ds.append(banner("november_weekdays", "s", "november_weekdays"))
        for name, h in hours:
            if local.hour == h:
                ds.append(banner(name, "s", name))
        vs.append(vector(f"{iso} ({local.strftime('%a %d %b %H:%M:%S')}.{ms % 1000:03d} "
                         f"{local.strftime('%Z')} in Paris)", customer(), [b], [ds]))
    return family("schedule_edges", "`active` dates include both ends in local time; `hours` "
                  "include the start and exclude the end to the millisecond; an offset change "
                  "applies from its instant on.", rules, vs)


# ----- operators on missing and present values, functions, time arithmetic -------------------

OPERATORS_SCHEMA = """schema {
  timezone "Europe/Paris"
  consent marketing, location
  profile { first_name: string? pii, tier: string, score: number?, labels: set<string> }
  event page_view {
    sku: string, category: string, price: number, tag: string?,
    tags: set<string>?, dwell: duration?, seen_at: time?, flag: bool?
  }
  action banner { slot: string, text: string }
}
"""


def operators():
    def tags(e):
        return None if e.get("tags") is None else set(e["tags"])

    def seen_at(e):
        return None if e.get("seen_at") is None else ms_of({"time": e["seen_at"]})

    checks = [
        ("coalesce_first", 'event.tag ?? "none" == "none"',
         lambda p, e: e.get("tag") in (None, "none")),
        ("tag_ne", 'event.tag != "x"', lambda p, e: e.get("tag") not in (None, "x")),
        ("arith_missing", "(profile.score + 1) is missing", lambda p, e: p.get("score") is None),
        ("coalesce_arith", "(profile.score ?? 0) + 1 == 1",
         lambda p, e: (0 if p.get("score") is None else p["score"]) + 1 == 1),
        ("div_by_zero", "(event.price / 0) is missing", lambda p, e: True),
        ("functions", 'starts_with(lower(event.sku), "sw") and contains(event.sku, "-")'
                      ' and ends_with(upper(event.sku), "1") and len(event.sku) == 4',
         lambda p, e: (e["sku"].lower().startswith("sw") and "-" in e["sku"]
                       and e["sku"].upper().endswith("1") and len(e["sku"]) == 4)),
        ("sale_in_tags", '"sale" in event.tags', lambda p, e: "sale" in (tags(e) or set())),
        ("tags_contain_sale", 'contains(event.tags, "sale")',
         lambda p, e: "sale" in (tags(e) or set())),
        ("two_tags", "len(event.tags) == 2", lambda p, e: len(tags(e) or ()) == 2),
        ("sku_in_list", 'event.sku in [event.category, "SW-1"]',
         lambda p, e: e["sku"] in (e["category"], "SW-1")),
        ("tag_in_list", 'event.tag in ["x", "y"]', lambda p, e: e.get("tag") in ("x", "y")),
        ("time_back", "now - (now - event.seen_at) == event.seen_at",
         lambda p, e: seen_at(e) is not None),
        ("dwell_doubled", "event.dwell * 2 == 2m", lambda p, e: e.get("dwell") == MINUTE),
        ("dwell_ratio", "(event.dwell * 2) / event.dwell == 2",
         lambda p, e: e.get("dwell") not in (None, 0)),
        ("not_flag", "not event.flag", lambda p, e: e.get("flag") is not True),
        ("and_flag", "event.price >= 0 and event.flag", lambda p, e: e.get("flag") is True),
        ("or_flag", "event.flag or event.tag is missing",
         lambda p, e: e.get("flag") is True or e.get("tag") is None),
        ("flag_ne_true", "event.flag != true", lambda p, e: e.get("flag") is False),
    ]
    rules = "".join(banner_rule(n, "page_view", w) for n, w, _ in checks)
    rules += banner_rule("template", "page_view",
                         text="[{event.tag}] {event.seen_at} {event.flag} {profile.score}")

    def template(p, e):
        flag = {None: "", True: "true", False: "false"}[e.get("flag")]
        at = "" if seen_at(e) is None else rfc3339(seen_at(e))
        score = "" if p.get("score") is None else js_number(float(p["score"]))
        return f"[{e.get('tag') or ''}] {at} {flag} {score}"

    cases = [
        ({}, {}),
        ({"score": 0}, {"tag": "none", "sku": "sw-1"}),
        ({"score": 5}, {"tag": "y", "tags": ["sale", "new", "sale"], "dwell": MINUTE,
                        "seen_at": "2026-11-20T09:00:00+01:00", "flag": True, "sku": "SW-12"}),
        ({"score": None}, {"tag": "x", "tags": [], "dwell": 0, "flag": False, "sku": "SWX1",
                           "price": 0}),
        ({"score": -1.5}, {"tags": ["new"], "dwell": 90 * MINUTE, "seen_at": "2026-11-19T23:30:00Z",
                           "sku": "knit", "category": "knit"}),
        ({"score": 0.1}, {"tag": "y", "tags": ["sale"], "flag": True, "price": 0, "sku": "Sw-1"}),
        ({}, {"tags": ["sale", "new"], "seen_at": "2026-11-20T10:00:00.250Z", "flag": False,
              "tag": ""}),
    ]
    vs = []
    for fields, extra in cases:
        p = customer(**fields)
        e = view(T0, **{k: v for k, v in extra.items() if k in ("sku", "category", "price")})
        e.update({k: v for k, v in extra.items() if k not in ("sku", "category", "price")})
        ds = [banner(n, "s", n) for n, _, f in checks if f(p, e)]
        ds.append(banner("template", "s", template(p, e)))
        vs.append(vector(f"profile {json.dumps(fields)}, event {json.dumps(extra)}", p, [e],
                         [ds]))
    return family("operators", "`??` binds tighter than `==`; arithmetic on missing and division "
                  "by zero are missing; `and`, `or`, `not` read missing as false; `in` and the "
                  "functions on strings, lists and sets; time and duration arithmetic; missing "
                  "interpolates as nothing.", rules, vs, schema=OPERATORS_SCHEMA)


def all_families():
    return [windows(), splits(), numbers(), missing(), caps(), schedules(), unicode_strings(),
            consent(), group_caps(), queries(), bindings(), dedup(), group_conditions(),
            split_caps(), retention_consent(), schedule_edges(), operators(), late_caps(), erasure(), limits()] + ordering() + timezones()


def main():
    check = "--check" in sys.argv
    os.makedirs(OUT, exist_ok=True)
    stale = []
    total = 0
    for fam in all_families():
        path = os.path.join(OUT, fam["topic"] + ".json")
        text = json.dumps(fam, indent=1, ensure_ascii=False) + "\n"
        total += len(fam["vectors"])
        old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if old != text:
            stale.append(path)
            if not check:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
    if check and stale:
        print("stale generated vectors (run tests/vectors/generate.py):", *stale, sep="\n  ")
        sys.exit(1)
    print(f"{total} generated vectors")


if __name__ == "__main__":
    main()
