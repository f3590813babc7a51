"""Writes tests/lang/suite.toml: the language-layer evaluation suite.

Run from the repository root: python3 tests/lang/make_suite.py
Cases are drawn with a fixed seed; the file is committed, the script says how
it was made. Every case carries a `split`:

- dev: drawn from DEV word lists and phrasings. The language layer may be
  tuned against these (the MiniLM thresholds were set on them).
- test: drawn from TEST word lists and phrasings that the code never sees
  (no lexicon entry, no threshold tuned on them). Report these numbers.

Expectations: `expect` is the state that must hold; `still` lists the blocks
that must end where they started (not named by the goals, not held, not in
the way); `refuse = true` means nothing may move (a refusal, or a "stop"
obeyed).
"""
import random

rng = random.Random(6)
COLORS = ["red", "green", "blue", "yellow", "purple", "orange"]

# Colour shades and object names, never in the lexicon (src/lang/lexicon.rs
# holds only basic colour terms and block/cube/bowl).
DEV_SYN = {
    "red": ["crimson", "scarlet", "ruby"],
    "green": ["emerald", "lime"],
    "blue": ["navy", "azure", "cobalt"],
    "yellow": ["golden", "lemon"],
    "purple": ["violet", "lilac"],
    "orange": ["tangerine", "amber"],
}
TEST_SYN = {
    "red": ["cherry", "vermilion", "blood-red"],
    "green": ["pine", "forest-green", "mint"],
    "blue": ["ocean-blue", "sky-blue", "sapphire"],
    "yellow": ["canary", "mustard", "sunflower"],
    "purple": ["aubergine", "plum", "lavender"],
    "orange": ["pumpkin", "apricot", "carrot"],
}
DEV_BLOCK = ["cube", "block", "brick"]
DEV_BOWL = ["dish", "bowl", "basin", "container"]
TEST_BLOCK = ["cuboid", "block", "piece"]
TEST_BOWL = ["receptacle", "vessel", "tub", "bin"]

PHRASING = {
    "dev": {
        "pick-place": ["put the {b} block in the {w} bowl", "place the {b} block in the {w} bowl",
                       "move the {b} block into the {w} bowl", "put the {b} block into the {w} bowl"],
        "paraphrase": ["drop the {b} {o} into the {w} {d}", "toss the {b} {o} in the {w} {d}",
                       "could you set the {b} {o} inside the {w} {d}", "I'd like the {b} {o} in the {w} {d}"],
        "multi-step": ["put the {a} block in the {x} bowl and the {b} block in the {y} bowl",
                       "first put the {a} block in the {x} bowl, then put the {b} block in the {y} bowl"],
        "stacking": ["stack the {a} block on the {b} block", "put the {a} block on top of the {b} block"],
        "quantifier": ["put all the blocks in the {w} bowl", "put every block into the {w} bowl"],
    },
    "test": {
        "pick-place": ["please transfer the {b} block to the {w} bowl", "get the {b} block into the {w} bowl",
                       "the {b} block goes in the {w} bowl", "carefully lay the {b} block inside the {w} bowl"],
        "paraphrase": ["please transfer the {b} {o} to the {w} {d}", "bring the {b} {o} over to the {w} {d}",
                       "would you put the {b} {o} into the {w} {d}", "the {b} {o} should go in the {w} {d}"],
        "multi-step": ["move the {a} block to the {x} bowl, after that the {b} block to the {y} bowl",
                       "place the {a} block into the {x} bowl and then the {b} block into the {y} bowl"],
        "stacking": ["place the {a} block onto the {b} block", "the {a} block goes on top of the {b} block"],
        "quantifier": ["move all of the blocks into the {w} bowl", "place each block in the {w} bowl"],
    },
}
cases = []


def scene(blocks, bowls, extra=""):
    s = f"blocks={','.join(blocks)}; bowls={','.join(bowls)}"
    return s + (f"; {extra}" if extra else "")


def still_of(blocks, expect, holding=None, stacked=()):
    """Blocks that must not move: not in `expect`, not held, not above a
    block the goals move or stack onto."""
    moving = set(k for k in expect)
    targets = set(v[3:] for v in expect.values() if v.startswith("on "))
    below = dict((a, b) for a, b in stacked)  # a rests on b
    out = []
    for c in blocks:
        name = f"{c} block"
        if name in moving or c == holding:
            continue
        cur, in_way = c, False
        while cur in below:
            cur = below[cur]
            if f"{cur} block" in moving or f"{cur} block" in targets:
                in_way = True
        if not in_way:
            out.append(name)
    return out


