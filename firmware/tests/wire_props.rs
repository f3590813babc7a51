//! Property tests of the wire protocol: every message type round-trips
//! through encode → stream decoder; arbitrary bytes never panic the decoder;
//! corrupted frames are rejected; a stream resynchronises after garbage.

use ganglion_firmware::wire::MAX_ENCODED;
use ganglion_firmware::*;
use proptest::prelude::*;

fn f32s() -> impl Strategy<Value = [f32; MAX_JOINTS]> {
    prop::array::uniform8(-1.0e6f32..1.0e6)
}

fn joint_mode() -> impl Strategy<Value = JointMode> {
    prop_oneof![
        Just(JointMode::Effort),
        Just(JointMode::Velocity),
        Just(JointMode::Position)
    ]
}

fn joint_config() -> impl Strategy<Value = JointConfig> {
    prop::array::uniform7(-1.0e3f32..1.0e3).prop_map(|v| JointConfig {
        kp: v[0],
        kd: v[1],
        damping: v[2],
        max_effort: v[3],
        position_min: v[4],
        position_max: v[5],
        max_velocity: v[6],
    })
}

/// Unused joint slots are zero, as decoding leaves them.
fn zero_tail<T: Copy + Default>(a: &mut [T; MAX_JOINTS], n: u8) {
    a[n as usize..].iter_mut().for_each(|v| *v = T::default());
}

fn message() -> impl Strategy<Value = Message> {
    let n = 0u8..=MAX_JOINTS as u8;
    prop_oneof![
        (
            n.clone(),
            prop::array::uniform8(joint_mode()),
            f32s(),
            f32s(),
            f32s()
        )
            .prop_map(|(n, mut mode, mut position, mut velocity, mut effort)| {
                zero_tail(&mut mode, n);
                zero_tail(&mut position, n);
                zero_tail(&mut velocity, n);
                zero_tail(&mut effort, n);
                Message::JointCommand(JointCommand {
                    n,
                    mode,
                    position,
                    velocity,
                    effort,
                })
            }),
        (
            n.clone(),
            any::<u64>(),
            any::<u16>(),
            any::<u16>(),
            f32s(),
            f32s(),
            f32s()
        )
            .prop_map(
                |(n, node_time_us, ack_seq, status, mut position, mut velocity, mut effort)| {
                    zero_tail(&mut position, n);
                    zero_tail(&mut velocity, n);
                    zero_tail(&mut effort, n);
                    Message::JointState(JointState {
                        node_time_us,
                        ack_seq,
                        status,
                        n,
                        position,
                        velocity,
                        effort,
                    })
                }
            ),
        (
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(|(time_us, uptime_ms, boot_id, status, rx_ok, rx_err)| {
                Message::Heartbeat(Heartbeat {
                    time_us,
                    uptime_ms,
                    boot_id,
                    status,
                    rx_ok,
                    rx_err,
                })
            }),
        Just(Message::EStop),
        Just(Message::Reset),
        Just(Message::Bye),
        (any::<u16>(), any::<u8>(), any::<u64>(), -1.0e6f32..1.0e6).prop_map(
            |(code, joint, node_time_us, detail)| Message::Fault(Fault {
                code,
                joint,
                node_time_us,
                detail,
            })
        ),
        (
            n.clone(),
            any::<u32>(),
            any::<u32>(),
            0u8..3,
            prop::array::uniform8(joint_config())
        )
            .prop_map(|(n, watchdog_us, publish_period_us, safe, mut joints)| {
                zero_tail(&mut joints, n);
                Message::NodeConfig(NodeConfig {
                    watchdog_us,
                    publish_period_us,
                    safe_mode: SafeMode::from_u8(safe).unwrap(),
                    n,
                    joints,
                })
            }),
        (n.clone(), any::<u64>(), any::<u8>(), f32s(), f32s()).prop_map(
            |(n, time_us, flags, mut position, mut velocity)| {
                zero_tail(&mut position, n);
                zero_tail(&mut velocity, n);
                Message::HwSample(HwSample {
                    time_us,
                    flags,
                    n,
                    position,
                    velocity,
                })
            }
        ),
        (n, f32s()).prop_map(|(n, mut effort)| {
            zero_tail(&mut effort, n);
            Message::HwEffort(HwEffort { n, effort })
        }),
        any::<u32>().prop_map(|dt_us| Message::SimStep { dt_us }),
        (any::<u64>(), any::<u32>(), -1.0e6f32..1.0e6, any::<u8>()).prop_map(
            |(time_us, step, reward, flags)| Message::SimStepDone(StepDone {
                time_us,
                step,
                reward,
                flags,
            })
        ),
        any::<u64>().prop_map(|seed| Message::SimReset { seed }),
    ]
}

fn decode_stream(bytes: &[u8]) -> Vec<Result<Frame, DecodeError>> {
    let mut d = FrameDecoder::new();
    let mut out = vec![];
    d.feed(bytes, |r| out.push(r));
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_message_roundtrips(seq in any::<u16>(), msg in message()) {
        let mut buf = [0u8; MAX_ENCODED];
        let n = encode_frame(seq, &msg, &mut buf).unwrap();
        prop_assert_eq!(buf[n - 1], 0);
        prop_assert!(!buf[..n - 1].contains(&0));
        let frames = decode_stream(&buf[..n]);
        prop_assert_eq!(frames, vec![Ok(Frame { seq, msg })]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1200)) {
        let frames = decode_stream(&bytes);
        prop_assert_eq!(frames.len(), bytes.iter().filter(|b| **b == 0).count());
    }

    #[test]
    fn a_corrupted_byte_is_rejected(
        seq in any::<u16>(), msg in message(), at in any::<prop::sample::Index>(), mask in 1u8..=255
    ) {
        let mut buf = [0u8; MAX_ENCODED];
        let n = encode_frame(seq, &msg, &mut buf).unwrap();
        let i = at.index(n - 1);
        buf[i] ^= mask;
        let frames = decode_stream(&buf[..n]);
        // A byte corrupted to 0 splits the frame in two; either way nothing decodes.
        prop_assert!(frames.iter().all(|f| f.is_err()), "{:?}", frames);
    }

    #[test]
    fn stream_resyncs_after_garbage(
        garbage in prop::collection::vec(1u8..=255, 0..600), seq in any::<u16>(), msg in message()
    ) {
        let mut bytes = garbage.clone();
        bytes.push(0);
        let mut buf = [0u8; MAX_ENCODED];
        let n = encode_frame(seq, &msg, &mut buf).unwrap();
        bytes.extend_from_slice(&buf[..n]);
        let frames = decode_stream(&bytes);
        prop_assert_eq!(frames.last().cloned(), Some(Ok(Frame { seq, msg })));
    }
}

#[test]
fn joint_count_above_max_is_an_error_not_a_panic() {
    let c = JointCommand {
        n: 9,
        ..Default::default()
    };
    let mut buf = [0u8; MAX_ENCODED];
    assert_eq!(
        encode_frame(0, &Message::JointCommand(c), &mut buf),
        Err(EncodeError::TooManyJoints(9))
    );
    let mut small = [0u8; 10];
    assert_eq!(
        encode_frame(0, &Message::EStop, &mut small[..4]),
        Err(EncodeError::BufferTooSmall)
    );
    assert!(encode_frame(0, &Message::EStop, &mut small).is_ok());
}
