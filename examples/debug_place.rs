use ganglion::skills::{Skill, SkillRunner};
use ganglion::sim::SceneSpec;
fn main() {
    let scene = SceneSpec::parse("blocks=red,blue; bowls=yellow; holding=red").unwrap();
    let seed: u64 = 16935361023492451307;
    let mut r = SkillRunner::new(&scene, seed, std::path::Path::new("models/arm-reach.onnx")).unwrap();
    let s0 = r.state().unwrap();
    println!("start cup {:?} held {:?} blocks {:?}", s0.cup, s0.held, s0.blocks);
    let run = r.run(&Skill::PlaceOn("blue".into())).unwrap();
    let s1 = r.state().unwrap();
    println!("{:?} steps {} cup {:?} blocks {:?}", run.outcome, run.steps, s1.cup, s1.blocks);
}
