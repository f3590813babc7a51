//! Reading recordings back: a sequential scan of the MCAP data section (so it
//! works on files cut short by a crash, up to the first bad record), merging
//! the channels into one `RecordedTick` per tick, and byte-for-byte comparison
//! of the deterministic channels of two recordings.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use mcap::records::Record;
use mcap::sans_io::linear_reader::{LinearReadEvent, LinearReader, LinearReaderOptions};

use super::schema::{self, DETERMINISTIC_TOPICS, Decoded, RUN_METADATA, SUMMARY_METADATA};
use super::tick::{SafetyEvents, SafetyState};

/// One tick, merged from all channels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordedTick {
    pub tick: u64,
    pub time: f64,
    pub sensors: Vec<f32>,
    pub obs: Vec<f32>,
    pub raw_action: Vec<f32>,
    pub command: Vec<f32>,
    pub policy_ran: bool,
    /// From `/safety`, else the previous tick's state.
    pub state: SafetyState,
    /// From `/safety` (all messages of the tick), else empty.
    pub events: SafetyEvents,
    /// From `/timing` (wall clock: not deterministic); NaN if absent.
    pub wall_time: f64,
    /// From `/timing`: records the ring dropped before this one.
    pub dropped_before: u64,
    /// From `/task`: reward and episode status (simulated plants).
    pub task: Option<crate::record::TaskFields>,
}

/// A recording read back.
#[derive(Clone, Debug, Default)]
pub struct Recording {
    pub path: PathBuf,
    /// The `ganglion.run` metadata (the header's metadata plus the names as JSON).
    pub metadata: BTreeMap<String, String>,
    pub sensor_names: Vec<String>,
    pub actuator_names: Vec<String>,
    pub ticks: Vec<RecordedTick>,
    /// The file ended (or went bad) before its footer; `ticks` holds the
    /// complete ticks decoded before that point.
    pub truncated: bool,
    /// Why reading stopped early, when `truncated`.
    pub stop_reason: Option<String>,
    /// Topics of the channels present, in file order.
    pub channels: Vec<String>,
    /// Raw message bytes per deterministic channel, as `(tick, payload)`.
    pub payloads: BTreeMap<String, Vec<(u64, Vec<u8>)>>,
    /// Records the ring dropped: the finished file's count, else the largest
    /// `dropped_before` seen.
    pub dropped: u64,
    /// Camera frames (`/camera/{name}/image` and `/depth`): per topic, each
    /// message's log time (ns) and the sha256 of its bytes.
    pub frames: BTreeMap<String, Vec<(u64, [u8; 32])>>,
    /// With `read_recording_with_images`: the camera messages themselves
    /// (protobuf `foxglove.RawImage`), per topic, with their log time (ns).
    pub images: BTreeMap<String, Vec<(u64, Vec<u8>)>>,
}

/// The first difference between two recordings' deterministic channels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub tick: u64,
    pub topic: String,
    pub detail: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tick {} on {}: {}", self.tick, self.topic, self.detail)
    }
}

/// Merges decoded messages into ticks, in order of first appearance.
#[derive(Default)]
struct Merger {
    ticks: Vec<RecordedTick>,
    /// Per tick: its safety state was set by a message; its /timing was seen.
    state_set: Vec<bool>,
    complete: Vec<bool>,
    index: HashMap<u64, usize>,
}

impl Merger {
    fn slot(&mut self, tick: u64, time: f64) -> usize {
        if let Some(&i) = self.index.get(&tick) {
            return i;
        }
        self.ticks.push(RecordedTick {
            tick,
            time,
            wall_time: f64::NAN,
            ..Default::default()
        });
        self.state_set.push(false);
        self.complete.push(false);
        self.index.insert(tick, self.ticks.len() - 1);
        self.ticks.len() - 1
    }

