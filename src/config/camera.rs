//! Validation of the `[[camera]]` tables of a robot config: a camera's name,
//! resolution, rate (in Hz of the loop's rate, or every k ticks), pinhole
//! intrinsics (fx/fy/cx/cy or a vertical field of view), mount (fixed in the
//! world, or on the wrist with an offset), pixel noise and image source. Every
//! problem names the key and its line; nothing here panics on any input.

use std::path::PathBuf;

use super::reader::{Item, Reporter, Table};
use super::validate::{Signature, or_default};

/// Smallest and largest accepted image side (pixels).
pub const MIN_CAMERA_SIDE: u64 = 8;
pub const MAX_CAMERA_SIDE: u64 = 4096;
/// The most cameras one robot config may have.
pub const MAX_CAMERAS: usize = 8;

const KEYS: &[&str] = &[
    "name",
    "width",
    "height",
    "rate_hz",
    "every_ticks",
    "fov_deg",
    "fx",
    "fy",
    "cx",
    "cy",
    "mount",
    "eye",
    "target",
    "offset",
    "look",
    "noise_rgb",
    "noise_depth",
    "source",
    "device",
    "connect",
];

/// Links a camera can be mounted on (the tabletop arm's wrist, at its cup).
pub const CAMERA_LINKS: &[&str] = &["wrist"];

/// One `[[camera]]` table, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct CameraConfig {
    /// Unique within the config; the recording's topics are `/camera/{name}/…`.
    pub name: String,
    pub width: usize,
    pub height: usize,
    /// A frame every this many control ticks (tick 0 included).
    pub every_ticks: u32,
    /// Pinhole intrinsics in pixels.
    pub fx: f32,
    pub fy: f32,
    pub cx: f32,
    pub cy: f32,
    pub mount: CameraMount,
    /// Pixel noise σ in 8-bit levels and depth noise σ in metres (0: none).
    pub noise_rgb: f32,
    pub noise_depth: f32,
    pub source: CameraSourceConfig,
}

/// Where a camera is.
#[derive(Clone, Debug, PartialEq)]
pub enum CameraMount {
    /// Fixed in the world: at `eye`, looking at `target` (metres).
    Fixed { eye: [f32; 3], target: [f32; 3] },
    /// On a link (`CAMERA_LINKS`): at the link's origin + `offset` (world
    /// axes: the mount follows the link's position), looking along `look`.
    Link {
        link: String,
        offset: [f32; 3],
        look: [f32; 3],
    },
}

/// Where a camera's pixels come from.
#[derive(Clone, Debug, PartialEq)]
pub enum CameraSourceConfig {
    /// Rendered from the simulated scene (needs a `sim:tabletop` plant).
    Sim,
    /// Frames published on `ganglion/{robot}/camera/{name}` by another
    /// process (`connect`: zenoh endpoints to reach it).
    Zenoh { connect: Vec<String> },
    /// A V4L2 device (the `v4l2` cargo feature).
    V4l2 { device: PathBuf },
}

