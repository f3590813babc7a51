"""Writes tests/lang/suite.toml: the language-layer evaluation suite.

Run from the repository root: python3 tests/lang/make_suite.py
Cases are drawn with a fixed seed; the file is committed, the script says how
it was made. Families follow issue #6: pick-place, paraphrase, multi-step,
stacking, quantifier, refuse, affordance.
"""
import random

rng = random.Random(6)
COLORS = ["red", "green", "blue", "yellow", "purple", "orange"]
SYN = {
    "red": ["crimson", "scarlet", "ruby"],
    "green": ["emerald", "lime"],
    "blue": ["navy", "azure", "cobalt"],
    "yellow": ["golden", "lemon"],
    "purple": ["violet", "lilac"],
    "orange": ["tangerine", "amber"],
}
cases = []


def scene(blocks, bowls, extra=""):
    s = f"blocks={','.join(blocks)}; bowls={','.join(bowls)}"
    return s + (f"; {extra}" if extra else "")


def add(family, sc, instr, expect=None, refuse=False):
    c = {"family": family, "scene": sc, "seed": rng.randrange(1000), "instruction": instr}
    if refuse:
        c["refuse"] = True
    else:
        c["expect"] = expect
    cases.append(c)


def pick(n, pool=COLORS):
    return rng.sample(pool, n)


# pick-place: plain wording.
forms = ["put the {b} block in the {w} bowl", "place the {b} block in the {w} bowl",
         "move the {b} block into the {w} bowl", "put the {b} block into the {w} bowl"]
for i in range(12):
    blocks, bowls = pick(rng.choice([2, 3])), pick(rng.choice([1, 2]))
    b, w = rng.choice(blocks), rng.choice(bowls)
    add("pick-place", scene(blocks, bowls), forms[i % len(forms)].format(b=b, w=w), {f"{b} block": f"{w} bowl"})

# paraphrase: colour synonyms, object synonyms, verbs.
objs = ["cube", "block", "brick"]
dishes = ["dish", "bowl", "basin", "container"]
verbs = ["drop the {b} {o} into the {w} {d}", "toss the {b} {o} in the {w} {d}",
         "could you set the {b} {o} inside the {w} {d}", "I'd like the {b} {o} in the {w} {d}"]
for i in range(14):
    blocks, bowls = pick(3), pick(2)
    b, w = rng.choice(blocks), rng.choice(bowls)
    bb = rng.choice(SYN[b]) if i % 2 == 0 else b
    ww = rng.choice(SYN[w]) if i % 3 == 0 else w
    text = verbs[i % len(verbs)].format(b=bb, o=rng.choice(objs), w=ww, d=rng.choice(dishes))
    add("paraphrase", scene(blocks, bowls), text, {f"{b} block": f"{w} bowl"})

# multi-step: two placements in one instruction.
mforms = ["put the {a} block in the {x} bowl and the {b} block in the {y} bowl",
          "first put the {a} block in the {x} bowl, then put the {b} block in the {y} bowl",
          "place the {a} block in the {x} bowl, and after that the {b} block in the {y} bowl"]
for i in range(12):
    blocks, bowls = pick(3), pick(2)
    a, b = rng.sample(blocks, 2)
    x, y = bowls[0], bowls[1]
    add("multi-step", scene(blocks, bowls), mforms[i % len(mforms)].format(a=a, b=b, x=x, y=y),
        {f"{a} block": f"{x} bowl", f"{b} block": f"{y} bowl"})

# stacking and ordering.
for i in range(12):
    blocks, bowls = pick(3), pick(1)
    a, b, c = blocks
    if i % 3 == 0:
        add("stacking", scene(blocks, bowls), f"stack the {a} block on the {b} block", {f"{a} block": f"on {b} block"})
    elif i % 3 == 1:
        add("stacking", scene(blocks, bowls), f"put the {a} block on top of the {b} block", {f"{a} block": f"on {b} block"})
    else:
        add("stacking", scene(blocks, bowls),
            f"stack the {a} block on the {b} one, then put the {c} one in the bowl",
            {f"{a} block": f"on {b} block", f"{c} block": f"{bowls[0]} bowl"})

# quantifiers: every block into one bowl (two blocks: a bowl holds two).
qforms = ["put all the blocks in the {w} bowl", "put every block into the {w} bowl",
          "move both blocks to the {w} bowl"]
for i in range(10):
    blocks, bowls = pick(2), pick(rng.choice([1, 2]))
    w = rng.choice(bowls)
    add("quantifier", scene(blocks, bowls), qforms[i % len(qforms)].format(w=w),
        {f"{b} block": f"{w} bowl" for b in blocks})

# refuse: absent objects and requests no skill can serve.
for i in range(12):
    blocks, bowls = pick(2), pick(1)
    absent_b = rng.choice([c for c in COLORS if c not in blocks])
    absent_w = rng.choice([c for c in COLORS if c not in bowls])
    if i % 3 == 0:
        text = f"put the {absent_b} block in the {bowls[0]} bowl"
    elif i % 3 == 1:
        text = f"put the {blocks[0]} block in the {absent_w} bowl"
    else:
        text = rng.choice(["stack the {a} block on the {b} block", "pick up the {a} block"]).format(
            a=absent_b, b=blocks[0])
    add("refuse", scene(blocks, bowls), text, refuse=True)

# affordance-dependent: the gripper already holds a block, or a block is under another.
for i in range(12):
    blocks, bowls = pick(3), pick(2)
    a, b, c = blocks
    w = bowls[0]
    if i % 3 == 0:
        # Holding the named block already: place it, no pick.
        add("affordance", scene(blocks, bowls, f"holding={a}"), f"put the {a} block in the {w} bowl", {f"{a} block": f"{w} bowl"})
    elif i % 3 == 1:
        # Holding another block: it has to go somewhere first.
        add("affordance", scene(blocks, bowls, f"holding={b}"), f"put the {a} block in the {w} bowl", {f"{a} block": f"{w} bowl"})
    else:
        # The named block is under another one.
        add("affordance", scene(blocks, bowls, f"stacked={b}/{a}"), f"put the {a} block in the {w} bowl", {f"{a} block": f"{w} bowl"})


def toml_str(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


out = ["# The language-layer evaluation suite (issue #6): `ganglion eval-lang tests/lang/suite.toml`.",
       "# Generated by tests/lang/make_suite.py (fixed seed); edit the script, not this file.", ""]
for c in cases:
    out.append("[[case]]")
    out.append(f"family = {toml_str(c['family'])}")
    out.append(f"scene = {toml_str(c['scene'])}")
    out.append(f"seed = {c['seed']}")
    out.append(f"instruction = {toml_str(c['instruction'])}")
    if c.get("refuse"):
        out.append("refuse = true")
    else:
        items = ", ".join(f"{toml_str(k)} = {toml_str(v)}" for k, v in c["expect"].items())
        out.append(f"expect = {{ {items} }}")
    out.append("")
open("tests/lang/suite.toml", "w").write("\n".join(out))
print(f"{len(cases)} cases")