def add(split, family, sc, instr, expect=None, refuse=False, holding=None, stacked=()):
    c = {"split": split, "family": family, "scene": sc, "seed": rng.randrange(1000), "instruction": instr}
    blocks = sc.split(";")[0].split("=")[1].split(",")
    if refuse:
        c["refuse"] = True
    else:
        c["expect"] = expect
        c["still"] = still_of(blocks, expect, holding, stacked)
    cases.append(c)


def pick(n, pool=COLORS):
    return rng.sample(pool, n)


for split in ["dev", "test"]:
    P = PHRASING[split]
    SYN = DEV_SYN if split == "dev" else TEST_SYN
    OBJ = DEV_BLOCK if split == "dev" else TEST_BLOCK
    DISH = DEV_BOWL if split == "dev" else TEST_BOWL

    for i in range(8):
        blocks, bowls = pick(rng.choice([2, 3])), pick(rng.choice([1, 2]))
        b, w = rng.choice(blocks), rng.choice(bowls)
        add(split, "pick-place", scene(blocks, bowls), P["pick-place"][i % 4].format(b=b, w=w),
            {f"{b} block": f"{w} bowl"})

    for i in range(12):
        blocks, bowls = pick(3), pick(2)
        b, w = rng.choice(blocks), rng.choice(bowls)
        bb = rng.choice(SYN[b]) if i % 2 == 0 else b
        ww = rng.choice(SYN[w]) if i % 3 == 0 else w
        text = P["paraphrase"][i % 4].format(b=bb, o=rng.choice(OBJ), w=ww, d=rng.choice(DISH))
        add(split, "paraphrase", scene(blocks, bowls), text, {f"{b} block": f"{w} bowl"})

    for i in range(6):
        blocks, bowls = pick(3), pick(2)
        a, b = rng.sample(blocks, 2)
        x, y = bowls
        add(split, "multi-step", scene(blocks, bowls), P["multi-step"][i % 2].format(a=a, b=b, x=x, y=y),
            {f"{a} block": f"{x} bowl", f"{b} block": f"{y} bowl"})

    for i in range(6):
        blocks, bowls = pick(3), pick(1)
        a, b, _ = blocks
        add(split, "stacking", scene(blocks, bowls), P["stacking"][i % 2].format(a=a, b=b),
            {f"{a} block": f"on {b} block"})

    for i in range(6):
        blocks, bowls = pick(2), pick(rng.choice([1, 2]))
        w = rng.choice(bowls)
        add(split, "quantifier", scene(blocks, bowls), P["quantifier"][i % 2].format(w=w),
            {f"{b} block": f"{w} bowl" for b in blocks})

    # Goal shapes (issue 23 item 3): source vs destination, different goals
    # joined by "and", chains, towers either way up, same colour, exclusion.
    for i in range(10):
        blocks, bowls = pick(3), pick(2)
        a, b, c = blocks
        x, y = bowls
        k = i % 5
        if k == 0:
            text = (f"move the {a} block from the {x} bowl to the {y} bowl" if split == "dev" else
                    f"take the {a} block out of the {x} bowl and put it in the {y} bowl")
            add(split, "goal-shape", scene(blocks, bowls, f"in={a}/{x}"), text, {f"{a} block": f"{y} bowl"})
        elif k == 1:
            text = (f"the {b} block on the {a} block and the {c} block in the {x} bowl" if split == "dev" else
                    f"put the {b} block onto the {a} block, and the {c} block into the {x} bowl")
            add(split, "goal-shape", scene(blocks, bowls), text, {f"{b} block": f"on {a} block", f"{c} block": f"{x} bowl"})
        elif k == 2:
            text = (f"put {a} on {b} on {c}" if split == "dev" else
                    f"place the {a} block on the {b} block on the {c} block")
            add(split, "goal-shape", scene(blocks, bowls), text,
                {f"{a} block": f"on {b} block", f"{b} block": f"on {c} block"})
        elif k == 3:
            text = (f"build a tower with {c} at the bottom, {b} in the middle and {a} on top" if split == "dev" else
                    f"{a} on top, then {b}, then {c} at the bottom")
            add(split, "goal-shape", scene(blocks, bowls), text,
                {f"{a} block": f"on {b} block", f"{b} block": f"on {c} block"})
        else:
            bowls2 = [a, rng.choice([q for q in COLORS if q not in blocks])]
            text = ("put each block in the bowl of the same colour" if split == "dev" else
                    "put every block into the bowl that matches its colour")
            add(split, "goal-shape", scene(blocks, bowls2), text, {f"{a} block": f"{a} bowl"})

    # Refusals: absent objects, unknown things, negation, stop, impossible.
    neg_forms = {
        "dev": ["do not move the {a} block", "don't put the {a} block in the {w} bowl", "stop", "do nothing",
                "put the {w} bowl in the {a} block", "put the hammer in the {w} bowl"],
        "test": ["never move the {a} block", "do not place the {a} block into the {w} bowl", "halt",
                 "leave all the blocks where they are", "place the {w} bowl onto the {a} block",
                 "put the banana in the {w} bowl"],
    }
    for i in range(12):
        blocks, bowls = pick(2), pick(1)
        absent_b = rng.choice([c for c in COLORS if c not in blocks])
        absent_w = rng.choice([c for c in COLORS if c not in bowls])
        if i % 2 == 0:
            text = rng.choice([f"put the {absent_b} block in the {bowls[0]} bowl",
                               f"put the {blocks[0]} block in the {absent_w} bowl",
                               f"pick up the {absent_b} block"])
        else:
            text = neg_forms[split][(i // 2) % 6].format(a=blocks[0], w=bowls[0])
        add(split, "refuse", scene(blocks, bowls), text, refuse=True)

    for i in range(6):
        blocks, bowls = pick(3), pick(2)
        a, b, c = blocks
        w = bowls[0]
        if i % 3 == 0:
            add(split, "affordance", scene(blocks, bowls, f"holding={a}"), f"put the {a} block in the {w} bowl",
                {f"{a} block": f"{w} bowl"}, holding=a)
        elif i % 3 == 1:
            add(split, "affordance", scene(blocks, bowls, f"holding={b}"), f"put the {a} block in the {w} bowl",
                {f"{a} block": f"{w} bowl"}, holding=b)
        else:
            add(split, "affordance", scene(blocks, bowls, f"stacked={b}/{a}"), f"put the {a} block in the {w} bowl",
                {f"{a} block": f"{w} bowl"}, stacked=[(b, a)])


# Code-as-Policies families (issue 24): spatial, ordering and towers,
# colour matching, numbers, corners. Phrasings and words come from the
# coder's own phrasings file (src/lang/coder/phrasings.toml): `dev` tables
# for dev cases, the held-out `test` tables for test cases. Every object
# has a stated position so the expected answer is computed here. A second
# generator keeps the cases above unchanged.
import math
import tomllib

PH = tomllib.load(open("src/lang/coder/phrasings.toml", "rb"))
rng2 = random.Random(24)
WORK = (0.30, 0.44, 0.20)  # the API's work area: x from, x to, |y|
BLOCK_CLEAR, BOWL_CLEAR = 0.06, 0.11  # place_at's clearances + 1 cm


def radius_ok(x, y):
    return x > 0 and 0.27 <= math.hypot(x, y) <= 0.50


def positions(names, avoid=()):
    """Random reachable, well-separated positions for `names`, away from
    the points in `avoid`."""
    while True:
        out, ok = {}, True
        for n in names:
            for _ in range(200):
                x, y = rng2.uniform(0.28, 0.48), rng2.uniform(-0.22, 0.22)
                fp = 0.085 if n.endswith("bowl") else 0.035
                if radius_ok(x, y) and all(
                        math.dist((x, y), q) >= fp + (0.085 if m.endswith("bowl") else 0.035) + 0.03
                        for m, q in out.items()) and all(math.dist((x, y), a) >= 0.12 for a in avoid):
                    out[n] = (round(x, 3), round(y, 3))
                    break
            else:
                ok = False
        if ok:
            return out


def placed_scene(blocks, bowls, pos):
    fmt = lambda cs, kind: ",".join(f"{c}@({pos[f'{c} {kind}'][0]:.3f},{pos[f'{c} {kind}'][1]:.3f})" for c in cs)
    return f"blocks={fmt(blocks, 'block')}; bowls={fmt(bowls, 'bowl')}"


def spot_free(p, pos, mover):
    if not radius_ok(*p):
        return False
    return all(math.dist(p, q) >= (BOWL_CLEAR if n.endswith("bowl") else BLOCK_CLEAR)
               for n, q in pos.items() if n != mover)


def near(p):
    return f"near ({p[0]:.3f},{p[1]:.3f})"


def unique_best(pos, cands, key):
    """The candidate with the largest key, when it wins by 3 cm."""
    ranked = sorted(cands, key=key, reverse=True)
    if len(ranked) > 1 and key(ranked[0]) - key(ranked[1]) < 0.03:
        return None
    return ranked[0]


def words(split, table):
    return PH[split][table]


def code_case(split, family, i):
    T = PH[split][family]
    tpl = T[i % len(T)]
    while True:
        nb = rng2.choice([3, 4])
        nw = 2
        colours = rng2.sample(COLORS, nb)
        if family == "colour-match":
            bowls = rng2.sample(colours, 2)
        else:
            bowls = rng2.sample(COLORS, nw)
        blocks = colours
        names = [f"{b} block" for b in blocks] + [f"{w} bowl" for w in bowls]
        # A corner task keeps its target corner clear; the others may be occupied.
        key = rng2.choice(list(words(split, "corner-words"))) if family == "corner" else None
        corner = ((WORK[1] if key.startswith("front") else WORK[0]),
                  (WORK[2] if key.endswith("left") else -WORK[2])) if key else None
        pos = positions(names, avoid=[corner] if corner else ())
        sc = placed_scene(blocks, bowls, pos)
        bk = [f"{b} block" for b in blocks]
        slots, expect = {}, None
        if family in ("closest", "farthest"):
            dest, ref = rng2.sample([f"{w} bowl" for w in bowls], 2)
            sign = -1 if family == "closest" else 1
            win = unique_best(pos, bk, lambda o: sign * math.dist(pos[o], pos[ref]))
            if win is None:
                continue
            slots = {"ref": ref, "bowl": dest}
            expect = {win: dest}
        elif family == "extreme":
            side = rng2.choice(list(words(split, "side-words")))
            key = {"left": lambda o: pos[o][1], "right": lambda o: -pos[o][1],
                   "front": lambda o: pos[o][0], "back": lambda o: -pos[o][0]}[side]
            win = unique_best(pos, bk, key)
            if win is None:
                continue
            dest = f"{rng2.choice(bowls)} bowl"
            slots = {"side": rng2.choice(words(split, "side-words")[side]), "bowl": dest}
            expect = {win: dest}
        elif family == "between":
            b = rng2.choice(bk)
            a1, a2 = rng2.sample([n for n in names if n != b], 2)
            mid = ((pos[a1][0] + pos[a2][0]) / 2, (pos[a1][1] + pos[a2][1]) / 2)
            if not spot_free(mid, pos, b):
                continue
            slots = {"block": b, "a": a1, "b": a2}
            expect = {b: near(mid)}
        elif family == "offset":
            b = rng2.choice(bk)
            r = rng2.choice([n for n in names if n != b])
            d = rng2.choice(list(words(split, "dir-words")))
            n = rng2.randrange(5, 16)
            dx, dy = {"left": (0, n), "right": (0, -n), "front": (n, 0), "back": (-n, 0)}[d]
            t = (pos[r][0] + dx / 100, pos[r][1] + dy / 100)
            if not spot_free(t, pos, b):
                continue
            slots = {"block": b, "ref": r, "n": str(n), "dir": rng2.choice(words(split, "dir-words")[d])}
            expect = {b: near(t)}
        elif family == "colour-match":
            expect = {f"{w} block": f"{w} bowl" for w in bowls}
        elif family == "tower":
            c1, c2, c3 = rng2.sample(bk, 3)
            slots = {"c1": c1, "c2": c2, "c3": c3}
            expect = {c2: f"on {c1}", c3: f"on {c2}"}
        elif family == "corner":
            b = rng2.choice(bk)
            x, y = corner
            if not spot_free((x, y), pos, b):
                continue
            slots = {"block": b, "corner": rng2.choice(words(split, "corner-words")[key])}
            expect = {b: near((x, y))}
        text = tpl.format(**{k: v for k, v in slots.items()})
        c = {"split": split, "family": family, "scene": sc, "seed": rng2.randrange(1000), "instruction": text,
             "expect": expect, "still": [o for o in bk if o not in expect]}
        # A tower's base stays where it is.
        if family == "tower":
            c["still"] = [o for o in bk if o not in expect]
        cases.append(c)
        return


CODE_FAMILIES = ["closest", "farthest", "extreme", "between", "offset", "colour-match", "tower", "corner"]
for split, n in [("dev", 4), ("test", 10)]:
    for family in CODE_FAMILIES:
        for i in range(n):
            code_case(split, family, i)


def toml_str(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


out = ["# The language-layer evaluation suite: `ganglion eval-lang tests/lang/suite.toml --split test`.",
       "# Generated by tests/lang/make_suite.py (fixed seed); edit the script, not this file.",
       "# split = dev: tuned against; split = test: held-out words and phrasings.", ""]
for c in cases:
    out.append("[[case]]")
    out.append(f"split = {toml_str(c['split'])}")
    out.append(f"family = {toml_str(c['family'])}")
    out.append(f"scene = {toml_str(c['scene'])}")
    out.append(f"seed = {c['seed']}")
    out.append(f"instruction = {toml_str(c['instruction'])}")
    if c.get("refuse"):
        out.append("refuse = true")
    else:
        items = ", ".join(f"{toml_str(k)} = {toml_str(v)}" for k, v in c["expect"].items())
        out.append(f"expect = {{ {items} }}")
        out.append("still = [" + ", ".join(toml_str(s) for s in c["still"]) + "]")
    out.append("")
open("tests/lang/suite.toml", "w").write("\n".join(out))
print(f"{len(cases)} cases")
