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
