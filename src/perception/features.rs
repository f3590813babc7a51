//! The network's input: seven planes per pixel from an RGB-D frame and the
//! camera's calibration — colour (centred), chromaticity (r and g over
//! r + g + b, which light intensity does not change), height above the
//! table (the depth back-projected into the world, in decimetres) and
//! whether the depth returned at all — plus the back-projected points
//! themselves, which the decoder turns into votes.

use ganglion_sim::render::{Camera, Frame};

/// Input planes: r, g, b, chroma r, chroma g, height, valid.
pub const IN_CHANNELS: usize = 7;
/// Metres per unit of the height plane and of predicted offsets.
pub const UNIT_M: f32 = 0.1;

/// Writes the input planes (`IN_CHANNELS × h × w`) into `planes` and each
/// pixel's world point into `points` (`[0; 3]` where there is no depth).
pub fn input_planes(frame: &Frame, cam: &Camera, planes: &mut [f32], points: &mut [[f32; 3]]) {
    let size = (frame.width, frame.height);
    input_planes_from(size, &frame.rgb, &frame.depth, cam, planes, points);
}

/// `input_planes` from a frame's pixels (`rgb`: 3 bytes a pixel, `depth` in
/// metres, 0 for no return) and its size.
pub fn input_planes_from(
    (w, h): (usize, usize),
    rgb_bytes: &[u8],
    depth: &[f32],
    cam: &Camera,
    planes: &mut [f32],
    points: &mut [[f32; 3]],
) {
    let n = w * h;
    let (r, d, f) = cam.basis();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let rgb: [f32; 3] = std::array::from_fn(|c| rgb_bytes[3 * i + c] as f32 / 255.0);
            for (c, v) in rgb.iter().enumerate() {
                planes[c * n + i] = v - 0.5;
            }
            let sum = rgb[0] + rgb[1] + rgb[2] + 0.03;
            planes[3 * n + i] = 3.0 * (rgb[0] / sum - 1.0 / 3.0);
            planes[4 * n + i] = 3.0 * (rgb[1] / sum - 1.0 / 3.0);
            let z = depth[i];
            if z > 0.0 {
                let a = (x as f32 + 0.5 - cam.cx) / cam.fx * z;
                let b = (y as f32 + 0.5 - cam.cy) / cam.fy * z;
                let p: [f32; 3] =
                    std::array::from_fn(|k| cam.eye[k] + a * r[k] + b * d[k] + z * f[k]);
                points[i] = p;
                planes[5 * n + i] = p[2] / UNIT_M;
                planes[6 * n + i] = 1.0;
            } else {
                points[i] = [0.0; 3];
                planes[5 * n + i] = 0.0;
                planes[6 * n + i] = 0.0;
            }
        }
    }
}
