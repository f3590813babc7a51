#!/usr/bin/env python3
"""PyBullet TinyRenderer baseline for `ganglion bench render`.

Builds the tabletop scene that ganglion's CPU rasterizer draws, from the
scene file `ganglion bench render` writes (the same positions, sizes and
colours): the table top and the blocks as boxes, each bowl as its floor disc
and open cylindrical wall (the same 24-sided triangle meshes ganglion draws),
and the arm as four boxes, one per link, posed per frame as the file lists.
It renders them with PyBullet's CPU TinyRenderer (DIRECT mode, no GUI, no
OpenGL) from the same camera (eye, target, vertical field of view, +z up) at
the same resolution, and times each `getCameraImage` call alone with
time.perf_counter_ns (moving the arm's four bodies between frames is not
timed; ganglion's time does include building its triangles from the state).
Shadows are off (ganglion draws none) and the segmentation mask is not asked
for; the call returns RGBA and the depth buffer, as ganglion's returns RGB
and depth. TinyRenderer is single-threaded.

Run (venv from benches/python/setup_venv.sh):

    ganglion bench render --json            # writes the scene file and runs this
    $HOME/.cache/ganglion-venv/bin/python benches/python/render_pybullet.py \\
        --scene scene.json --frames 200 --png pybullet.png

Prints one JSON line:
    {"renderer":"pybullet TinyRenderer","version":..,"frames":..,
     "ms_per_frame":{"median":..,"p95":..,"mean":..},"fps":..,...}
"""

import argparse
import json
import math
import struct
import time
import zlib

import pybullet as p


def quat_from_basis(x, y, z):
    """The quaternion (x, y, z, w) of the rotation whose columns are x, y, z."""
    m00, m10, m20 = x
    m01, m11, m21 = y
    m02, m12, m22 = z
    tr = m00 + m11 + m22
    if tr > 0:
        s = math.sqrt(tr + 1.0) * 2
        return [(m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s, 0.25 * s]
    if m00 > m11 and m00 > m22:
        s = math.sqrt(1.0 + m00 - m11 - m22) * 2
        return [0.25 * s, (m01 + m10) / s, (m02 + m20) / s, (m21 - m12) / s]
    if m11 > m22:
        s = math.sqrt(1.0 + m11 - m00 - m22) * 2
        return [(m01 + m10) / s, 0.25 * s, (m12 + m21) / s, (m02 - m20) / s]
    s = math.sqrt(1.0 + m22 - m00 - m11) * 2
    return [(m02 + m20) / s, (m12 + m21) / s, 0.25 * s, (m10 - m01) / s]


def sub(a, b):
    return [a[0] - b[0], a[1] - b[1], a[2] - b[2]]


def cross(a, b):
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def norm(a):
    n = math.sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2])
    return [a[0] / n, a[1] / n, a[2] / n] if n > 0 else a


def link_pose(a, b):
    """Centre, orientation and length of the box along segment a-b, with the
    same cross-section axes as ganglion's `add_segment`."""
    axis = norm(sub(b, a))
    helper = [1.0, 0.0, 0.0] if abs(axis[2]) > 0.9 else [0.0, 0.0, 1.0]
    u = norm(cross(axis, helper))
    v = norm(cross(axis, u))
    length = math.sqrt(sum((bi - ai) ** 2 for ai, bi in zip(a, b)))
    centre = [(ai + bi) * 0.5 for ai, bi in zip(a, b)]
    return centre, quat_from_basis(u, v, axis), length


def rgba(c):
    return [c[0], c[1], c[2], 1.0]


def add_box(lo, hi, color):
    half = [(h - l) * 0.5 for l, h in zip(lo, hi)]
    centre = [(h + l) * 0.5 for l, h in zip(lo, hi)]
    vis = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=rgba(color))
    return p.createMultiBody(baseMass=0, baseVisualShapeIndex=vis, basePosition=centre)


def add_mesh(vertices, indices, color):
    vis = p.createVisualShape(
        p.GEOM_MESH, vertices=vertices, indices=indices, rgbaColor=rgba(color)
    )
    return p.createMultiBody(baseMass=0, baseVisualShapeIndex=vis, basePosition=[0, 0, 0])


def add_bowl(bowl):
    """Floor disc and open wall, the triangles ganglion draws (both windings
    of the wall, which ganglion shades from either side)."""
    n, r = bowl["segments"], bowl["radius"]
    base, floor, wall = bowl["base"], bowl["floor"], bowl["wall"]

    def at(k, z):
        a = k * 2.0 * math.pi / n
        return [base[0] + r * math.cos(a), base[1] + r * math.sin(a), base[2] + z]

    fv = [[base[0], base[1], base[2] + floor]] + [at(k, floor) for k in range(n)]
    fi = []
    for k in range(n):
        a, b = 1 + k, 1 + (k + 1) % n
        fi += [0, a, b, 0, b, a]
    wv = [at(k, 0.0) for k in range(n)] + [at(k, wall) for k in range(n)]
    wi = []
    for k in range(n):
        a, b = k, (k + 1) % n
        for t in ([a, b, n + b], [a, n + b, n + a]):
            wi += t + [t[0], t[2], t[1]]
    add_mesh(fv, fi, bowl["inner_rgb"])
    add_mesh(wv, wi, bowl["rgb"])