/// Validates every `[[camera]]` table (absent: no cameras).
pub(crate) fn cameras(
    rep: &mut Reporter,
    top: &Table<'_>,
    rate_hz: Option<f64>,
    sig: Option<&Signature>,
) -> Option<Vec<CameraConfig>> {
    let Some(item) = top.get("camera") else {
        return Some(Vec::new());
    };
    let tables = item.array(rep)?;
    if tables.len() > MAX_CAMERAS {
        item.report(
            rep,
            format!(
                "at most {MAX_CAMERAS} cameras, got {} [[camera]] tables",
                tables.len()
            ),
        );
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for t in &tables {
        match t.table(rep).and_then(|t| camera(rep, &t, rate_hz, sig)) {
            Some(c) => {
                if out.iter().any(|o: &CameraConfig| o.name == c.name) {
                    let name = t.table(rep).and_then(|t| t.get("name"));
                    let at = name.unwrap_or_else(|| t.clone());
                    at.report(rep, format!("camera name {:?} is used twice", c.name));
                    ok = false;
                }
                out.push(c);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn camera(
    rep: &mut Reporter,
    t: &Table<'_>,
    rate_hz: Option<f64>,
    sig: Option<&Signature>,
) -> Option<CameraConfig> {
    t.check_keys(rep, KEYS);
    let name = t
        .require(rep, "name")
        .and_then(|i| super::validate::key_name(rep, &i));
    let width = t
        .require(rep, "width")
        .and_then(|i| i.count(rep, MIN_CAMERA_SIDE, MAX_CAMERA_SIDE));
    let height = t
        .require(rep, "height")
        .and_then(|i| i.count(rep, MIN_CAMERA_SIDE, MAX_CAMERA_SIDE));
    let every = every_ticks(rep, t, rate_hz);
    let intrinsics = match (width, height) {
        (Some(w), Some(h)) => intrinsics(rep, t, w as f32, h as f32),
        _ => None,
    };
    let mount = mount(rep, t);
    let noise_rgb = or_default(t.get("noise_rgb"), 0.0, |i| sigma(rep, i, 255.0));
    let noise_depth = or_default(t.get("noise_depth"), 0.0, |i| sigma(rep, i, 1.0));
    let source = source(rep, t, sig);
    let [fx, fy, cx, cy] = intrinsics?;
    Some(CameraConfig {
        name: name?,
        width: width? as usize,
        height: height? as usize,
        every_ticks: every?,
        fx,
        fy,
        cx,
        cy,
        mount: mount?,
        noise_rgb: noise_rgb?,
        noise_depth: noise_depth?,
        source: source?,
    })
}

/// `rate_hz` (must divide the loop's rate) or `every_ticks`; default 1.
fn every_ticks(rep: &mut Reporter, t: &Table<'_>, loop_hz: Option<f64>) -> Option<u32> {
    match (t.get("rate_hz"), t.get("every_ticks")) {
        (Some(r), Some(_)) => {
            r.report(rep, "give either rate_hz or every_ticks, not both");
            None
        }
        (None, None) => Some(1),
        (None, Some(e)) => e.count(rep, 1, 1_000_000).map(|k| k as u32),
        (Some(r), None) => {
            let hz = r.number(rep)?;
            if !hz.is_finite() || hz <= 0.0 {
                r.report(rep, format!("must be a finite rate > 0 Hz, got {hz}"));
                return None;
            }
            // Without a valid loop rate that problem is reported already.
            let loop_hz = loop_hz?;
            let k = loop_hz / hz;
            let every = k.round();
            if every < 1.0 || (k - every).abs() > 1e-6 * k || every > 1e6 {
                r.report(
                    rep,
                    format!(
                        "{hz} Hz is not the loop's rate_hz ({loop_hz}) divided by a whole \
                         number of ticks (or use every_ticks)"
                    ),
                );
                return None;
            }
            Some(every as u32)
        }
    }
}

/// `[fx, fy, cx, cy]` from the four keys, or from `fov_deg` (vertical,
/// square pixels, principal point at the centre).
fn intrinsics(rep: &mut Reporter, t: &Table<'_>, w: f32, h: f32) -> Option<[f32; 4]> {
    let explicit = ["fx", "fy", "cx", "cy"];
    let given: Vec<&str> = explicit.iter().copied().filter(|k| t.has(k)).collect();
    match (t.get("fov_deg"), given.len()) {
        (Some(f), 0) => {
            let deg = f.number(rep)?;
            if !(deg > 1.0 && deg < 179.0) {
                f.report(rep, format!("must be within (1, 179) degrees, got {deg}"));
                return None;
            }
            let fy = (0.5 * h as f64 / (0.5 * deg.to_radians()).tan()) as f32;
            Some([fy, fy, 0.5 * w, 0.5 * h])
        }
        (Some(f), _) => {
            f.report(rep, "give either fov_deg or fx, fy, cx, cy, not both");
            None
        }
        (None, 0) => {
            rep.report(
                t.field("fov_deg"),
                t.span(),
                "missing: give fov_deg, or fx, fy, cx and cy",
            );
            None
        }
        (None, _) => {
            let mut out = [0.0f32; 4];
            let mut ok = true;
            for (k, key) in explicit.iter().enumerate() {
                let Some(i) = t.require(rep, key) else {
                    ok = false;
                    continue;
                };
                let Some(v) = i.number(rep) else {
                    ok = false;
                    continue;
                };
                let side = f64::from(if k % 2 == 0 { w } else { h });
                let good = if k < 2 {
                    v.is_finite() && v > 0.0 && v < 1e5
                } else {
                    v.is_finite() && (0.0..=side).contains(&v)
                };
                if !good {
                    let want = if k < 2 {
                        "a focal length in pixels, > 0".to_string()
                    } else {
                        format!("within the image, 0..={side}")
                    };
                    i.report(rep, format!("must be {want}, got {v}"));
                    ok = false;
                }
                out[k] = v as f32;
            }
            ok.then_some(out)
        }
    }
}

fn vec3(rep: &mut Reporter, item: &Item<'_>) -> Option<[f32; 3]> {
    let f = super::validate::floats(rep, item, Some((3, "x, y, z in metres")))?;
    let v = [f.values[0], f.values[1], f.values[2]];
    if v.iter().any(|x| x.abs() > 100.0) {
        item.report(rep, "coordinates must be within ±100 m");
        return None;
    }
    Some(v)
}

fn mount(rep: &mut Reporter, t: &Table<'_>) -> Option<CameraMount> {
    let kind = or_default(t.get("mount"), "fixed", |i| i.str(rep))?;
    let extra = |rep: &mut Reporter, keys: &[&str], why: &str| {
        for k in keys {
            if let Some(i) = t.get(k) {
                i.report(rep, format!("not used by {why}"));
            }
        }
    };
    match kind {
        "fixed" => {
            extra(rep, &["offset", "look"], "a fixed mount (eye and target)");
            let eye = t.require(rep, "eye").and_then(|i| vec3(rep, &i));
            let target = t.require(rep, "target").and_then(|i| vec3(rep, &i));
            let (eye, target) = (eye?, target?);
            if eye == target {
                let at = t.get("target")?;
                at.report(
                    rep,
                    "must differ from eye (the camera looks from eye to target)",
                );
                return None;
            }
            Some(CameraMount::Fixed { eye, target })
        }
        link if CAMERA_LINKS.contains(&link) => {
            extra(
                rep,
                &["eye", "target"],
                "a camera on a link (offset and look)",
            );
            let offset = or_default(t.get("offset"), [-0.02, 0.0, 0.06], |i| vec3(rep, i));
            let look = or_default(t.get("look"), [0.04, 0.0, -1.0], |i| vec3(rep, i));
            let look = look?;
            if look.iter().map(|x| x * x).sum::<f32>() < 1e-8 {
                t.get("look")?.report(rep, "must be a direction (not zero)");
                return None;
            }
            Some(CameraMount::Link {
                link: link.to_string(),
                offset: offset?,
                look,
            })
        }
        other => {
            let at = t.get("mount")?;
            at.report(
                rep,
                format!(
                    "unknown mount {other:?} (expected \"fixed\" or a link: {})",
                    CAMERA_LINKS.join(", ")
                ),
            );
            None
        }
    }
}

fn sigma(rep: &mut Reporter, item: &Item<'_>, max: f64) -> Option<f32> {
    let v = item.number(rep)?;
    if !(v.is_finite() && (0.0..=max).contains(&v)) {
        item.report(rep, format!("must be a noise σ within 0..={max}, got {v}"));
        return None;
    }
    Some(v as f32)
}

fn source(
    rep: &mut Reporter,
    t: &Table<'_>,
    sig: Option<&Signature>,
) -> Option<CameraSourceConfig> {
    let item = t.get("source");
    let kind = match &item {
        Some(i) => i.str(rep)?,
        None => "sim",
    };
    let unused = |rep: &mut Reporter, key: &str, why: &str| {
        if let Some(i) = t.get(key) {
            i.report(rep, format!("only a {why} source takes `{key}`"));
        }
    };
    match kind {
        "sim" => {
            unused(rep, "device", "v4l2");
            unused(rep, "connect", "zenoh");
            // Without a valid plant that problem is reported already.
            let plant = sig?;
            if plant.kind != "sim:tabletop" {
                let msg = format!(
                    "a simulated camera renders the tabletop: it needs plant kind \
                     \"sim:tabletop\", not {:?} (or set source = \"zenoh\" / \"v4l2\")",
                    plant.kind
                );
                match &item {
                    Some(i) => i.report(rep, msg),
                    None => rep.report(t.field("source"), t.span(), msg),
                }
                return None;
            }
            Some(CameraSourceConfig::Sim)
        }
        "zenoh" => {
            unused(rep, "device", "v4l2");
            let connect = match t.get("connect") {
                None => Vec::new(),
                Some(c) => {
                    let mut out = Vec::new();
                    for e in c.array(rep)? {
                        let s = e.str(rep)?;
                        if let Err(m) = super::zenoh::check_endpoint(s) {
                            e.report(rep, m);
                            return None;
                        }
                        out.push(s.to_string());
                    }
                    out
                }
            };
            Some(CameraSourceConfig::Zenoh { connect })
        }
        "v4l2" => {
            unused(rep, "connect", "zenoh");
            let dev = t.require(rep, "device")?;
            let path = dev.str(rep)?;
            if !path.starts_with("/dev/video") {
                dev.report(rep, format!("must be a /dev/videoN device, got {path:?}"));
                return None;
            }
            Some(CameraSourceConfig::V4l2 {
                device: PathBuf::from(path),
            })
        }
        other => {
            if let Some(i) = &item {
                i.report(
                    rep,
                    format!("unknown source {other:?} (expected \"sim\", \"zenoh\" or \"v4l2\")"),
                );
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    fn shipped() -> (PathBuf, String) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("robots/tabletop-camera.toml");
        let text = std::fs::read_to_string(&path).expect("robots/tabletop-camera.toml");
        (path, text)
    }

    /// The problems of the shipped config with `from` replaced by `to`.
    fn problems(from: &str, to: &str) -> Vec<String> {
        let (path, text) = shipped();
        // Edit the tables, not the comment block that documents them.
        let body = text.find("\nrobot = ").expect("robot key");
        assert!(text[body..].contains(from), "{from:?}");
        let text = format!("{}{}", &text[..body], text[body..].replacen(from, to, 1));
        match crate::config::parse(&path, &text) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn line_of(needle: &str) -> usize {
        let (_, text) = shipped();
        let body = text.find("\nrobot = ").expect("robot key");
        let at = body + text[body..].find(needle).expect("in the config");
        text[..at].matches('\n').count() + 1
    }

    #[test]
    fn shipped_config_has_two_cameras() {
        let (path, text) = shipped();
        let cfg = crate::config::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
        let c = &cfg.cameras;
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].name.as_str(), c[0].every_ticks), ("overhead", 1));
        assert_eq!((c[1].name.as_str(), c[1].every_ticks), ("wrist", 5));
        assert!(matches!(c[1].mount, super::CameraMount::Link { .. }));
        assert!(
            (c[0].fy - 122.9).abs() < 0.1,
            "55° over 128 px: {}",
            c[0].fy
        );
    }

    #[test]
    fn bad_camera_tables_name_the_key_and_line() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "width = 128",
                "width = 0",
                "camera[0].width: must be in 8..=4096, got 0",
            ),
            (
                "width = 128",
                "width = \"big\"",
                "camera[0].width: expected an integer",
            ),
            (
                "rate_hz = 25\nfov",
                "rate_hz = 7\nfov",
                "camera[0].rate_hz: 7 Hz is not the loop's",
            ),
            (
                "fov_deg = 55",
                "fov_deg = 0",
                "camera[0].fov_deg: must be within (1, 179)",
            ),
            ("fov_deg = 55", "fx = 100.0", "camera[0].fy: missing"),
            (
                "mount = \"fixed\"",
                "mount = \"elbow\"",
                "camera[0].mount: unknown mount \"elbow\"",
            ),
            (
                "eye = [1.05, 0.0, 0.85]",
                "eye = [1.05, 0.0]",
                "camera[0].eye: has 2 values",
            ),
            (
                "target = [0.38, 0.0, 0.0]",
                "target = [1.05, 0.0, 0.85]",
                "camera[0].target: must differ",
            ),
            (
                "noise_rgb = 2.0",
                "noise_rgb = -1",
                "camera[1].noise_rgb: must be a noise",
            ),
            (
                "name = \"wrist\"",
                "name = \"overhead\"",
                "camera[1].name: camera name \"overhead\" is used twice",
            ),
            (
                "name = \"wrist\"",
                "name = \"a/b\"",
                "camera[1].name: must be a non-empty name",
            ),
            (
                "look = [0.04, 0.0, -1.0]",
                "look = [0.0, 0.0, 0.0]",
                "camera[1].look: must be a direction",
            ),
            (
                "every_ticks = 5",
                "every_ticks = 5\nrate_hz = 5",
                "camera[1].rate_hz: give either",
            ),
            (
                "noise_depth",
                "colour = 1\nnoise_depth",
                "camera[1].colour: unknown key",
            ),
            (
                "noise_depth",
                "source = \"usb\"\nnoise_depth",
                "camera[1].source: unknown source",
            ),
            (
                "noise_depth",
                "source = \"v4l2\"\nnoise_depth",
                "camera[1].device: missing",
            ),
            (
                "kind = \"sim:tabletop\"",
                "kind = \"sim:cartpole\"",
                "camera[0].source: a simulated camera renders the tabletop",
            ),
        ];
        for (from, to, want) in cases {
            let got = problems(from, to);
            assert!(
                got.iter().any(|p| p.contains(want)),
                "{from:?} → {to:?}: want {want:?}, got {got:#?}"
            );
            assert!(
                got.iter()
                    .filter(|p| p.contains("camera["))
                    .all(|p| p.contains(".toml:")),
                "every camera problem has a line: {got:#?}"
            );
        }
        // The line is the key's own.
        let got = problems("width = 128", "width = 0");
        let line = line_of("width = 128");
        assert!(
            got[0].contains(&format!(".toml:{line}: camera[0].width")),
            "{got:?}"
        );
    }
}
