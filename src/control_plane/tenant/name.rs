//! Tenant names (DESIGN.md section 10, "Name uniqueness"): what a name may hold, the form it is
//! stored in, the key names are unique on, the lock items that hold a key, and the ASCII safe
//! name derived from it.
//!
//! - **Accepted.** After the steps of the stored form below, 1 to 64 characters (not bytes) of
//!   letters (L), combining marks (Mn, Mc), digits and other numbers (N), spaces, and
//!   `- _ . & ' ,`, with at least one letter or digit. The fullwidth forms of that punctuation
//!   (`－ ＿ ． ＆ ＇ ，`, as Japanese and Chinese input methods type them) and the typographic
//!   apostrophe `’` (U+2019, as word processors write "O’Brien") count as punctuation too.
//! - **Refused, naming the character by code point.** Controls (Cc: tab, newline inside the
//!   name), format characters (Cf: bidi controls U+202A–U+202E and U+2066–U+2069, marks
//!   U+200E/U+200F, zero-width space, joiner and non-joiner U+200B–U+200D, word joiner, soft
//!   hyphen, BOM), other invisible (default-ignorable) characters such as variation selectors and
//!   Hangul fillers, line and paragraph separators, private-use and unassigned code points,
//!   enclosing marks, emoji and other symbols, and any other punctuation. Zero-width joiners are
//!   refused although some scripts use them: they make names that look the same but differ.
//! - **Stored form.** Every space character (Zs: NBSP U+00A0, ideographic space U+3000, thin
//!   spaces, ...) becomes U+0020, surrounding whitespace is trimmed, and the rest is put in NFC.
//!   Runs of spaces inside are kept as typed. This is the `tenantName` stored and returned.
//! - **Key.** Names are unique on [`key`]: NFKC, full Unicode case folding, `’` as `'`, and
//!   whitespace collapsed to single spaces. "ACME corp" and "Acme  Corp" collide, and so do
//!   "Ａｃｍｅ" and "acme", or "STRASSE" and "Straße". Punctuation still counts: "Acme-Corp" and
//!   "Acme Corp" are two names.
//! - **Locks.** A key is held by the lock item [`lock_id`], `namekey#<sha256 of the key>` (a
//!   hash, so the partition key stays short whatever NFKC expands a name to). Records written
//!   before Unicode names hold `name#<tenantSafeName>` instead; [`legacy_lock_id`] says which of
//!   those could share a key with a new name.
//! - **Safe name.** `tenantSafeName` stays lowercase ASCII letters and digits for stack names,
//!   tags and table names: the ASCII letters and digits of the key after NFD (so diacritics
//!   drop: "Zürich AG" → `zurichag`; letters with no ASCII base, such as "ø" or "東", are
//!   left out), at most 64 of them. Where none are left ("東京 株式会社") it is `t` and the first
//!   8 hex digits of the tenant id. It is not unique.

use icu_casemap::CaseMapper;
use icu_normalizer::{ComposingNormalizerBorrowed, DecomposingNormalizerBorrowed};
use icu_properties::props::{
    DefaultIgnorableCodePoint, EmojiPresentation, GeneralCategory, GeneralCategoryGroup,
};
use icu_properties::{CodePointMapData, CodePointSetData};
use sha2::{Digest, Sha256};

/// The most characters a name may have.
pub const MAX_CHARS: usize = 64;

/// The most characters of a safe name.
pub const MAX_SAFE_CHARS: usize = 64;

/// The prefix of the lock items that hold a name key: `namekey#<sha256 of the key, hex>`.
pub const LOCK_PREFIX: &str = "namekey#";

/// The prefix of the lock items written before Unicode names: `name#<tenantSafeName>`.
pub const LEGACY_LOCK_PREFIX: &str = "name#";

/// The punctuation a name may hold besides spaces.
const PUNCTUATION: [char; 6] = ['-', '_', '.', '&', '\'', ','];

/// The fullwidth forms of [`PUNCTUATION`], and the typographic apostrophe.
const PUNCTUATION_VARIANTS: [char; 7] = [
    '\u{FF0D}', '\u{FF3F}', '\u{FF0E}', '\u{FF06}', '\u{FF07}', '\u{FF0C}', '\u{2019}',
];

/// Why a tenant name was refused (a 400).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("tenantName is empty")]
    Empty,
    #[error("tenantName is {0} characters long; the limit is 64")]
    TooLong(usize),
    #[error(
        "tenantName may hold only letters, digits, combining marks, spaces and the punctuation \"- _ . & ' ,\"; found {}",
        describe(*.0)
    )]
    BadCharacter(char),
    #[error("tenantName needs at least one letter or digit")]
    NoAlphanumeric,
}

/// A valid tenant name: its stored form and its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantName {
    /// The stored and returned `tenantName`: spaces made U+0020, trimmed, NFC.
    pub name: String,
    /// What names are unique on ([`key`]).
    pub key: String,
}

impl TenantName {
    /// Puts `raw` in its stored form and checks it by the rules of the module docs.
    pub fn parse(raw: &str) -> Result<TenantName, NameError> {
        let name = stored_form(raw);
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        let count = name.chars().count();
        if count > MAX_CHARS {
            return Err(NameError::TooLong(count));
        }
        if let Some(c) = name.chars().find(|c| refusal(*c).is_some()) {
            return Err(NameError::BadCharacter(c));
        }
        if !name.chars().any(is_letter_or_digit) {
            return Err(NameError::NoAlphanumeric);
        }
        let key = key(&name);
        Ok(TenantName { name, key })
    }