    fn add(&mut self, d: Decoded) {
        match d {
            Decoded::Sensors { tick, time, values } => {
                let i = self.slot(tick, time);
                self.ticks[i].sensors = values;
            }
            Decoded::Observation { tick, time, obs } => {
                let i = self.slot(tick, time);
                self.ticks[i].obs = obs;
            }
            Decoded::Action {
                tick,
                time,
                policy_ran,
                raw,
                command,
            } => {
                let i = self.slot(tick, time);
                let t = &mut self.ticks[i];
                t.policy_ran = policy_ran;
                t.raw_action = raw;
                t.command = command;
            }
            Decoded::Safety {
                tick,
                time,
                state,
                events,
            } => {
                let i = self.slot(tick, time);
                self.ticks[i].state = state;
                self.ticks[i].events.0 |= events.0;
                self.state_set[i] = true;
            }
            Decoded::Task { tick, time, task } => {
                let i = self.slot(tick, time);
                self.ticks[i].task = Some(task);
            }
            Decoded::Timing {
                tick,
                wall_time,
                dropped_before,
                ..
            } => {
                let i = self.slot(tick, f64::NAN);
                self.ticks[i].wall_time = wall_time;
                self.ticks[i].dropped_before = dropped_before;
                self.complete[i] = true;
            }
        }
    }
}

/// What a scan of the file found.
#[derive(Default)]
struct Scan {
    saw_header: bool,
    saw_footer: bool,
    error: Option<String>,
    /// Whether the reader had asked for bytes past the end of the file when
    /// the error came: the file was cut short (a crash, a kill), which is
    /// readable up to the cut; any other error is damage.
    at_end: bool,
    /// Bytes handed to the reader when the error came (the bad record lies
    /// at or before this offset).
    offset: usize,
    rec: Recording,
    merger: Merger,
    /// Keep camera messages whole (`Recording::images`).
    keep_images: bool,
}

/// Reads a recording, finished or cut short. A file that is not MCAP, ends
/// before its header, or is damaged (a CRC mismatch, a malformed record
/// anywhere before its end) is an error naming it and the offset of the
/// damage: a damaged recording is never read as a shorter one.
pub fn read_recording(path: &Path) -> Result<Recording> {
    let bytes = crate::input::read_file(path, crate::input::FileKind::Recording)?;
    parse_recording(path, &bytes)
}

/// As `read_recording`, keeping the camera messages themselves in
/// `Recording::images` (a dataset needs the pixels, a replay their hashes).
pub fn read_recording_with_images(path: &Path) -> Result<Recording> {
    let bytes = crate::input::read_file(path, crate::input::FileKind::Recording)?;
    parse(path, &bytes, true)
}

/// As `read_recording`, from the bytes of a file (`path` names it in
/// errors and in the result).
pub fn parse_recording(path: &Path, bytes: &[u8]) -> Result<Recording> {
    parse(path, bytes, false)
}

fn parse(path: &Path, bytes: &[u8], keep_images: bool) -> Result<Recording> {
    if !bytes.starts_with(mcap::MAGIC) {
        bail!("{} is not an MCAP file (bad magic bytes)", path.display());
    }
    // The mcap crate's reader is not hardened against every malformed input
    // (it can hit an arithmetic overflow check); a panic there counts as a
    // bad record, like any other error.
    let mut scan = Scan {
        keep_images,
        ..Scan::default()
    };
    let panicked = crate::policy::catch_engine_panic(|| scan_records(bytes, &mut scan)).is_err();
    if panicked && scan.error.is_none() {
        scan.error = Some("malformed record (reader panicked)".into());
    }
    if !scan.saw_header {
        let why = scan.error.unwrap_or_else(|| "no header record".into());
        bail!(
            "{} is not a readable MCAP file (damaged at or before byte {} of {}): {why}",
            path.display(),
            scan.offset,
            bytes.len()
        );
    }
    if let Some(why) = &scan.error
        && !scan.at_end
    {
        bail!(
            "{} is damaged at or before byte {} of {}: {why}",
            path.display(),
            scan.offset,
            bytes.len()
        );
    }
    let mut rec = scan.rec;
    rec.path = path.to_path_buf();
    rec.truncated = scan.error.is_some() || !scan.saw_footer;
    if rec.truncated {
        rec.stop_reason = Some(
            scan.error
                .unwrap_or_else(|| "file ends before its footer".into()),
        );
    }
    finish_ticks(&mut rec, scan.merger);
    Ok(rec)
}

/// The longest unreadable tail a recording cut short by a crash can have:
/// its recorder writes whole chunks of about 64 KiB.
const MAX_CUT_TAIL: usize = 4 * 64 * 1024;

