//! A simulated RGB-D camera for the tabletop: a small CPU z-buffer
//! rasterizer (pinhole intrinsics, a camera pose in the world, Lambert
//! shading with ambient light, optional pixel noise). It draws what the
//! tabletop holds — the table, the blocks, the bowls (floor and wall) and
//! the arm's links from its joint angles (they have no colliders; they are
//! drawn anyway) — from a `TabletopState`, so the same state gives the same
//! image. Single-threaded, fixed-order f32 arithmetic and a seeded noise
//! stream: the same state, camera and seed give byte-identical frames on any
//! machine and thread count.
//!
//! Why our own rasterizer and not a crate or a GPU API: the scene is a few
//! hundred triangles of boxes and cylinders, a 128×128 frame is ~16 k pixels,
//! and determinism across machines is a contract (recordings are replayed
//! bit-exactly); a hundred lines of edge functions are cheaper to build and
//! to trust than a dependency or a driver.

use crate::rng::{Rng, derive_seed};
use crate::tabletop::arm::TabletopArm;
use crate::tabletop::scene::{BLOCK_SIZE, BOWL_FLOOR, BOWL_RADIUS, BOWL_WALL, MAX_BLOCKS};
use crate::tabletop::{SceneSpec, TabletopState};

type V3 = [f32; 3];

/// A pinhole camera: intrinsics in pixels and its pose in the world
/// (`eye` looking at `target`, world +z up in the image).
#[derive(Clone, Debug, PartialEq)]
pub struct Camera {
    pub width: usize,
    pub height: usize,
    pub fx: f32,
    pub fy: f32,
    pub cx: f32,
    pub cy: f32,
    pub eye: V3,
    pub target: V3,
}

impl Camera {
    /// A camera with a vertical field of view of `fov_y_deg` and square
    /// pixels, the principal point at the image centre.
    pub fn with_fov(width: usize, height: usize, fov_y_deg: f32, eye: V3, target: V3) -> Camera {
        let fy = 0.5 * height as f32 / (0.5 * fov_y_deg.to_radians()).tan();
        Camera {
            width,
            height,
            fx: fy,
            fy,
            cx: 0.5 * width as f32,
            cy: 0.5 * height as f32,
            eye,
            target,
        }
    }

    /// The fixed camera over the workspace: behind the table's far edge,
    /// looking down at the middle of where objects are placed.
    pub fn overhead(width: usize, height: usize) -> Camera {
        Camera::with_fov(width, height, 55.0, [1.05, 0.0, 0.85], [0.38, 0.0, 0.0])
    }

    /// A camera on the wrist: 6 cm above the suction cup, looking straight
    /// down past it.
    pub fn wrist(width: usize, height: usize, state: &TabletopState) -> Camera {
        let c = state.cup;
        Camera::with_fov(
            width,
            height,
            70.0,
            [c[0] - 0.02, c[1], c[2] + 0.06],
            [c[0] + 0.02, c[1], 0.0],
        )
    }

    /// The same camera moved by `shift` (metres) and turned by the small
    /// angles `turn` (radians: about the camera's right and down axes; a
    /// camera here has no roll).
    pub fn perturbed(&self, shift: V3, turn: [f32; 2]) -> Camera {
        let (r, d, f) = self.basis();
        let dist = dot(sub(self.target, self.eye), f);
        // Small rotations of the optical axis: about `r` tilts it along `d`,
        // about `d` swings it along `r`.
        let f2 = norm(add(f, add(scale(d, -turn[0]), scale(r, turn[1]))));
        let eye = add(self.eye, shift);
        Camera {
            eye,
            target: add(eye, scale(f2, dist)),
            ..self.clone()
        }
    }

