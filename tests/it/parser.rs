//! The fast parser against the `kdl` crate: wherever the fast parser answers, the input must be
//! valid KDL v2 and both must give the same tree, spans included. Every file of the repository
//! must take the fast path (that is what the front-end benchmark measures).

use msws::diag::FileId;
use msws::syntax::{parse_fast, parse_kdl_v2};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::robustness::{Corpus, TOKENS, mutate, mutation};
use crate::support::{kdl_files, root};

/// `Err` describes a disagreement.
fn agree(text: &str) -> Result<bool, String> {
    let Some(fast) = parse_fast(FileId(0), text) else { return Ok(false) };
    match parse_kdl_v2(FileId(0), text) {
        None => Err(format!("the fast parser accepted invalid KDL v2: {text:?}")),
        Some(full) if full != fast => {
            let first = fast.iter().zip(&full).find(|(a, b)| a != b);
            Err(format!("trees differ for {text:?}\nfirst differing node:\n{first:#?}"))
        }
        Some(_) => Ok(true),
    }
}

#[test]
fn every_repository_file_takes_the_fast_path_and_agrees() {
    let mut files = Vec::new();
    for dir in ["workspaces", "stdlib", "tests/data/valid", "tests/data/lint"] {
        files.extend(kdl_files(&root().join(dir)));
    }
    assert!(files.len() >= 20);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        // The KDL v1 example is for the full parser by design.
        if text.contains("true") && f.ends_with("kdl-v1.kdl") {
            continue;
        }
        assert_eq!(agree(&text), Ok(true), "{}", f.display());
    }
}

#[test]
fn invalid_inputs_agree_where_the_fast_parser_answers() {
    for f in kdl_files(&root().join("tests/data/invalid")) {
        let text = std::fs::read_to_string(&f).unwrap();
        agree(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
}

#[test]
fn hand_picked_edges_agree() {
    let cases = [
        "a 1 x=2 ; b \"s\" { c #true }   // c\n",
        "d /-x=1 y = 3 #\"raw\"# -5 /-{ z } \n\"q n\" k=\"v\" { }\ne\n",
        "f \\\n   2\n",
        "n {\n  m 1\n}\nlast 2",
        "n { m 1; }\nn2 {\n m\n }",
        "a \"esc \\n \\t \\\" \\\\ \\u{1F600} \\s\"\n",
        "a -0 +7 1_000 0.5 -2.25\n",
        "é-opt \"ü\" k=é\n",
        "/- a 1\nb\n",
        "a /* c */ 1 /* d */ x=2\n",
        "a{b}\n",
        "a\n\n\n",
        "",
        "// only a comment",
        "a ##\"x\"#y\"## z\n",
        "a \"s\"b\n",
        "a 1b\n",
        "a true\n",
        "a .5\n",
        "a - b\n",
        "a -b\n",
        "a { } x\n",
        "a #true#false\n",
        "a x= 1\n",
        "a x =1 y\n",
        "\"a\"=1\n",
    ];
    for c in cases {
        agree(c).unwrap();
    }
    // And the fast path really takes the common ones.
    assert_eq!(agree("a 1 x=2 ; b \"s\" { c #true }   // c\n"), Ok(true));
    assert_eq!(agree("a \"esc \\n \\t \\\" \\\\ \\u{1F600} \\s\"\n"), Ok(true));
}

proptest! {
    #![proptest_config(crate::robustness::config(1500))]

    #[test]
    fn mutated_files_agree(file in any::<prop::sample::Index>(), edits in vec(mutation(), 1..5)) {
        let corpus = Corpus::load();
        let (_, original) = &corpus.files[file.index(corpus.files.len())];
        let text = mutate(original, &edits);
        if let Err(e) = agree(&text) {
            prop_assert!(false, "{}", e);
        }
    }

    #[test]
    fn token_soup_agrees(tokens in vec(prop::sample::select(TOKENS), 0..40)) {
        let text = tokens.join(" ");
        if let Err(e) = agree(&text) {
            prop_assert!(false, "{}", e);
        }
    }
}
