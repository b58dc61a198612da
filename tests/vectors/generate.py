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


def family(topic, about, rules, vectors):
    return {"format": "omnirule-vectors", "version": 1, "topic": topic, "about": about,
            "rules": SCHEMA + "\n" + rules, "vectors": vectors}


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
        # Firing records kept: those a cap can still count (once: all of them).
        fired = []
        for name, n, w in caps_def:
            for t in history[name]:
                if w is None or last - t <= w:
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
                       if last - t <= DAY)
        vs.append(vector("beacons at +" + ", +".join(f"{o}ms" for o in pat), customer(),
                         events, expect, remembered=[], fired=fired))
    return family("group_caps", "A group's cap counts the firings of all its rules; a rule "
                  "stopped by its own cap leaves the group to the next rule.", rules, vs)


def all_families():
    return [windows(), splits(), numbers(), missing(), caps(), schedules(), unicode_strings(),
            consent(), group_caps()] + ordering()


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
