//! Foxglove's image messages as protobuf, written by hand with prost's
//! derive (no build script, no protoc): `foxglove.RawImage` and
//! `foxglove.CameraCalibration`, and their schemas as the
//! `FileDescriptorSet` bytes an MCAP `protobuf` schema carries, built from
//! hand-written descriptor messages (the few fields of descriptor.proto that
//! a schema needs), so Foxglove decodes the recorded frames.

use prost::Message;

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// From seconds (negative or non-finite times become 0).
    pub fn from_secs(t: f64) -> Timestamp {
        let t = if t.is_finite() && t > 0.0 { t } else { 0.0 };
        let ns = (t * 1e9).round() as u64;
        Timestamp {
            seconds: (ns / 1_000_000_000) as i64,
            nanos: (ns % 1_000_000_000) as i32,
        }
    }
}

/// `foxglove.RawImage` (foxglove/schemas, RawImage.proto).
#[derive(Clone, PartialEq, Message)]
pub struct RawImage {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(string, tag = "7")]
    pub frame_id: String,
    #[prost(fixed32, tag = "2")]
    pub width: u32,
    #[prost(fixed32, tag = "3")]
    pub height: u32,
    /// `rgb8`, or `32FC1` for depth in metres.
    #[prost(string, tag = "4")]
    pub encoding: String,
    /// Bytes per row.
    #[prost(fixed32, tag = "5")]
    pub step: u32,
    #[prost(bytes = "vec", tag = "6")]
    pub data: Vec<u8>,
}

/// `foxglove.CameraCalibration` (foxglove/schemas, CameraCalibration.proto).
#[derive(Clone, PartialEq, Message)]
pub struct CameraCalibration {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(string, tag = "9")]
    pub frame_id: String,
    #[prost(fixed32, tag = "2")]
    pub width: u32,
    #[prost(fixed32, tag = "3")]
    pub height: u32,
    #[prost(string, tag = "4")]
    pub distortion_model: String,
    #[prost(double, repeated, tag = "5")]
    pub d: Vec<f64>,
    #[prost(double, repeated, tag = "6")]
    pub k: Vec<f64>,
    #[prost(double, repeated, tag = "7")]
    pub r: Vec<f64>,
    #[prost(double, repeated, tag = "8")]
    pub p: Vec<f64>,
}

impl CameraCalibration {
    /// A pinhole camera without distortion.
    pub fn pinhole(name: &str, w: usize, h: usize, f: [f32; 4], t: f64) -> CameraCalibration {
        let [fx, fy, cx, cy] = f.map(f64::from);
        CameraCalibration {
            timestamp: Some(Timestamp::from_secs(t)),
            frame_id: name.to_string(),
            width: w as u32,
            height: h as u32,
            distortion_model: "plumb_bob".into(),
            d: vec![0.0; 5],
            k: vec![fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
            r: vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            p: vec![fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0],
        }
    }
}

/// Schema names, as Foxglove knows them.
pub const RAW_IMAGE: &str = "foxglove.RawImage";
pub const CAMERA_CALIBRATION: &str = "foxglove.CameraCalibration";

// ─── descriptor.proto, the part a schema needs ───────────────────────────────

#[derive(Clone, PartialEq, Message)]
pub struct FileDescriptorSet {
    #[prost(message, repeated, tag = "1")]
    pub file: Vec<FileDescriptorProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct FileDescriptorProto {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub package: Option<String>,
    #[prost(string, repeated, tag = "3")]
    pub dependency: Vec<String>,
    #[prost(message, repeated, tag = "4")]
    pub message_type: Vec<DescriptorProto>,
    #[prost(string, optional, tag = "12")]
    pub syntax: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct DescriptorProto {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(message, repeated, tag = "2")]
    pub field: Vec<FieldDescriptorProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct FieldDescriptorProto {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(int32, optional, tag = "3")]
    pub number: Option<i32>,
    /// 1 optional, 3 repeated.
    #[prost(int32, optional, tag = "4")]
    pub label: Option<i32>,
    /// FieldDescriptorProto.Type: 1 double, 3 int64, 5 int32, 7 fixed32,
    /// 9 string, 11 message, 12 bytes.
    #[prost(int32, optional, tag = "5")]
    pub r#type: Option<i32>,
    #[prost(string, optional, tag = "6")]
    pub type_name: Option<String>,
    #[prost(string, optional, tag = "10")]
    pub json_name: Option<String>,
}

const DOUBLE: i32 = 1;
const INT64: i32 = 3;
const INT32: i32 = 5;
const FIXED32: i32 = 7;
const STRING: i32 = 9;
const MESSAGE: i32 = 11;
const BYTES: i32 = 12;
const OPTIONAL: i32 = 1;
const REPEATED: i32 = 3;
const TIMESTAMP_TYPE: &str = ".google.protobuf.Timestamp";

fn field(name: &str, number: i32, ty: i32, repeated: bool) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        label: Some(if repeated { REPEATED } else { OPTIONAL }),
        r#type: Some(ty),
        type_name: (ty == MESSAGE).then(|| TIMESTAMP_TYPE.to_string()),
        json_name: Some(name.into()),
    }
}