def write_png(path, width, height, rgb_rows):
    raw = b"".join(b"\x00" + bytes(row) for row in rgb_rows)

    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 6)))
        f.write(chunk(b"IEND", b""))


def save_rgbd(path, w, h, rgba_px, depth_buf, near, far):
    """RGB on the left, metric depth on the right (near bright, no hit black),
    as ganglion's `write_rgbd_png` draws it."""
    rgba_px = list(rgba_px.flatten()) if hasattr(rgba_px, "flatten") else list(rgba_px)
    depth_buf = list(depth_buf.flatten()) if hasattr(depth_buf, "flatten") else list(depth_buf)
    z = [far * near / (far - (far - near) * d) if d < 1.0 else 0.0 for d in depth_buf]
    hits = [v for v in z if v > 0.0]
    lo, hi = (min(hits), max(hits)) if hits else (0.0, 1.0)
    span = max(hi - lo, 1e-6)
    rows = []
    for y in range(h):
        row = []
        for x in range(w):
            i = y * w + x
            row += rgba_px[4 * i : 4 * i + 3]
        for x in range(w):
            d = z[y * w + x]
            g = round(255.0 * (1.0 - 0.8 * (d - lo) / span)) if d > 0.0 else 0
            row += [g, g, g]
        rows.append(row)
    write_png(path, 2 * w, h, rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scene", required=True, help="scene file from `ganglion bench render`")
    ap.add_argument("--frames", type=int, default=None, help="timed frames (default: the file's)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed frames first")
    ap.add_argument("--png", default=None, help="write the first frame as a PNG (RGB | depth)")
    args = ap.parse_args()

    with open(args.scene) as f:
        scene = json.load(f)
    w, h = scene["width"], scene["height"]
    near, far = scene["near"], scene["far"]
    arm_frames = scene["arm_frames"]
    warmup = scene["warmup"] if args.warmup is None else args.warmup
    frames = scene["frames"] if args.frames is None else args.frames

    p.connect(p.DIRECT)
    for b in scene["boxes"]:
        add_box(b["lo"], b["hi"], b["rgb"])
    for bowl in scene["bowls"]:
        add_bowl(bowl)
    links = []
    for link in arm_frames[0]:
        centre, orn, length = link_pose(link["a"], link["b"])
        half = link["half"]
        vis = p.createVisualShape(
            p.GEOM_BOX, halfExtents=[half, half, 0.5 * length], rgbaColor=rgba(scene["arm_rgb"])
        )
        links.append(
            p.createMultiBody(
                baseMass=0, baseVisualShapeIndex=vis, basePosition=centre, baseOrientation=orn
            )
        )

    view = p.computeViewMatrix(scene["eye"], scene["target"], [0, 0, 1])
    proj = p.computeProjectionMatrixFOV(scene["fov_y_deg"], w / h, near, far)
    light = scene["light"]

    def pose(frame):
        for body, link in zip(links, arm_frames[frame % len(arm_frames)]):
            centre, orn, _ = link_pose(link["a"], link["b"])
            p.resetBasePositionAndOrientation(body, centre, orn)

    def render():
        return p.getCameraImage(
            w,
            h,
            viewMatrix=view,
            projectionMatrix=proj,
            renderer=p.ER_TINY_RENDERER,
            shadow=0,
            lightDirection=light,
            lightAmbientCoeff=scene["ambient"],
            lightDiffuseCoeff=1.0 - scene["ambient"],
            lightSpecularCoeff=0.0,
            flags=p.ER_NO_SEGMENTATION_MASK,
        )

    pose(0)
    img = render()
    if args.png:
        save_rgbd(args.png, w, h, img[2], img[3], near, far)
    for i in range(warmup):
        pose(i)
        render()
    samples = []
    clock = time.perf_counter_ns
    for i in range(frames):
        pose(warmup + i)
        t0 = clock()
        render()
        samples.append(clock() - t0)
    p.disconnect()

    ms = sorted(s / 1e6 for s in samples)
    median = ms[len(ms) // 2] if len(ms) % 2 else 0.5 * (ms[len(ms) // 2 - 1] + ms[len(ms) // 2])
    p95 = ms[min(len(ms) - 1, math.ceil(0.95 * len(ms)) - 1)]
    mean = sum(ms) / len(ms)
    try:
        from importlib.metadata import version

        ver = version("pybullet")
    except Exception:
        ver = None
    print(
        json.dumps(
            {
                "renderer": "pybullet TinyRenderer (ER_TINY_RENDERER, DIRECT)",
                "version": ver,
                "numpy_arrays": bool(p.isNumpyEnabled()),
                "threads": 1,
                "frames": frames,
                "warmup": warmup,
                "ms_per_frame": {"median": median, "p95": p95, "mean": mean},
                "fps": 1000.0 / median,
                "timed": "getCameraImage only (RGBA + depth, no segmentation mask, no shadows)",
            }
        )
    )


if __name__ == "__main__":
    main()
