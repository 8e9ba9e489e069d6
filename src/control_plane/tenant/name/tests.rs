use super::*;

const ID: &str = "7f3c2a9e-5b1d-4e8a-9c6f-2d4b8a1e3f70";

/// `raw` parses to this stored name, key and safe name (for tenant [`ID`]), or is refused so.
fn check(raw: &str, expected: Result<(&str, &str, &str), NameError>) {
    let got = TenantName::parse(raw).map(|n| {
        let safe = n.safe_name(ID);
        (n.name, n.key, safe)
    });
    let expected = expected.map(|(n, k, s)| (n.to_owned(), k.to_owned(), s.to_owned()));
    assert_eq!(got, expected, "{raw:?}");
}

fn refused(raw: &str, c: char) {
    check(raw, Err(NameError::BadCharacter(c)));
}

#[test]
fn international_names_are_accepted_in_nfc() {
    check("  Acme Corp ", Ok(("Acme Corp", "acme corp", "acmecorp")));
    check("Zürich AG", Ok(("Zürich AG", "zürich ag", "zurichag")));
    // Decomposed (as some keyboards and macOS file names give it): stored composed.
    check(
        "Zu\u{308}rich AG",
        Ok(("Zürich AG", "zürich ag", "zurichag")),
    );
    check(
        "東京 株式会社",
        Ok(("東京 株式会社", "東京 株式会社", "t7f3c2a9e")),
    );
    check(
        "O'Brien & Sons, Ltd.",
        Ok((
            "O'Brien & Sons, Ltd.",
            "o'brien & sons, ltd.",
            "obriensonsltd",
        )),
    );
    check("O’Brien", Ok(("O’Brien", "o'brien", "obrien")));
    check("Straße", Ok(("Straße", "strasse", "strasse")));
    check("İstanbul", Ok(("İstanbul", "i\u{307}stanbul", "istanbul")));
    check("Øresund", Ok(("Øresund", "øresund", "resund")));
    check("Zoë", Ok(("Zoë", "zoë", "zoe")));
    check("a.b-c_d 9", Ok(("a.b-c_d 9", "a.b-c_d 9", "abcd9")));
    check("Ⅻ Corp", Ok(("Ⅻ Corp", "xii corp", "xiicorp")));
    check("شركة ١٢٣", Ok(("شركة ١٢٣", "شركة ١٢٣", "t7f3c2a9e")));
    check(
        "Ａｃｍｅ＆Ｃｏ",
        Ok(("Ａｃｍｅ＆Ｃｏ", "acme&co", "acmeco")),
    );
    check("ソニー", Ok(("ソニー", "ソニー", "t7f3c2a9e")));
}

#[test]
fn other_spaces_are_stored_as_plain_spaces_and_runs_are_kept() {
    check("Acme\u{A0}Corp", Ok(("Acme Corp", "acme corp", "acmecorp")));
    check(
        "東京\u{3000}株式会社",
        Ok(("東京 株式会社", "東京 株式会社", "t7f3c2a9e")),
    );
    check(
        "\u{2009}Acme\u{202F}Corp\u{A0}",
        Ok(("Acme Corp", "acme corp", "acmecorp")),
    );
    check("Acme  Corp", Ok(("Acme  Corp", "acme corp", "acmecorp")));
    // Surrounding whitespace of any kind is trimmed, as before.
    check("\tAcme Corp\n", Ok(("Acme Corp", "acme corp", "acmecorp")));
}