    /// The `tenantSafeName` of a tenant with this name and id: lowercase ASCII letters and
    /// digits, never empty, at most 64 characters.
    pub fn safe_name(&self, tenant_id: &str) -> String {
        let ascii =
            ascii_alphanumerics(&DecomposingNormalizerBorrowed::new_nfd().normalize(&self.key));
        if ascii.is_empty() {
            let id: String = ascii_alphanumerics(tenant_id).chars().take(8).collect();
            format!("t{id}")
        } else {
            ascii.chars().take(MAX_SAFE_CHARS).collect()
        }
    }

    /// The id of the lock item that holds this name's key.
    pub fn lock_id(&self) -> String {
        lock_id(&self.key)
    }
}

/// Every space character as U+0020, trimmed, NFC.
fn stored_form(raw: &str) -> String {
    let spaced: String = raw
        .chars()
        .map(|c| {
            if general_category(c) == GeneralCategory::SpaceSeparator {
                ' '
            } else {
                c
            }
        })
        .collect();
    ComposingNormalizerBorrowed::new_nfc()
        .normalize(spaced.trim())
        .into_owned()
}

/// The key names are unique on: Unicode's compatibility caseless form (NFKD, full case
/// folding, twice over, as in "compatibility caseless matching"), composed again (NFKC),
/// `’` as `'`, and whitespace collapsed to single spaces. Idempotent.
pub fn key(name: &str) -> String {
    let nfkd = DecomposingNormalizerBorrowed::new_nfkd();
    let fold = CaseMapper::new();
    let once = nfkd
        .normalize(&fold.fold_string(&DecomposingNormalizerBorrowed::new_nfd().normalize(name)))
        .into_owned();
    let twice = nfkd.normalize(&fold.fold_string(&once)).into_owned();
    let composed = ComposingNormalizerBorrowed::new_nfc().normalize(&twice);
    composed
        .replace('\u{2019}', "'")
        .split(char::is_whitespace)
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The id of the lock item that holds `key`.
pub fn lock_id(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{LOCK_PREFIX}{hex}")
}

/// The lock a tenant recorded before Unicode names would hold if its name had `key`:
/// `name#<its ASCII letters and digits>`. Those names were ASCII, and so were their keys, so
/// only an ASCII key can be shared with one: `None` for any other.
pub fn legacy_lock_id(key: &str) -> Option<String> {
    let ascii = ascii_alphanumerics(key);
    (key.is_ascii() && !ascii.is_empty()).then(|| format!("{LEGACY_LOCK_PREFIX}{ascii}"))
}

/// The lowercased ASCII letters and digits of `s`, in order.
fn ascii_alphanumerics(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn general_category(c: char) -> GeneralCategory {
    CodePointMapData::<GeneralCategory>::new().get(c)
}

fn is_letter_or_digit(c: char) -> bool {
    let gc = general_category(c);
    GeneralCategoryGroup::Letter.contains(gc) || GeneralCategoryGroup::Number.contains(gc)
}

/// Why `c` may not be in a stored name, or `None` if it may.
fn refusal(c: char) -> Option<Refusal> {
    use GeneralCategory as Gc;
    if c == ' ' || PUNCTUATION.contains(&c) || PUNCTUATION_VARIANTS.contains(&c) {
        return None;
    }
    let gc = general_category(c);
    let refusal = match gc {
        Gc::Control => Refusal::Control,
        Gc::Format => Refusal::Format,
        Gc::LineSeparator | Gc::ParagraphSeparator => Refusal::LineBreak,
        Gc::PrivateUse => Refusal::PrivateUse,
        Gc::Unassigned => Refusal::Unassigned,
        // Variation selectors, Hangul fillers, the combining grapheme joiner: letters or marks
        // by category, but invisible.
        _ if CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c) => Refusal::Invisible,
        _ if is_letter_or_digit(c) => return None,
        Gc::NonspacingMark | Gc::SpacingMark => return None,
        Gc::EnclosingMark => Refusal::EnclosingMark,
        // What shows as an emoji by default; the likes of ™ are symbols.
        _ if CodePointSetData::new::<EmojiPresentation>().contains(c) => Refusal::Emoji,
        _ if GeneralCategoryGroup::Symbol.contains(gc) => Refusal::Symbol,
        // Punctuation, and spaces the stored form has already turned into U+0020.
        _ => Refusal::Punctuation,
    };
    Some(refusal)
}

/// What kind of character a refused one is, for the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    Control,
    Format,
    Invisible,
    LineBreak,
    PrivateUse,
    Unassigned,
    EnclosingMark,
    Emoji,
    Symbol,
    Punctuation,
}

impl Refusal {
    fn what(self) -> &'static str {
        match self {
            Refusal::Control => "a control character",
            Refusal::Format => "a format character",
            Refusal::Invisible => "an invisible character",
            Refusal::LineBreak => "a line or paragraph separator",
            Refusal::PrivateUse => "a private-use character",
            Refusal::Unassigned => "an unassigned code point",
            Refusal::EnclosingMark => "an enclosing mark",
            Refusal::Emoji => "an emoji",
            Refusal::Symbol => "a symbol",
            Refusal::Punctuation => "punctuation other than - _ . & ' ,",
        }
    }

    /// Whether the character can be shown in a message. Invisible ones, and bidi controls
    /// that would reorder the message itself, are named by code point only.
    fn visible(self) -> bool {
        matches!(
            self,
            Refusal::EnclosingMark | Refusal::Emoji | Refusal::Symbol | Refusal::Punctuation
        )
    }
}

/// `'{' (U+007B, punctuation other than ...)` for a visible character, `U+202E (a format character)`
/// for an invisible one.
fn describe(c: char) -> String {
    let code = format!("U+{:04X}", u32::from(c));
    match refusal(c) {
        Some(r) if r.visible() => format!("'{c}' ({code}, {})", r.what()),
        Some(r) => format!("{code} ({})", r.what()),
        None => code,
    }
}

#[cfg(test)]
mod tests;