fn scan_records(bytes: &[u8], scan: &mut Scan) {
    let opts = LinearReaderOptions::default()
        .with_prevalidate_chunk_crcs(true)
        .with_validate_data_section_crc(true)
        .with_validate_summary_section_crc(true)
        .with_record_length_limit(bytes.len());
    let mut reader = LinearReader::new_with_options(opts);
    let mut rest = bytes;
    let mut channels: HashMap<u16, (String, String)> = HashMap::new();
    let fail = |scan: &mut Scan, rest: &[u8], at_end: bool, why: String| {
        scan.error = Some(why);
        scan.at_end = at_end;
        scan.offset = bytes.len() - rest.len();
    };
    let mut at_end = false;
    // Bytes handed to the reader when the last whole record came out. A
    // recorder that was killed leaves at most a part of one chunk after it;
    // a much longer unreadable tail is a record whose length was damaged.
    let mut last_record_at = 0;
    while let Some(event) = reader.next_event() {
        let (opcode, data) = match event {
            Ok(LinearReadEvent::ReadRequest(need)) => {
                let n = need.min(rest.len());
                if n == 0 {
                    at_end = true;
                }
                reader.insert(n).copy_from_slice(&rest[..n]);
                reader.notify_read(n);
                rest = &rest[n..];
                continue;
            }
            Ok(LinearReadEvent::Record { opcode, data }) => {
                last_record_at = bytes.len() - rest.len();
                (opcode, data)
            }
            Err(e) => {
                // A record whose declared length runs past the end of the
                // file is what a cut leaves too (the reader refuses it before
                // asking for the missing bytes).
                let runs_past_end = matches!(
                    e,
                    mcap::McapError::RecordTooLarge { .. } | mcap::McapError::ChunkTooLarge(_)
                );
                let cut_short =
                    (at_end || runs_past_end) && bytes.len() - last_record_at <= MAX_CUT_TAIL;
                fail(scan, rest, cut_short, e.to_string());
                return;
            }
        };
        let record = match mcap::parse_record(opcode, data) {
            Ok(r) => r,
            Err(e) => {
                fail(scan, rest, false, e.to_string());
                return;
            }
        };
        if let Err(e) = handle(record, scan, &mut channels) {
            fail(scan, rest, false, format!("{e:#}"));
            return;
        }
    }
    let tail = bytes.len() - last_record_at;
    if !scan.saw_footer && tail > MAX_CUT_TAIL {
        let why = format!("{tail} bytes after the last readable record cannot be read");
        fail(scan, rest, false, why);
    }
}

fn handle(
    record: Record<'_>,
    scan: &mut Scan,
    channels: &mut HashMap<u16, (String, String)>,
) -> Result<()> {
    match record {
        Record::Header(_) => scan.saw_header = true,
        Record::Channel(c) => {
            if !scan.rec.channels.contains(&c.topic) {
                scan.rec.channels.push(c.topic.clone());
            }
            channels.insert(c.id, (c.topic, c.message_encoding));
        }
        Record::Metadata(m) if m.name == RUN_METADATA => {
            let names = |key: &str| -> Result<Vec<String>> {
                match m.metadata.get(key) {
                    Some(s) => serde_json::from_str(s).with_context(|| format!("metadata `{key}`")),
                    None => Ok(Vec::new()),
                }
            };
            scan.rec.sensor_names = names("sensor_names")?;
            scan.rec.actuator_names = names("actuator_names")?;
            scan.rec.metadata = m.metadata;
        }
        Record::Metadata(m) if m.name == SUMMARY_METADATA => {
            if let Some(d) = m
                .metadata
                .get("dropped")
                .and_then(|s| s.parse::<u64>().ok())
            {
                scan.rec.dropped = scan.rec.dropped.max(d);
            }
        }
        Record::Message { header, data } => {
            let (topic, encoding) = channels
                .get(&header.channel_id)
                .ok_or_else(|| anyhow!("message on unknown channel {}", header.channel_id))?;
            if encoding != schema::MESSAGE_ENCODING {
                if super::camera::is_frame_topic(topic) {
                    use sha2::Digest;
                    let mut digest = [0u8; 32];
                    digest.copy_from_slice(&sha2::Sha256::digest(&data));
                    let list = scan.rec.frames.entry(topic.clone()).or_default();
                    list.push((header.log_time, digest));
                    if scan.keep_images {
                        let list = scan.rec.images.entry(topic.clone()).or_default();
                        list.push((header.log_time, data.into_owned()));
                    }
                }
                return Ok(());
            }
            if let Some(decoded) = schema::decode(topic, &data)? {
                if DETERMINISTIC_TOPICS.contains(&topic.as_str()) {
                    let list = scan.rec.payloads.entry(topic.clone()).or_default();
                    list.push((decoded.tick(), data.into_owned()));
                }
                scan.merger.add(decoded);
            }
        }
        Record::DataEnd(_) | Record::Footer(_) => scan.saw_footer = true,
        _ => {}
    }
    Ok(())
}