#[test]
fn names_differing_in_case_width_or_spacing_share_a_key() {
    let key = |raw: &str| TenantName::parse(raw).unwrap().key;
    assert_eq!(key("ACME corp"), key("Acme  Corp"));
    assert_eq!(key("ACME corp"), key("acme\u{A0}corp"));
    assert_eq!(key("Ａｃｍｅ Ｃｏｒｐ"), key("acme corp"));
    assert_eq!(key("STRASSE"), key("Straße"));
    assert_eq!(key("ZÜRICH AG"), key("zu\u{308}rich ag"));
    assert_eq!(key("O’Brien"), key("o'brien"));
    // Punctuation and diacritics still count.
    assert_ne!(key("Acme-Corp"), key("Acme Corp"));
    assert_ne!(key("Zürich AG"), key("Zurich AG"));
    let lock = |raw: &str| TenantName::parse(raw).unwrap().lock_id();
    assert_eq!(lock("ACME corp"), lock("Acme  Corp"));
    assert_ne!(lock("Acme"), lock("Acme Corp"));
    assert!(lock("Acme").starts_with(LOCK_PREFIX));
    assert_eq!(lock("Acme").len(), LOCK_PREFIX.len() + 64);
}

#[test]
fn legacy_locks_are_checked_only_where_an_ascii_name_could_share_the_key() {
    let legacy = |raw: &str| legacy_lock_id(&TenantName::parse(raw).unwrap().key);
    assert_eq!(legacy("Acme Corp"), Some("name#acmecorp".to_owned()));
    assert_eq!(legacy("ACME  corp"), Some("name#acmecorp".to_owned()));
    assert_eq!(legacy("O'Brien & Sons"), Some("name#obriensons".to_owned()));
    // Its key is ASCII: a legacy "Acme" has the same one.
    assert_eq!(legacy("Ａｃｍｅ"), Some("name#acme".to_owned()));
    assert_eq!(legacy("Zürich AG"), None);
    assert_eq!(legacy("東京 株式会社"), None);
}

#[test]
fn invisible_and_format_characters_are_refused() {
    refused("Acme\u{202E}Corp", '\u{202E}');
    refused("\u{202A}Acme", '\u{202A}');
    refused("Acme\u{2066}Corp\u{2069}", '\u{2066}');
    refused("Acme\u{200F}", '\u{200F}');
    // Zero-width characters are refused: they make names that look alike but differ.
    refused("Acme\u{200D}Corp", '\u{200D}');
    refused("Acme\u{200C}Corp", '\u{200C}');
    refused("Acme\u{200B}Corp", '\u{200B}');
    refused("\u{FEFF}Acme", '\u{FEFF}');
    refused("Ac\u{AD}me", '\u{AD}');
    refused("Acme\u{FE0F}", '\u{FE0F}');
    refused("\u{3164}Acme", '\u{3164}');
    refused("Acme\u{2028}Corp", '\u{2028}');
    refused("Acme\u{E000}", '\u{E000}');
    refused("Acme\u{378}", '\u{378}');
}

#[test]
fn controls_emoji_and_other_symbols_are_refused() {
    refused("Acme\tCorp", '\t');
    refused("Acme\nCorp", '\n');
    refused("Acme\u{0}", '\u{0}');
    refused("Acme\u{85}Corp", '\u{85}');
    refused("Acme 🚀", '🚀');
    refused("👨\u{200D}👩\u{200D}👧 Family", '👨');
    refused("🇨🇭 Swiss", '🇨');
    refused("Acme™", '™');
    refused("Acme+", '+');
    refused("1\u{20E3}", '\u{20E3}');
    refused("{{ 7*7 }}", '{');
    refused("a;rm -rf", ';');
    refused("Acme (Pty)", '(');
}

#[test]
fn lengths_count_characters_not_bytes() {
    check(&"x".repeat(65), Err(NameError::TooLong(65)));
    assert!(TenantName::parse(&"x".repeat(64)).is_ok());
    let cjk = "東".repeat(64);
    assert_eq!(TenantName::parse(&cjk).unwrap().name, cjk);
    check(&"東".repeat(65), Err(NameError::TooLong(65)));
    // 128 code points decomposed, 64 characters composed.
    assert_eq!(
        TenantName::parse(&"e\u{301}".repeat(64)).unwrap().name,
        "é".repeat(64)
    );
    check("   ", Err(NameError::Empty));
    check("\u{A0}\u{3000}", Err(NameError::Empty));
    check("-_-", Err(NameError::NoAlphanumeric));
    check("\u{301}.", Err(NameError::NoAlphanumeric));
}