fn timestamp_file() -> FileDescriptorProto {
    FileDescriptorProto {
        name: Some("google/protobuf/timestamp.proto".into()),
        package: Some("google.protobuf".into()),
        dependency: Vec::new(),
        message_type: vec![DescriptorProto {
            name: Some("Timestamp".into()),
            field: vec![
                field("seconds", 1, INT64, false),
                field("nanos", 2, INT32, false),
            ],
        }],
        syntax: Some("proto3".into()),
    }
}

fn foxglove_file(message: &str, fields: Vec<FieldDescriptorProto>) -> FileDescriptorProto {
    FileDescriptorProto {
        name: Some(format!("foxglove/{message}.proto")),
        package: Some("foxglove".into()),
        dependency: vec!["google/protobuf/timestamp.proto".into()],
        message_type: vec![DescriptorProto {
            name: Some(message.into()),
            field: fields,
        }],
        syntax: Some("proto3".into()),
    }
}

/// The `FileDescriptorSet` of `foxglove.RawImage` (MCAP schema data).
pub fn raw_image_schema() -> Vec<u8> {
    let fields = vec![
        field("timestamp", 1, MESSAGE, false),
        field("frame_id", 7, STRING, false),
        field("width", 2, FIXED32, false),
        field("height", 3, FIXED32, false),
        field("encoding", 4, STRING, false),
        field("step", 5, FIXED32, false),
        field("data", 6, BYTES, false),
    ];
    FileDescriptorSet {
        file: vec![timestamp_file(), foxglove_file("RawImage", fields)],
    }
    .encode_to_vec()
}

/// The `FileDescriptorSet` of `foxglove.CameraCalibration`.
pub fn camera_calibration_schema() -> Vec<u8> {
    let mut fields = vec![
        field("timestamp", 1, MESSAGE, false),
        field("frame_id", 9, STRING, false),
        field("width", 2, FIXED32, false),
        field("height", 3, FIXED32, false),
        field("distortion_model", 4, STRING, false),
    ];
    for (name, n) in [("D", 5), ("K", 6), ("R", 7), ("P", 8)] {
        fields.push(field(name, n, DOUBLE, true));
    }
    FileDescriptorSet {
        file: vec![timestamp_file(), foxglove_file("CameraCalibration", fields)],
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_decode_as_descriptor_sets() {
        let set = FileDescriptorSet::decode(raw_image_schema().as_slice()).expect("decodes");
        assert_eq!(set.file.len(), 2);
        let msg = &set.file[1].message_type[0];
        assert_eq!(msg.name.as_deref(), Some("RawImage"));
        assert_eq!(msg.field.len(), 7);
        let set = FileDescriptorSet::decode(camera_calibration_schema().as_slice()).unwrap();
        assert_eq!(set.file[1].package.as_deref(), Some("foxglove"));
        assert_eq!(set.file[1].message_type[0].field.len(), 9);
    }

    #[test]
    fn raw_image_round_trips() {
        let img = RawImage {
            timestamp: Some(Timestamp::from_secs(1.25)),
            frame_id: "overhead".into(),
            width: 2,
            height: 1,
            encoding: "rgb8".into(),
            step: 6,
            data: vec![1, 2, 3, 4, 5, 6],
        };
        let back = RawImage::decode(img.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back, img);
        assert_eq!(back.timestamp.unwrap().nanos, 250_000_000);
    }
}