/// Drops trailing incomplete ticks of a truncated file, fills safety states
/// forward, and moves the ticks into the recording.
fn finish_ticks(rec: &mut Recording, m: Merger) {
    let mut keep = m.ticks.len();
    if rec.truncated {
        while keep > 0 && !m.complete[keep - 1] {
            keep -= 1;
        }
    }
    let removed: BTreeSet<u64> = m.ticks[keep..].iter().map(|t| t.tick).collect();
    if !removed.is_empty() {
        for list in rec.payloads.values_mut() {
            list.retain(|(t, _)| !removed.contains(t));
        }
    }
    let mut ticks = m.ticks;
    ticks.truncate(keep);
    let mut state = SafetyState::Normal;
    for (t, set) in ticks.iter_mut().zip(m.state_set) {
        if set {
            state = t.state;
        } else {
            t.state = state;
        }
        rec.dropped = rec.dropped.max(t.dropped_before);
    }
    rec.ticks = ticks;
}

/// A short view of two payloads around their first differing byte.
fn describe(a: &[u8], b: &[u8]) -> String {
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let from = at.saturating_sub(24);
    let show = |s: &[u8]| {
        String::from_utf8_lossy(&s[from.min(s.len())..(at + 24).min(s.len())]).into_owned()
    };
    format!(
        "payloads differ at byte {at}: a …{}… vs b …{}…",
        show(a),
        show(b)
    )
}

/// First difference of one channel's message lists, as (tick, detail).
fn first_difference(a: &[(u64, Vec<u8>)], b: &[(u64, Vec<u8>)]) -> Option<(u64, String)> {
    for i in 0..a.len().max(b.len()) {
        match (a.get(i), b.get(i)) {
            (Some((ta, pa)), Some((tb, pb))) => {
                if ta != tb {
                    return Some(((*ta).min(*tb), format!("a has tick {ta}, b has tick {tb}")));
                }
                if pa != pb {
                    return Some((*ta, describe(pa, pb)));
                }
            }
            (Some((t, _)), None) => return Some((*t, "message only in a".into())),
            (None, Some((t, _))) => return Some((*t, "message only in b".into())),
            (None, None) => break,
        }
    }
    None
}

/// The first (lowest tick, then channel order) difference between the
/// deterministic channels of two recordings, or a difference in their ticks;
/// `None` if they match byte for byte.
pub fn compare_payloads(a: &Recording, b: &Recording) -> Option<Mismatch> {
    let empty = Vec::new();
    let mut best: Option<Mismatch> = None;
    for topic in DETERMINISTIC_TOPICS {
        let pa = a.payloads.get(topic).unwrap_or(&empty);
        let pb = b.payloads.get(topic).unwrap_or(&empty);
        if let Some((tick, detail)) = first_difference(pa, pb)
            && best.as_ref().is_none_or(|m| tick < m.tick)
        {
            best = Some(Mismatch {
                tick,
                topic: topic.to_string(),
                detail,
            });
        }
    }
    if best.is_some() {
        return best;
    }
    let (ta, tb) = (&a.ticks, &b.ticks);
    for i in 0..ta.len().max(tb.len()) {
        let (x, y) = (ta.get(i).map(|t| t.tick), tb.get(i).map(|t| t.tick));
        if x != y {
            let tick = match (x, y) {
                (Some(p), Some(q)) => p.min(q),
                (Some(p), None) | (None, Some(p)) => p,
                (None, None) => 0,
            };
            let detail = format!(
                "{} ticks in a, {} in b (a: {x:?}, b: {y:?})",
                ta.len(),
                tb.len()
            );
            return Some(Mismatch {
                tick,
                topic: "ticks".into(),
                detail,
            });
        }
    }
    None
}