    /// The world point seen at pixel centre `(u, v)` (column, row; `+0.5`
    /// for the centre) at `depth` metres along the optical axis.
    pub fn back_project(&self, u: f32, v: f32, depth: f32) -> V3 {
        let (r, d, f) = self.basis();
        let x = (u - self.cx) / self.fx * depth;
        let y = (v - self.cy) / self.fy * depth;
        add(
            self.eye,
            add(add(scale(r, x), scale(d, y)), scale(f, depth)),
        )
    }

    /// Where world point `p` lands: pixel `(u, v)` and depth, or `None`
    /// behind the camera.
    pub fn project(&self, p: V3) -> Option<(f32, f32, f32)> {
        let (r, d, f) = self.basis();
        let rel = sub(p, self.eye);
        let z = dot(rel, f);
        (z > NEAR).then(|| {
            (
                self.fx * dot(rel, r) / z + self.cx,
                self.fy * dot(rel, d) / z + self.cy,
                z,
            )
        })
    }

    /// The camera frame: right, down, forward (unit vectors in the world).
    pub fn basis(&self) -> (V3, V3, V3) {
        let f = norm(sub(self.target, self.eye));
        let up = if cross(f, [0.0, 0.0, 1.0]) == [0.0; 3] {
            [1.0, 0.0, 0.0]
        } else {
            [0.0, 0.0, 1.0]
        };
        let r = norm(cross(f, up));
        let d = cross(f, r);
        (r, d, f)
    }
}

/// One RGB-D frame: RGB 8-bit row-major, depth in metres along the optical
/// axis (0 where nothing was hit, as a depth sensor reports no return).
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
    pub depth: Vec<f32>,
}

/// Sensor noise: Gaussian-ish pixel noise (σ in 8-bit levels) and depth
/// noise (σ in metres), from a seeded stream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Noise {
    pub seed: u64,
    pub rgb_sigma: f32,
    pub depth_sigma: f32,
}

struct Tri {
    v: [V3; 3],
    color: V3,
    /// Which object drew it (`NO_OBJECT`, a block or a bowl: see `object_ids`).
    id: u16,
}

/// How the scene is lit and tinted: the light's direction (towards the
/// light), the ambient share, an overall intensity, and a multiplicative tint
/// per object (blocks then bowls, as the scene lists them; missing entries
/// are white). Perception training draws these at random (domain
/// randomization); the default is the fixed studio light.
#[derive(Clone, Debug, PartialEq)]
pub struct Appearance {
    pub light: V3,
    pub ambient: f32,
    pub intensity: f32,
    pub tints: Vec<V3>,
}

impl Default for Appearance {
    fn default() -> Self {
        Appearance {
            light: [0.3, 0.2, 0.93],
            ambient: 0.35,
            intensity: 1.0,
            tints: Vec::new(),
        }
    }
}

/// The id of pixels that show no object (table, arm, background).
pub const NO_OBJECT: u16 = 0;

/// The id block `i` draws with.
pub fn block_id(i: usize) -> u16 {
    1 + i as u16
}

/// The id bowl `k` draws with.
pub fn bowl_id(k: usize) -> u16 {
    1 + (MAX_BLOCKS + k) as u16
}

/// Renders frames; its buffers are allocated once, at the camera's size.
pub struct Renderer {
    camera: Camera,
    frame: Frame,
    shade: Vec<V3>,
    ids: Vec<u16>,
    tris: Vec<Tri>,
    look: Appearance,
}

const BACKGROUND: V3 = [0.78, 0.82, 0.88];
const NEAR: f32 = 0.01;

impl Renderer {
    pub fn new(camera: Camera) -> Renderer {
        let n = camera.width * camera.height;
        Renderer {
            frame: Frame {
                width: camera.width,
                height: camera.height,
                rgb: vec![0; 3 * n],
                depth: vec![0.0; n],
            },
            shade: vec![[0.0; 3]; n],
            ids: vec![NO_OBJECT; n],
            tris: Vec::with_capacity(1024),
            look: Appearance::default(),
            camera,
        }
    }

    pub fn camera(&self) -> &Camera {
        &self.camera
    }