#[test]
fn refusals_say_what_is_allowed_and_name_the_character() {
    let message = |raw: &str| TenantName::parse(raw).unwrap_err().to_string();
    let allowed = "tenantName may hold only letters, digits, combining marks, spaces and the \
                   punctuation \"- _ . & ' ,\"; found";
    assert_eq!(
        message("Acme\u{202E}Corp"),
        format!("{allowed} U+202E (a format character)")
    );
    assert_eq!(
        message("Acme\u{200D}Corp"),
        format!("{allowed} U+200D (a format character)")
    );
    assert_eq!(
        message("Acme\tCorp"),
        format!("{allowed} U+0009 (a control character)")
    );
    assert_eq!(
        message("Acme\u{FE0F}"),
        format!("{allowed} U+FE0F (an invisible character)")
    );
    assert_eq!(
        message("Acme 🚀"),
        format!("{allowed} '🚀' (U+1F680, an emoji)")
    );
    assert_eq!(
        message("{{ 7*7 }}"),
        format!("{allowed} '{{' (U+007B, punctuation other than - _ . & ' ,)")
    );
    assert_eq!(
        message("Acme™"),
        format!("{allowed} '™' (U+2122, a symbol)")
    );
    assert_eq!(
        message(&"東".repeat(65)),
        "tenantName is 65 characters long; the limit is 64"
    );
}

#[test]
fn safe_names_are_bounded_and_fall_back_to_the_tenant_id() {
    // NFKC can expand a name: the safe name stays at most 64 characters.
    let n = TenantName::parse(&"ⅷ".repeat(64)).unwrap();
    assert_eq!(n.key, "viii".repeat(64));
    assert_eq!(n.safe_name(ID), "viii".repeat(16));
    let tokyo = TenantName::parse("東京").unwrap();
    assert_eq!(tokyo.safe_name(ID), "t7f3c2a9e");
    assert_eq!(
        tokyo.safe_name("00000000-0000-4000-8000-000000000001"),
        "t00000000"
    );
}

mod properties {
    use proptest::prelude::*;

    use super::super::*;
    use super::ID;

    /// Characters from every class the rules tell apart, and any character at all.
    fn any_char() -> impl Strategy<Value = char> {
        prop_oneof![
            any::<char>(),
            prop::sample::select(vec![
                'a', 'Z', '9', ' ', '-', '_', '.', '&', '\'', ',', 'ß', 'ı', 'İ', 'ﬁ', 'Σ', 'ς',
                'ǅ', 'é', '\u{301}', '\u{308}', '東', 'ソ', 'ー', '한', 'ي', '١', 'Ⅻ', '㎉', 'Ａ',
                '＆', '’', '\u{A0}', '\u{3000}', '\u{2009}', '\t', '\n', '\u{0}', '\u{85}',
                '\u{202E}', '\u{2066}', '\u{200B}', '\u{200D}', '\u{FEFF}', '\u{AD}', '\u{FE0F}',
                '\u{3164}', '\u{2028}', '\u{E000}', '\u{378}', '🚀', '™', '{', ';', '\u{20E3}',
            ]),
        ]
    }

    fn any_string() -> impl Strategy<Value = String> {
        prop::collection::vec(any_char(), 0..80).prop_map(|cs| cs.into_iter().collect())
    }

