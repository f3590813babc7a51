//! `collect tabletop`: demonstrations are recordings. A few episodes from
//! instruction templates, planned and executed with the overhead camera on:
//! the index marks each episode, and every recording holds the camera's
//! Foxglove images and calibration, the joint sensors, the commanded joint
//! speeds and suction, and the instruction.

use crate::common;

use ganglion::learn::collect_tabletop::{
    EPISODE_INDEX, TabletopCollectOptions, collect_tabletop, read_templates,
};

#[test]
fn tabletop_demonstrations_record_camera_joints_actions_and_instruction() {
    let Some(mut parts) = common::planner_parts() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let templates_path = dir.path().join("t.txt");
    std::fs::write(
        &templates_path,
        "# a comment\npick up the {block} block\nput the {block} block in the {bowl} bowl\n",
    )
    .unwrap();
    let out = dir.path().join("ds");
    let opts = TabletopCollectOptions {
        templates: read_templates(&templates_path).unwrap(),
        episodes: 3,
        seed: 4,
        out: out.clone(),
        overwrite: false,
        reach: common::repo().join("models/arm-reach.onnx"),
        camera_every: 2,
        command: "test".into(),
        exclude_held_out: true,
    };
    let mut seen = Vec::new();
    let report = collect_tabletop(&opts, &mut parts, &mut |e| seen.push(e.clone())).unwrap();
    assert_eq!(report.episodes, 3);
    assert_eq!(seen.len(), 3);
    assert!(report.succeeded >= 2, "{seen:?}");
    // The held-out family: the bowl colour that follows the block's.
    use ganglion::learn::collect_tabletop::held_out_combination;
    assert!(held_out_combination("red", "green") && held_out_combination("orange", "red"));
    assert!(!held_out_combination("green", "red") && !held_out_combination("red", "red"));
    for e in &seen {
        let words: Vec<&str> = e.instruction.split_whitespace().collect();
        if let [_, _, block, _, _, _, bowl, _] = words[..] {
            assert!(!held_out_combination(block, bowl), "{}", e.instruction);
        }
    }
    let index = std::fs::read_to_string(out.join(EPISODE_INDEX)).unwrap();
    assert_eq!(
        index.lines().count(),
        4,
        "a header and one line per episode"
    );
    for e in &seen {
        assert!(!e.files.is_empty(), "{e:?}");
        for f in &e.files {
            let rec = ganglion::record::read_recording(&out.join(f)).unwrap();
            assert_eq!(rec.metadata.get("instruction"), Some(&e.instruction));
            for topic in [
                "/camera/overhead/image",
                "/camera/overhead/depth",
                "/camera/overhead/calibration",
            ] {
                assert!(
                    rec.channels.iter().any(|c| c == topic),
                    "{topic} in {:?}",
                    rec.channels
                );
            }
            assert!(!rec.ticks.is_empty());
            // Joint state in, five commands out (four joint speeds, suction).
            assert!(rec.ticks.iter().all(|t| t.command.len() == 5));
            assert!(rec.sensor_names.iter().any(|n| n == "base.position"));
        }
    }
    // Read back for learning: frames with their ticks, proprioception
    // only, the commanded actions as chunks.
    let demos = ganglion::learn::demos::load_demonstrations(&out, "overhead", true).unwrap();
    assert_eq!(demos.len(), report.succeeded);
    for d in &demos {
        let e = seen.iter().find(|e| e.episode == d.episode).unwrap();
        assert_eq!(d.instruction, e.instruction);
        assert_eq!(d.steps() as u64, e.ticks);
        assert_eq!((d.width, d.height), (128, 128));
        // A frame every second tick of every segment.
        assert!(d.frames.len() * 2 >= d.steps() && d.frames.len() <= d.steps());
        assert!(d.frames.windows(2).all(|w| w[0].step < w[1].step));
        let f = &d.frames[0];
        assert_eq!(f.rgb.len(), 3 * 128 * 128);
        assert!(f.depth.iter().any(|z| *z > 0.5), "depth in metres");
        assert_eq!(d.proprio_at(0).len(), ganglion::learn::demos::PROPRIO.len());
        let mut chunk = vec![0.0; 4 * d.action_dim];
        d.action_chunk(d.steps() - 2, 4, &mut chunk);
        // Past the end the last command repeats.
        assert_eq!(
            chunk[2 * d.action_dim..3 * d.action_dim],
            chunk[3 * d.action_dim..]
        );
    }
    // The same dataset again is refused without --overwrite.
    let again = collect_tabletop(&opts, &mut parts, &mut |_| {});
    assert!(again.unwrap_err().to_string().contains("--overwrite"));
    // Bad templates name the line.
    std::fs::write(&templates_path, "pick up the {cube} block\n").unwrap();
    let err = read_templates(&templates_path).unwrap_err().to_string();
    assert!(err.contains(":1:") && err.contains("{cube}"), "{err}");
}