    /// Sets the lighting and tints for the next renders.
    pub fn set_appearance(&mut self, look: Appearance) {
        self.look = look;
    }

    /// Replaces the whole camera (intrinsics and pose) with one of the same
    /// size.
    pub fn set_camera(&mut self, camera: Camera) {
        debug_assert_eq!(
            (camera.width, camera.height),
            (self.camera.width, self.camera.height)
        );
        if (camera.width, camera.height) == (self.camera.width, self.camera.height) {
            self.camera = camera;
        }
    }

    /// Per pixel of the last frame, the object it shows: `NO_OBJECT`,
    /// `block_id(i)` or `bowl_id(k)` (ground truth for learning perception).
    pub fn object_ids(&self) -> &[u16] {
        &self.ids
    }

    /// Moves the camera (a mounted camera follows its link); the size stays.
    pub fn set_pose(&mut self, eye: V3, target: V3) {
        self.camera.eye = eye;
        self.camera.target = target;
    }

    /// Draws the tabletop in `state` (objects coloured as `scene` names
    /// them) and returns the frame.
    pub fn render(
        &mut self,
        scene: &SceneSpec,
        state: &TabletopState,
        noise: Option<Noise>,
    ) -> &Frame {
        self.tris.clear();
        tabletop_triangles(scene, state, &self.look.tints, &mut self.tris);
        self.shade.fill(BACKGROUND);
        self.ids.fill(NO_OBJECT);
        self.frame.depth.fill(0.0);
        let (r, d, f) = self.camera.basis();
        let light = Light {
            dir: norm(self.look.light),
            ambient: self.look.ambient,
            intensity: self.look.intensity,
        };
        for t in &self.tris {
            draw(
                &self.camera,
                (r, d, f),
                &light,
                t,
                &mut self.frame.depth,
                &mut self.shade,
                &mut self.ids,
            );
        }
        let mut rng = noise.map(|n| Rng::new(derive_seed(n.seed, 0xca3)));
        for (i, s) in self.shade.iter().enumerate() {
            for (k, c) in s.iter().enumerate() {
                let mut v = c * 255.0;
                if let (Some(rng), Some(n)) = (rng.as_mut(), noise) {
                    v += gauss(rng) * n.rgb_sigma;
                }
                self.frame.rgb[3 * i + k] = v.round().clamp(0.0, 255.0) as u8;
            }
            if let (Some(rng), Some(n)) = (rng.as_mut(), noise)
                && self.frame.depth[i] > 0.0
            {
                self.frame.depth[i] = (self.frame.depth[i] + gauss(rng) * n.depth_sigma).max(NEAR);
            }
        }
        &self.frame
    }
}

/// An approximately normal sample (sum of four uniforms, variance-matched).
fn gauss(rng: &mut Rng) -> f32 {
    let s: f32 = (0..4).map(|_| rng.uniform(-1.0, 1.0)).sum();
    s * (3.0f32 / 4.0).sqrt()
}

struct Light {
    dir: V3,
    ambient: f32,
    intensity: f32,
}

