//! Camera frames outside the simulator: a rendered or captured RGB-D frame
//! written as one PNG, the colour image on the left and the depth on the
//! right (grey, near is bright; no return is black), for looking at what a
//! camera sees (`ganglion render`).

use std::path::Path;

use anyhow::{Context, Result};
use ganglion_sim::render::Frame;

/// Writes `f` as a PNG twice its width: RGB, then depth scaled between the
/// nearest and farthest return.
pub fn write_rgbd_png(f: &Frame, path: &Path) -> Result<()> {
    let (w, h) = (f.width, f.height);
    let hits = f.depth.iter().copied().filter(|d| *d > 0.0);
    let near = hits.clone().fold(f32::INFINITY, f32::min);
    let far = hits.fold(0.0f32, f32::max);
    let span = (far - near).max(1e-6);
    let mut pixels = vec![0u8; 2 * w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let row = y * 2 * w;
            pixels[3 * (row + x)..3 * (row + x) + 3].copy_from_slice(&f.rgb[3 * i..3 * i + 3]);
            let d = f.depth[i];
            let g = if d > 0.0 {
                (255.0 * (1.0 - 0.8 * (d - near) / span)).round() as u8
            } else {
                0
            };
            pixels[3 * (row + w + x)..3 * (row + w + x) + 3].fill(g);
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), (2 * w) as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc
        .write_header()
        .with_context(|| format!("writing {}", path.display()))?;
    writer
        .write_image_data(&pixels)
        .with_context(|| format!("writing {}", path.display()))?;
    writer
        .finish()
        .with_context(|| format!("writing {}", path.display()))
}
