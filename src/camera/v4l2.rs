//! A V4L2 camera (`/dev/videoN`) as an `ImageSource`, through raw ioctls
//! with `libc` (no libclang, no extra crate; cargo feature `v4l2`): YUYV at
//! the configured size, memory-mapped streaming buffers, the device opened
//! non-blocking so `capture` takes the newest filled buffer or returns at
//! once, and YUYV → RGB (BT.601) into the loop's frame buffer. No depth.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{Result, bail};

use super::{CameraError, CaptureContext, ImageFrame, ImageSource};

const BUF_TYPE_VIDEO_CAPTURE: u32 = 1;
const MEMORY_MMAP: u32 = 1;
const FIELD_NONE: u32 = 1;
const CAP_VIDEO_CAPTURE: u32 = 0x1;
const CAP_STREAMING: u32 = 0x0400_0000;
const CAP_DEVICE_CAPS: u32 = 0x8000_0000;
/// 'YUYV'.
const PIX_FMT_YUYV: u32 = u32::from_le_bytes(*b"YUYV");
const BUFFERS: u32 = 4;

#[allow(dead_code)] // the kernel's layout: every field is part of the ABI
#[repr(C)]
struct Capability {
    driver: [u8; 16],
    card: [u8; 32],
    bus_info: [u8; 32],
    version: u32,
    capabilities: u32,
    device_caps: u32,
    reserved: [u32; 3],
}

#[allow(dead_code)] // the kernel's layout: every field is part of the ABI
#[repr(C)]
#[derive(Clone, Copy)]
struct PixFormat {
    width: u32,
    height: u32,
    pixelformat: u32,
    field: u32,
    bytesperline: u32,
    sizeimage: u32,
    colorspace: u32,
    priv_: u32,
    flags: u32,
    enc: u32,
    quantization: u32,
    xfer_func: u32,
}

/// `struct v4l2_format`: the union is 200 bytes, 8-aligned (it holds
/// pointers in other members).
#[allow(dead_code)] // the kernel's layout: every field is part of the ABI
#[repr(C)]
union FormatUnion {
    pix: PixFormat,
    raw: [u8; 200],
    _align: [u64; 25],
}

#[repr(C)]
struct Format {
    type_: u32,
    fmt: FormatUnion,
}

#[allow(dead_code)] // the kernel's layout: every field is part of the ABI
#[repr(C)]
struct RequestBuffers {
    count: u32,
    type_: u32,
    memory: u32,
    capabilities: u32,
    flags: u8,
    reserved: [u8; 3],
}

#[allow(dead_code)] // the kernel's layout: every field is part of the ABI
#[repr(C)]
struct Timecode {
    type_: u32,
    flags: u32,
    frames: u8,
    seconds: u8,
    minutes: u8,
    hours: u8,
    userbits: [u8; 4],
}

#[allow(dead_code)] // the kernel's layout: every field is part of the ABI
#[repr(C)]
struct Buffer {
    index: u32,
    type_: u32,
    bytesused: u32,
    flags: u32,
    field: u32,
    timestamp: libc::timeval,
    timecode: Timecode,
    sequence: u32,
    memory: u32,
    /// Union of offset (u32), userptr, planes, fd: pointer-sized.
    m: u64,
    length: u32,
    reserved2: u32,
    request_fd: i32,
}

const fn ioc(dir: u64, nr: u64, size: usize) -> u64 {
    (dir << 30) | ((size as u64) << 16) | ((b'V' as u64) << 8) | nr
}
const R: u64 = 2;
const W: u64 = 1;
const VIDIOC_QUERYCAP: u64 = ioc(R, 0, size_of::<Capability>());
const VIDIOC_S_FMT: u64 = ioc(R | W, 5, size_of::<Format>());
const VIDIOC_REQBUFS: u64 = ioc(R | W, 8, size_of::<RequestBuffers>());
const VIDIOC_QUERYBUF: u64 = ioc(R | W, 9, size_of::<Buffer>());
const VIDIOC_QBUF: u64 = ioc(R | W, 15, size_of::<Buffer>());
const VIDIOC_DQBUF: u64 = ioc(R | W, 17, size_of::<Buffer>());
const VIDIOC_STREAMON: u64 = ioc(W, 18, size_of::<libc::c_int>());
const VIDIOC_STREAMOFF: u64 = ioc(W, 19, size_of::<libc::c_int>());