/// Rasterizes one triangle into the depth, colour and object-id buffers.
fn draw(
    cam: &Camera,
    (r, d, f): (V3, V3, V3),
    light: &Light,
    t: &Tri,
    depth: &mut [f32],
    shade: &mut [V3],
    ids: &mut [u16],
) {
    let mut p = [[0.0f32; 3]; 3];
    for (k, v) in t.v.iter().enumerate() {
        let rel = sub(*v, cam.eye);
        let z = dot(rel, f);
        if z < NEAR {
            return;
        }
        p[k] = [
            cam.fx * dot(rel, r) / z + cam.cx,
            cam.fy * dot(rel, d) / z + cam.cy,
            z,
        ];
    }
    // Lambert with the normal facing the camera (bowl walls are seen from
    // both sides).
    let mut n = norm(cross(sub(t.v[1], t.v[0]), sub(t.v[2], t.v[0])));
    if dot(n, sub(cam.eye, t.v[0])) < 0.0 {
        n = [-n[0], -n[1], -n[2]];
    }
    let lambert =
        light.intensity * (light.ambient + (1.0 - light.ambient) * dot(n, light.dir).max(0.0));
    let color = [
        t.color[0] * lambert,
        t.color[1] * lambert,
        t.color[2] * lambert,
    ];
    let area = edge(p[0], p[1], p[2]);
    if area.abs() < 1e-9 {
        return;
    }
    let (w, h) = (cam.width as f32, cam.height as f32);
    let x0 = p
        .iter()
        .map(|q| q[0])
        .fold(f32::INFINITY, f32::min)
        .floor()
        .max(0.0) as usize;
    let x1 = p
        .iter()
        .map(|q| q[0])
        .fold(f32::NEG_INFINITY, f32::max)
        .ceil()
        .min(w) as usize;
    let y0 = p
        .iter()
        .map(|q| q[1])
        .fold(f32::INFINITY, f32::min)
        .floor()
        .max(0.0) as usize;
    let y1 = p
        .iter()
        .map(|q| q[1])
        .fold(f32::NEG_INFINITY, f32::max)
        .ceil()
        .min(h) as usize;
    for y in y0..y1 {
        for x in x0..x1 {
            let c = [x as f32 + 0.5, y as f32 + 0.5, 0.0];
            let b = [
                edge(p[1], p[2], c) / area,
                edge(p[2], p[0], c) / area,
                edge(p[0], p[1], c) / area,
            ];
            if b.iter().any(|v| *v < 0.0) {
                continue;
            }
            // Perspective-correct depth: 1/z is linear in screen space.
            let z = 1.0 / (b[0] / p[0][2] + b[1] / p[1][2] + b[2] / p[2][2]);
            let i = y * cam.width + x;
            if depth[i] == 0.0 || z < depth[i] {
                depth[i] = z;
                shade[i] = color;
                ids[i] = t.id;
            }
        }
    }
}

fn edge(a: [f32; 3], b: [f32; 3], c: [f32; 3]) -> f32 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

/// The colour a scene colour name is drawn with (linear 0..1).
pub fn color_rgb(name: &str) -> V3 {
    match name {
        "red" => [0.85, 0.10, 0.10],
        "green" => [0.10, 0.65, 0.20],
        "blue" => [0.12, 0.25, 0.85],
        "yellow" => [0.95, 0.85, 0.10],
        "purple" => [0.55, 0.20, 0.70],
        "orange" => [1.00, 0.50, 0.05],
        _ => [0.5, 0.5, 0.5],
    }
}

const TABLE: V3 = [0.62, 0.50, 0.38];
const ARM: V3 = [0.62, 0.63, 0.68];

/// Every triangle of the tabletop in `state`.
fn tabletop_triangles(scene: &SceneSpec, state: &TabletopState, tints: &[V3], out: &mut Vec<Tri>) {
    // The table top (its collider: centre (0.25, 0, -0.02), half 0.6×0.7×0.02).
    add_box(
        out,
        [-0.35, -0.7, -0.04],
        [0.85, 0.7, 0.0],
        TABLE,
        NO_OBJECT,
    );
    let h = BLOCK_SIZE * 0.5;
    let tinted = |k: usize, c: V3| -> V3 {
        let t = tints.get(k).copied().unwrap_or([1.0; 3]);
        [c[0] * t[0], c[1] * t[1], c[2] * t[2]]
    };
    for (i, (color, p)) in scene.blocks.iter().zip(&state.blocks).enumerate() {
        add_box(
            out,
            [p[0] - h, p[1] - h, p[2] - h],
            [p[0] + h, p[1] + h, p[2] + h],
            tinted(i, color_rgb(color)),
            block_id(i),
        );
    }
    let n = scene.blocks.len();
    for (k, (color, p)) in scene.bowls.iter().zip(&state.bowls).enumerate() {
        add_bowl(out, *p, tinted(n + k, color_rgb(color)), bowl_id(k));
    }
    add_arm(out, &state.q);
}