    /// Strings of characters names may hold, so that most are accepted.
    fn namelike() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![
                'a', 'b', 'Z', 'Q', '0', '7', ' ', ' ', '-', '_', '.', '&', '\'', ',', 'ß', 'ﬁ',
                'Σ', 'ς', 'ǅ', 'é', 'Å', '\u{301}', '東', 'ソ', 'ー', '한', 'ي', '١', 'Ⅻ', 'Ж',
                'ж', 'Ω', 'ŉ', 'Ａ', 'ｚ', '＆', '’', '\u{A0}', '\u{3000}',
            ]),
            1..70,
        )
        .prop_map(|cs| cs.into_iter().collect())
    }

    /// `s` in fullwidth forms: ASCII `!`–`~` at U+FF01–U+FF5E, the space as U+3000.
    fn fullwidth(s: &str) -> String {
        s.chars()
            .map(|c| match c {
                ' ' => '\u{3000}',
                '!'..='~' => char::from_u32(u32::from(c) - 0x21 + 0xFF01).unwrap(),
                c => c,
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn parsing_never_panics_and_an_accepted_name_is_clean(raw in prop_oneof![any_string(), namelike()]) {
            if let Ok(n) = TenantName::parse(&raw) {
                let nfc = ComposingNormalizerBorrowed::new_nfc();
                prop_assert_eq!(nfc.normalize(&n.name), n.name.as_str());
                let count = n.name.chars().count();
                prop_assert!((1..=MAX_CHARS).contains(&count), "{} characters", count);
                prop_assert_eq!(n.name.trim(), n.name.as_str());
                for c in n.name.chars() {
                    let gc = general_category(c);
                    prop_assert!(
                        !matches!(
                            gc,
                            GeneralCategory::Control
                                | GeneralCategory::Format
                                | GeneralCategory::PrivateUse
                                | GeneralCategory::Unassigned
                                | GeneralCategory::LineSeparator
                                | GeneralCategory::ParagraphSeparator
                        ),
                        "{:?} is {:?}", c, gc
                    );
                    prop_assert!(!CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c), "{:?}", c);
                    prop_assert!(c == ' ' || gc != GeneralCategory::SpaceSeparator, "{:?}", c);
                }
                // The stored form is stable: parsing it again changes nothing.
                prop_assert_eq!(TenantName::parse(&n.name), Ok(n.clone()));
                let safe = n.safe_name(ID);
                prop_assert!(!safe.is_empty() && safe.len() <= MAX_SAFE_CHARS, "{:?}", safe);
                prop_assert!(safe.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()), "{:?}", safe);
                prop_assert!(!n.key.is_empty());
                prop_assert_eq!(legacy_lock_id(&n.key).is_some(), n.key.is_ascii());
            }
        }

        #[test]
        fn the_key_is_idempotent(raw in prop_oneof![any_string(), namelike()]) {
            let k = key(&raw);
            prop_assert_eq!(key(&k), k.clone());
            prop_assert_eq!(k.trim(), k.as_str());
            prop_assert!(!k.contains("  "), "{:?}", k);
        }

        #[test]
        fn the_key_ignores_case(raw in namelike()) {
            if let Ok(n) = TenantName::parse(&raw) {
                // Dotless ı is a letter of its own outside Turkish casing: its uppercase I
                // folds to i.
                prop_assume!(!n.name.contains('ı'));
                prop_assert_eq!(key(&n.name.to_uppercase()), n.key.clone());
                prop_assert_eq!(key(&n.name.to_lowercase()), n.key.clone());
            }
        }

        #[test]
        fn the_key_ignores_width_and_spacing(
            raw in "[A-Za-z0-9 ._&',-]{1,64}",
            spaces in prop::collection::vec(
                prop::sample::select(vec![" ", "  ", "\u{A0}", "\u{3000}", "\u{2009} ", "\u{202F}"]),
                1..80,
            ),
        ) {
            if let Ok(n) = TenantName::parse(&raw) {
                let wide = TenantName::parse(&fullwidth(&n.name)).unwrap();
                prop_assert_eq!(&wide.key, &n.key);
                let mut spaces = spaces.iter().cycle();
                let respaced: String = format!(" {} ", n.name)
                    .chars()
                    .map(|c| if c == ' ' { spaces.next().unwrap().to_string() } else { c.to_string() })
                    .collect();
                match TenantName::parse(&respaced) {
                    Ok(r) => prop_assert_eq!(&r.key, &n.key),
                    Err(e) => prop_assert!(matches!(e, NameError::TooLong(_)), "{}", e),
                }
                prop_assert_eq!(key(&respaced), n.key.clone());
            }
        }
    }
}
