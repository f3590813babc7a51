//! Tests of grounding, with a table standing in for MiniLM.

use super::*;

fn scene() -> SceneSpec {
    SceneSpec::parse("blocks=red,green,blue; bowls=yellow").unwrap()
}

/// Similarity 0.9 to options containing the word's listed match, 0.2 else.
struct Table(&'static [(&'static str, &'static str)]);

impl Embedder for Table {
    fn similarities(&mut self, query: &str, options: &[String]) -> Result<Vec<f32>> {
        let hit = self
            .0
            .iter()
            .find(|(w, _)| query.ends_with(&format!(" {w}")))
            .map(|(_, m)| *m);
        Ok(options
            .iter()
            .map(|o| match hit {
                Some(m) if o.ends_with(&format!(" {m}")) => 0.9,
                _ => 0.2,
            })
            .collect())
    }
}

fn g(text: &str, emb: Option<&mut dyn Embedder>) -> Result<Grounded, String> {
    ground(text, &scene(), emb, &THRESHOLDS).unwrap()
}

#[test]
fn lexicon_words_become_scene_names() {
    let out = g("Drop the red cube into the bowl!", None).unwrap();
    assert_eq!(out.text, "drop the red block into the yellow bowl !");
    let out = g("stack the blue one on the green one", None).unwrap();
    assert_eq!(out.text, "stack the blue block on the green block");
    let out = g("put all the blocks in the yellow bowl", None).unwrap();
    assert_eq!(out.text, "put all the blocks in the yellow bowl");
}

#[test]
fn absent_objects_are_refused() {
    assert!(
        g("put the purple block in the yellow bowl", None)
            .unwrap_err()
            .contains("purple block")
    );
    assert!(
        g("put the red block in the blue bowl", None)
            .unwrap_err()
            .contains("blue bowl")
    );
    // A basic colour outside the scene colours is absent, not matched.
    assert!(
        g("put the black block in the bowl", None)
            .unwrap_err()
            .contains("not in the scene")
    );
}

#[test]
fn unknown_words_are_matched_or_refused_by_name() {
    let mut t = Table(&[
        ("glorbish", "red"),
        ("cuboid", "block"),
        ("receptacle", "bowl"),
    ]);
    let out = g("put the glorbish cuboid in the receptacle", Some(&mut t)).unwrap();
    assert_eq!(out.text, "put the red block in the yellow bowl");
    assert_eq!(out.matched.len(), 3, "{:?}", out.matched);
    // No confident match: refused, naming the word (never dropped).
    let mut t = Table(&[]);
    let why = g("put the glorbish cube in the bowl", Some(&mut t)).unwrap_err();
    assert!(why.contains("\"glorbish\""), "{why}");
    let why = g("put the hammer in the bowl", Some(&mut t)).unwrap_err();
    assert!(why.contains("\"hammer\""), "{why}");
    // Without an embedder, unknown words are refused too.
    assert!(
        g("put the glorbish block in the bowl", None)
            .unwrap_err()
            .contains("glorbish")
    );
    // A word in no slot: refused.
    assert!(g("mettez le bloc rouge dans le bol", Some(&mut t)).is_err());
}

#[test]
fn compound_colours_take_their_head() {
    let out = g("put the ocean-blue cube in the bowl", None).unwrap();
    assert_eq!(out.text, "put the blue block in the yellow bowl");
    let out = g("put the forest green cube in the bowl", None).unwrap();
    assert!(out.text.contains("green block"), "{}", out.text);
    let mut t = Table(&[]);
    assert!(g("put the blue-red cube in the bowl", Some(&mut t)).is_err());
}

#[test]
fn a_threshold_and_a_margin_decide() {
    assert_eq!(pick_anchor(&[0.9, 0.2, 0.1], 0.5, 0.05), Ok(0));
    assert!(pick_anchor(&[0.4, 0.2], 0.5, 0.05).is_err());
    assert!(pick_anchor(&[0.8, 0.78], 0.5, 0.05).is_err());
}

#[test]
fn survey_shades_need_no_embedder() {
    let out = g("put the crimson cube in the bowl", None).unwrap();
    assert_eq!(out.text, "put the red block in the yellow bowl");
    assert!(
        out.matched[0].contains("colour survey"),
        "{:?}",
        out.matched
    );
    // The survey's verdict stands: MiniLM is not asked about a shade the
    // survey cannot place.
    let mut t = Table(&[("amber", "red")]);
    let why = g("put the amber cube in the bowl", Some(&mut t)).unwrap_err();
    assert!(why.contains("between"), "{why}");
    // A shade of a colour not in the scene is absent, not moved to another.
    let why = g("put the lavender block in the bowl", None).unwrap_err();
    assert!(why.contains("not in the scene"), "{why}");
}