/// The arm's links as boxes between its joints (forward kinematics of the
/// shipped arm's URDF).
fn add_arm(out: &mut Vec<Tri>, q: &[f32; 4]) {
    let [base, shoulder, elbow, wrist, cup] = TabletopArm::shipped().geometry.joint_points(q);
    add_segment(out, base, shoulder, 0.035, ARM);
    add_segment(out, shoulder, elbow, 0.025, ARM);
    add_segment(out, elbow, wrist, 0.02, ARM);
    add_segment(out, wrist, cup, 0.012, ARM);
}

/// An axis-aligned box from `lo` to `hi`.
fn add_box(out: &mut Vec<Tri>, lo: V3, hi: V3, color: V3, id: u16) {
    let c = |i: usize| -> V3 {
        [
            if i & 1 == 0 { lo[0] } else { hi[0] },
            if i & 2 == 0 { lo[1] } else { hi[1] },
            if i & 4 == 0 { lo[2] } else { hi[2] },
        ]
    };
    add_cuboid(
        out,
        [c(0), c(1), c(2), c(3), c(4), c(5), c(6), c(7)],
        color,
        id,
    );
}

/// A box of half-width `half` around the segment `a`–`b`.
fn add_segment(out: &mut Vec<Tri>, a: V3, b: V3, half: f32, color: V3) {
    let axis = norm(sub(b, a));
    let helper = if axis[2].abs() > 0.9 {
        [1.0, 0.0, 0.0]
    } else {
        [0.0, 0.0, 1.0]
    };
    let u = scale(norm(cross(axis, helper)), half);
    let v = scale(norm(cross(axis, u)), half);
    let corner = |i: usize| -> V3 {
        let base = if i & 4 == 0 { a } else { b };
        let su = if i & 1 == 0 { -1.0 } else { 1.0 };
        let sv = if i & 2 == 0 { -1.0 } else { 1.0 };
        add(base, add(scale(u, su), scale(v, sv)))
    };
    let corners = [0, 1, 2, 3, 4, 5, 6, 7].map(corner);
    add_cuboid(out, corners, color, NO_OBJECT);
}

/// The 12 triangles of a hexahedron whose corners are indexed by bits
/// (x: 1, y: 2, z: 4).
fn add_cuboid(out: &mut Vec<Tri>, c: [V3; 8], color: V3, id: u16) {
    const FACES: [[usize; 4]; 6] = [
        [0, 1, 3, 2],
        [4, 5, 7, 6],
        [0, 1, 5, 4],
        [2, 3, 7, 6],
        [0, 2, 6, 4],
        [1, 3, 7, 5],
    ];
    for f in FACES {
        out.push(Tri {
            v: [c[f[0]], c[f[1]], c[f[2]]],
            color,
            id,
        });
        out.push(Tri {
            v: [c[f[0]], c[f[2]], c[f[3]]],
            color,
            id,
        });
    }
}

/// A bowl at `p` (its base centre): a floor disc and a cylindrical wall.
fn add_bowl(out: &mut Vec<Tri>, p: V3, color: V3, id: u16) {
    const N: usize = 24;
    let inner = [color[0] * 0.8, color[1] * 0.8, color[2] * 0.8];
    let at = |k: usize, z: f32| -> V3 {
        let a = k as f32 * std::f32::consts::TAU / N as f32;
        [
            p[0] + BOWL_RADIUS * a.cos(),
            p[1] + BOWL_RADIUS * a.sin(),
            p[2] + z,
        ]
    };
    let centre = [p[0], p[1], p[2] + BOWL_FLOOR];
    for k in 0..N {
        let (a, b) = (k, (k + 1) % N);
        out.push(Tri {
            v: [centre, at(a, BOWL_FLOOR), at(b, BOWL_FLOOR)],
            color: inner,
            id,
        });
        out.push(Tri {
            v: [at(a, 0.0), at(b, 0.0), at(b, BOWL_WALL)],
            color,
            id,
        });
        out.push(Tri {
            v: [at(a, 0.0), at(b, BOWL_WALL), at(a, BOWL_WALL)],
            color,
            id,
        });
    }
}

fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}
fn scale(a: V3, s: f32) -> V3 {
    [a[0] * s, a[1] * s, a[2] * s]
}
fn dot(a: V3, b: V3) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
fn norm(a: V3) -> V3 {
    let l = dot(a, a).sqrt();
    if l > 0.0 { scale(a, 1.0 / l) } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tabletop::TabletopWorld;

    fn state(seed: u64) -> (SceneSpec, TabletopState) {
        let scene = SceneSpec::parse("blocks=red,green,blue; bowls=yellow,purple").unwrap();
        let state = TabletopWorld::new(&scene, seed).state();
        (scene, state)
    }

    #[test]
    fn renders_are_byte_identical_and_a_new_seed_differs() {
        let (scene, s) = state(3);
        let noise = Some(Noise {
            seed: 9,
            rgb_sigma: 2.0,
            depth_sigma: 0.001,
        });
        let a = Renderer::new(Camera::overhead(96, 96))
            .render(&scene, &s, noise)
            .clone();
        let b = Renderer::new(Camera::overhead(96, 96))
            .render(&scene, &s, noise)
            .clone();
        assert_eq!(a, b);
        let (_, other) = state(4);
        let c = Renderer::new(Camera::overhead(96, 96))
            .render(&scene, &other, noise)
            .clone();
        assert_ne!(a.rgb, c.rgb);
        let quiet = Renderer::new(Camera::overhead(96, 96))
            .render(&scene, &s, None)
            .clone();
        assert_ne!(a.rgb, quiet.rgb, "noise changes pixels");
    }

    /// The pixel a block's top centre projects to shows the block's colour,
    /// and its depth is the camera's distance to that point.
    #[test]
    fn a_block_appears_where_it_projects_with_its_depth() {
        let (scene, s) = state(5);
        let cam = Camera::overhead(128, 128);
        let mut r = Renderer::new(cam.clone());
        let frame = r.render(&scene, &s, None).clone();
        let (rt, dn, fw) = cam.basis();
        for (k, color) in scene.blocks.iter().enumerate() {
            let p = s.blocks[k];
            let top = [p[0], p[1], p[2] + BLOCK_SIZE * 0.5];
            let rel = sub(top, cam.eye);
            let z = dot(rel, fw);
            let u = (cam.fx * dot(rel, rt) / z + cam.cx) as usize;
            let v = (cam.fy * dot(rel, dn) / z + cam.cy) as usize;
            let i = v * 128 + u;
            let px = &frame.rgb[3 * i..3 * i + 3];
            let want = color_rgb(color);
            let strongest = (0..3).max_by(|a, b| want[*a].total_cmp(&want[*b])).unwrap();
            let got = (0..3).max_by_key(|c| px[*c]).unwrap();
            assert_eq!(got, strongest, "{color} block at ({u}, {v}): pixel {px:?}");
            assert!(
                (frame.depth[i] - z).abs() < 0.01,
                "depth {} vs {z}",
                frame.depth[i]
            );
        }
    }

    #[test]
    fn the_wrist_camera_sees_the_table_below_the_cup() {
        let (scene, s) = state(6);
        let mut r = Renderer::new(Camera::wrist(64, 64, &s));
        let f = r.render(&scene, &s, None);
        let hit = f.depth.iter().filter(|d| **d > 0.0).count();
        assert!(hit > 64 * 64 / 2, "{hit} pixels hit something");
    }
}