/// ioctl, retried on EINTR.
fn xioctl<T>(fd: libc::c_int, req: u64, arg: &mut T) -> std::io::Result<()> {
    loop {
        // SAFETY: `arg` is a live, properly sized #[repr(C)] value for `req`.
        let r = unsafe { libc::ioctl(fd, req as _, arg as *mut T) };
        if r != -1 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn zeroed<T>() -> T {
    // SAFETY: only used for the plain-data V4L2 structs above (all-zero is
    // a valid value of each).
    unsafe { std::mem::zeroed() }
}

struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

/// A V4L2 capture device streaming YUYV.
pub struct V4l2Source {
    fd: libc::c_int,
    width: usize,
    height: usize,
    maps: Vec<Mapped>,
    streaming: bool,
    rejected: u64,
}

// SAFETY: the mappings belong to this source alone; only the thread that
// owns it touches them.
unsafe impl Send for V4l2Source {}

impl V4l2Source {
    /// Opens `device`, asks for `width`×`height` YUYV (an error if the
    /// driver offers another size or format) and starts streaming.
    pub fn open(device: &Path, width: usize, height: usize) -> Result<V4l2Source> {
        let shown = device.display();
        let c = CString::new(device.as_os_str().as_bytes())?;
        // SAFETY: a valid NUL-terminated path.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            bail!("opening {shown}: {}", std::io::Error::last_os_error());
        }
        // From here the source owns the fd (Drop closes it).
        let mut src = V4l2Source {
            fd,
            width,
            height,
            maps: Vec::new(),
            streaming: false,
            rejected: 0,
        };
        let mut cap: Capability = zeroed();
        xioctl(fd, VIDIOC_QUERYCAP, &mut cap)
            .map_err(|e| anyhow::anyhow!("{shown}: not a V4L2 device ({e})"))?;
        let caps = if cap.capabilities & CAP_DEVICE_CAPS != 0 {
            cap.device_caps
        } else {
            cap.capabilities
        };
        if caps & CAP_VIDEO_CAPTURE == 0 || caps & CAP_STREAMING == 0 {
            bail!("{shown}: not a streaming video capture device");
        }
        let mut fmt: Format = zeroed();
        fmt.type_ = BUF_TYPE_VIDEO_CAPTURE;
        fmt.fmt.pix = PixFormat {
            width: width as u32,
            height: height as u32,
            pixelformat: PIX_FMT_YUYV,
            field: FIELD_NONE,
            ..zeroed()
        };
        xioctl(fd, VIDIOC_S_FMT, &mut fmt)
            .map_err(|e| anyhow::anyhow!("{shown}: setting YUYV {width}×{height}: {e}"))?;
        // SAFETY: the driver filled the `pix` member for a capture type.
        let pix = unsafe { fmt.fmt.pix };
        if pix.pixelformat != PIX_FMT_YUYV
            || (pix.width as usize, pix.height as usize) != (width, height)
        {
            bail!(
                "{shown}: the device offers {}×{} {:?}, the camera config asks for {width}×{height} YUYV",
                pix.width,
                pix.height,
                String::from_utf8_lossy(&pix.pixelformat.to_le_bytes())
            );
        }
        let mut req = RequestBuffers {
            count: BUFFERS,
            type_: BUF_TYPE_VIDEO_CAPTURE,
            memory: MEMORY_MMAP,
            ..zeroed()
        };
        xioctl(fd, VIDIOC_REQBUFS, &mut req)
            .map_err(|e| anyhow::anyhow!("{shown}: requesting buffers: {e}"))?;
        if req.count < 2 {
            bail!("{shown}: the driver gave {} buffers", req.count);
        }
        for index in 0..req.count {
            let mut b = Self::buffer(index);
            xioctl(fd, VIDIOC_QUERYBUF, &mut b).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
            // SAFETY: mapping the driver's buffer at the offset it gave.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    b.length as usize,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    fd,
                    (b.m & 0xffff_ffff) as libc::off_t,
                )
            };
            if ptr == libc::MAP_FAILED {
                bail!("{shown}: mmap: {}", std::io::Error::last_os_error());
            }
            src.maps.push(Mapped {
                ptr,
                len: b.length as usize,
            });
            xioctl(fd, VIDIOC_QBUF, &mut b).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
        }
        let mut ty = BUF_TYPE_VIDEO_CAPTURE as libc::c_int;
        xioctl(fd, VIDIOC_STREAMON, &mut ty)
            .map_err(|e| anyhow::anyhow!("{shown}: stream on: {e}"))?;
        src.streaming = true;
        Ok(src)
    }

    fn buffer(index: u32) -> Buffer {
        Buffer {
            index,
            type_: BUF_TYPE_VIDEO_CAPTURE,
            memory: MEMORY_MMAP,
            ..zeroed()
        }
    }
}

/// YUYV (4 bytes per 2 pixels) → RGB8, BT.601 limited range, integer math.
pub fn yuyv_to_rgb(yuyv: &[u8], rgb: &mut [u8]) {
    for (src, dst) in yuyv.chunks_exact(4).zip(rgb.chunks_exact_mut(6)) {
        let (u, v) = (src[1] as i32 - 128, src[3] as i32 - 128);
        for (k, y) in [src[0], src[2]].into_iter().enumerate() {
            let c = 298 * (y as i32 - 16);
            let px = [
                (c + 409 * v + 128) >> 8,
                (c - 100 * u - 208 * v + 128) >> 8,
                (c + 516 * u + 128) >> 8,
            ];
            for (o, p) in dst[3 * k..3 * k + 3].iter_mut().zip(px) {
                *o = p.clamp(0, 255) as u8;
            }
        }
    }
}

impl ImageSource for V4l2Source {
    fn width(&self) -> usize {
        self.width
    }

    fn height(&self) -> usize {
        self.height
    }

    fn has_depth(&self) -> bool {
        false
    }

    fn capture(
        &mut self,
        ctx: &CaptureContext<'_>,
        out: &mut ImageFrame,
    ) -> Result<bool, CameraError> {
        // The newest filled buffer; older ones go straight back.
        let mut newest: Option<Buffer> = None;
        loop {
            let mut b = Self::buffer(0);
            match xioctl(self.fd, VIDIOC_DQBUF, &mut b) {
                Ok(()) => {
                    if let Some(mut old) = newest.replace(b) {
                        let _ = xioctl(self.fd, VIDIOC_QBUF, &mut old);
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => break,
                Err(e) => return Err(CameraError::Device(e.to_string())),
            }
        }
        let Some(mut b) = newest else {
            return Ok(false);
        };
        let want = 2 * self.width * self.height;
        let result = match self.maps.get(b.index as usize) {
            Some(m)
                if (b.bytesused as usize) >= want
                    && m.len >= want
                    && out.rgb.len() == 3 * self.width * self.height =>
            {
                // SAFETY: the mapping is `m.len` bytes and the driver has
                // finished with this buffer until it is queued again.
                let px = unsafe { std::slice::from_raw_parts(m.ptr as *const u8, want) };
                yuyv_to_rgb(px, &mut out.rgb);
                out.depth.fill(0.0);
                out.has_depth = false;
                out.seq = u64::from(b.sequence);
                out.time = ctx.time;
                Ok(true)
            }
            _ => {
                self.rejected += 1;
                Ok(false)
            }
        };
        let _ = xioctl(self.fd, VIDIOC_QBUF, &mut b);
        result
    }

    fn rejected(&self) -> u64 {
        self.rejected
    }
}

impl Drop for V4l2Source {
    fn drop(&mut self) {
        if self.streaming {
            let mut ty = BUF_TYPE_VIDEO_CAPTURE as libc::c_int;
            let _ = xioctl(self.fd, VIDIOC_STREAMOFF, &mut ty);
        }
        for m in &self.maps {
            // SAFETY: unmapping exactly what `open` mapped.
            unsafe { libc::munmap(m.ptr, m.len) };
        }
        // SAFETY: closing the fd this source opened.
        unsafe { libc::close(self.fd) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_sizes_match_the_kernel_abi() {
        assert_eq!(size_of::<Capability>(), 104);
        assert_eq!(size_of::<Format>(), 208);
        assert_eq!(size_of::<RequestBuffers>(), 20);
        assert_eq!(size_of::<Buffer>(), 88);
        assert_eq!(VIDIOC_QUERYCAP, 0x8068_5600);
        assert_eq!(VIDIOC_S_FMT, 0xc0d0_5605);
        assert_eq!(VIDIOC_DQBUF, 0xc058_5611);
    }

    #[test]
    fn yuyv_grey_and_colour() {
        let mut rgb = [0u8; 6];
        yuyv_to_rgb(&[235, 128, 16, 128], &mut rgb);
        assert_eq!(rgb, [255, 255, 255, 0, 0, 0]);
        yuyv_to_rgb(&[81, 90, 81, 240], &mut rgb);
        assert!(rgb[0] > 230 && rgb[1] < 20 && rgb[2] < 20, "{rgb:?}");
    }

    /// A real device where there is one: open, stream, take a frame.
    #[test]
    fn captures_from_a_device_if_present() {
        let dev = Path::new("/dev/video0");
        if !dev.exists() {
            eprintln!("SKIPPED v4l2 capture: no /dev/video0 on this machine");
            return;
        }
        let mut src = match V4l2Source::open(dev, 640, 480) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("SKIPPED v4l2 capture: {e:#}");
                return;
            }
        };
        let mut frame = ImageFrame::new(640, 480, false);
        let ctx = CaptureContext {
            tick: 0,
            time: 0.0,
            world: None,
        };
        let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while std::time::Instant::now() < until {
            if src.capture(&ctx, &mut frame).expect("capture") {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("no frame from /dev/video0 within 3 s");
    }
}
