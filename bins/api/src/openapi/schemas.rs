//! What the schemas paperclip derives do not say, made true to the server.
//!
//! * Responses: an `Option` field is serialised as `null`, so every property
//!   a response schema does not require is `nullable`.
//! * Request bodies: whether a body refuses unknown fields
//!   (`additionalProperties: false`) and which properties accept `null` are
//!   not written down here but asked of the deserializer itself
//!   ([`REQUEST_BODIES`] pairs each schema with its type): a property is
//!   nullable when `{"p": null}` does not fail at `p`, and an object is
//!   closed when an unknown key fails at that key.
//! * The constraints the validators enforce ([`constraints`]): lengths,
//!   ranges, the e-mail format, and patterns for the plain-text policy
//!   (trimmed, no `<`, `>` or control characters), built from the same
//!   constants the validators use.

use coffee_domain::cart::MAX_LINE_QUANTITY;
use coffee_domain::catalog::{DESCRIPTION_MAX_CHARS, NAME_MAX_CHARS};
use coffee_domain::money::Money;
use coffee_domain::order::{COMMENT_MAX_CHARS, MAX_LINES};
use coffee_domain::user::{Email, Password, PersonName};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::dto::{auth, cart, category, order, product, support, user};

/// Whitespace `str::trim` removes, other than control characters.
const SPACE: &str = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Control characters (`char::is_control`).
const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";
/// Bidi controls and zero-width spaces (`coffee_domain::text::is_spoofing`).
const SPOOFING: &str = r"\u200b\u202a-\u202e\u2060\u2066-\u2069\ufeff";

/// One line of plain text, `1..=max` characters once trimmed.
pub fn single_line(max: usize) -> String {
    let space = format!("[{TRIMMED}{SPACE}]");
    let any = format!("[^<>{CONTROL}{SPOOFING}]");
    let solid = format!("[^<>{CONTROL}{SPOOFING}{SPACE}]");
    format!("^{space}*{solid}{}{space}*$", longer(&any, &solid, max))
}

/// After a first `solid` character, up to `max - 1` more, the last one `solid`.
fn longer(any: &str, solid: &str, max: usize) -> String {
    if max < 2 { String::new() } else { format!("(?:{any}{{0,{}}}{solid})?", max - 2) }
}

/// Plain text over several lines, `0..=max` characters once trimmed.
pub fn multi_line(max: usize) -> String {
    let space = format!("[{TRIMMED}{SPACE}]");
    let any = format!(r"[^<>\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f{SPOOFING}]");
    let solid = format!("[^<>{CONTROL}{SPOOFING}{SPACE}]");
    format!("^{space}*(?:{solid}{})?{space}*$", longer(&any, &solid, max))
}

/// A note (`coffee_domain::text::note_text`, an order's comment): as
/// [`multi_line`], but `<` and `>` are text, except a `<` that would open
/// HTML markup (followed by a letter, `/`, `!` or `?`). Two patterns, as
/// the length counts characters and the markup rule looks at pairs.
pub fn note(max: usize) -> Value {
    let space = format!("[{TRIMMED}{SPACE}]");
    let any = format!(r"[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f{SPOOFING}]");
    let solid = format!("[^{CONTROL}{SPOOFING}{SPACE}]");
    let length = format!("^{space}*(?:{solid}{})?{space}*$", longer(&any, &solid, max));
    let no_markup = "^(?:[^<]|<+(?:[^<A-Za-z/!?]|$))*$";
    json!({"type": "string", "allOf": [{"pattern": length}, {"pattern": no_markup}]})
}

/// Whitespace `str::trim` removes that is also a control character.
const TRIMMED: &str = r"\t\n\u000b\u000c\r\u0085";

/// Text that is trimmed, then holds `0..=max` characters, none a control character.
pub fn trimmed_text(max: usize) -> String {
    format!("^[{TRIMMED}{SPACE}]*[^{CONTROL}]{{0,{max}}}[{TRIMMED}{SPACE}]*$")
}

/// A query value: no control characters (see `coffee_domain::query`).
pub fn no_control() -> String {
    format!("^[^{CONTROL}]*$")
}

// SIMPLIFICATION: `format: email` and the length, not `Email::parse`'s own
// grammar (one `@`, a dot in the domain, no spaces or brackets); real
// addresses and non-addresses fall on the same side of both.
fn email() -> Value {
    json!({"type": "string", "format": "email", "maxLength": Email::MAX_LEN})
}

fn name_of_person() -> Value {
    json!({"type": "string", "pattern": single_line(PersonName::MAX_CHARS)})
}

fn phone() -> Value {
    let space = format!("[{TRIMMED}{SPACE}]");
    // Optional `+`, then digits and ` -()` separators: 7–15 digits, at most
    // 32 characters between the first and the last that are not spaces.
    let pattern = format!(
        r"^{space}*(?=[^0-9]*(?:[0-9][^0-9]*){{7,15}}$)(?=[+0-9()-](?:[0-9 ()-]{{0,30}}[0-9()-])?{space}*$)\+?[0-9 ()-]*{space}*$"
    );
    json!({"type": "string", "pattern": pattern})
}

fn product_name() -> Value {
    json!({"type": "string", "pattern": single_line(NAME_MAX_CHARS)})
}

fn description() -> Value {
    json!({"type": "string", "pattern": multi_line(DESCRIPTION_MAX_CHARS)})
}

fn quantity() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": MAX_LINE_QUANTITY})
}

fn price() -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": Money::MAX_PRICE.minor()})
}

/// `(schema, property, constraints)`, merged into the property's schema.
/// A `*` schema means every request schema with that property.
fn constraints() -> Vec<(&'static str, &'static str, Value)> {
    let password = json!({"type": "string", "minLength": Password::MIN_CHARS, "maxLength": Password::MAX_CHARS});
    vec![
        ("SignupRequest", "email", email()),
        ("SignupRequest", "password", password),
        ("ResendRequest", "email", email()),
        ("PatchUserRequest", "email", email()),
        ("PutUserRequest", "email", email()),
        ("LoginRequest", "password", json!({"type": "string", "minLength": 1, "maxLength": Password::MAX_CHARS})),
        ("*", "first_name", name_of_person()),
        ("*", "last_name", name_of_person()),
        ("*", "phone", phone()),
        ("*", "quantity", quantity()),
        ("*", "price", price()),
        ("CategoryRequest", "name", product_name()),
        ("CategoryPatchRequest", "name", product_name()),
        ("ProductRequest", "name", product_name()),
        ("ProductPatchRequest", "name", product_name()),
        ("*", "description", description()),
        ("*", "category_ids", json!({"maxItems": product::MAX_CATEGORIES})),
        ("OrderRequest", "items", json!({"minItems": 1, "maxItems": MAX_LINES})),
        ("*", "comment", note(COMMENT_MAX_CHARS)),
    ]
}

/// The deserializer's verdict on a probe body: the path of the error, if any.
type Probe = fn(&str) -> Option<String>;

fn probe<T: DeserializeOwned>(body: &str) -> Option<String> {
    let mut de = serde_json::Deserializer::from_str(body);
    serde_path_to_error::deserialize::<_, T>(crate::strict_json::Strict(&mut de)).err().map(|e| e.path().to_string())
}

/// Each JSON request-body schema and the type the server reads it into.
pub const REQUEST_BODIES: &[(&str, Probe)] = &[
    ("SignupRequest", probe::<auth::SignupRequest>),
    ("ResendRequest", probe::<auth::ResendRequest>),
    ("LoginRequest", probe::<auth::LoginRequest>),
    ("RefreshRequest", probe::<auth::RefreshRequest>),
    ("AddToCartRequest", probe::<cart::AddToCartRequest>),
    ("SetQuantityRequest", probe::<cart::SetQuantityRequest>),
    ("CategoryRequest", probe::<category::CategoryRequest>),
    ("CategoryPatchRequest", probe::<category::CategoryPatchRequest>),
    ("ProductRequest", probe::<product::ProductRequest>),
    ("ProductPatchRequest", probe::<product::ProductPatchRequest>),
    ("OrderRequest", probe::<order::OrderRequest>),
    ("PatchOrderRequest", probe::<order::PatchOrderRequest>),
    ("UpdateMeRequest", probe::<user::UpdateMeRequest>),
    ("PatchUserRequest", probe::<user::PatchUserRequest>),
    ("PutUserRequest", probe::<user::PutUserRequest>),
    ("PatchConversationRequest", probe::<support::PatchConversationRequest>),
];

/// A step from a body to a nested object.
#[derive(Clone)]
enum Step {
    Property(String),
    Item,
}

/// The body that puts `inner` at `steps`, and the path serde reports there.
fn nest(steps: &[Step], inner: Value, leaf: &str) -> (String, String) {
    let mut value = inner;
    for step in steps.iter().rev() {
        value = match step {
            Step::Property(p) => json!({ p: value }),
            Step::Item => json!([value]),
        };
    }
    let mut path = String::new();
    for step in steps {
        match step {
            Step::Property(p) if path.is_empty() => path.push_str(p),
            Step::Property(p) => path.push_str(&format!(".{p}")),
            Step::Item => path.push_str("[0]"),
        }
    }
    path = if path.is_empty() { leaf.to_owned() } else { format!("{path}.{leaf}") };
    (value.to_string(), path)
}

/// Asks `probe` about the object schema at `steps` and everything below it.
fn refine_request(schema: &mut Value, probe: Probe, steps: &mut Vec<Step>) {
    if let Some(items) = schema.get_mut("items") {
        steps.push(Step::Item);
        refine_request(items, probe, steps);
        steps.pop();
    }
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else { return };
    for (name, prop) in props.iter_mut() {
        let (body, path) = nest(steps, json!({ name: null }), name);
        if probe(&body).as_deref() != Some(path.as_str()) {
            set_nullable(prop);
        }
        steps.push(Step::Property(name.clone()));
        refine_request(prop, probe, steps);
        steps.pop();
    }
    let unknown = "unknown_field_probe";
    let (body, path) = nest(steps, json!({ unknown: 0 }), unknown);
    if probe(&body).as_deref() == Some(path.as_str()) {
        schema["additionalProperties"] = json!(false);
    }
}

/// Marks a schema nullable (OpenAPI 3.0 ignores siblings of `$ref`).
fn set_nullable(schema: &mut Value) {
    if let Some(reference) = schema.get("$ref").cloned() {
        *schema = json!({"allOf": [{"$ref": reference}], "nullable": true});
        return;
    }
    schema["nullable"] = json!(true);
    if let Some(values) = schema.get_mut("enum").and_then(Value::as_array_mut) {
        values.push(Value::Null);
    }
}

/// Response properties serialised only when they have a value
/// (`skip_serializing_if`): `(component, property)`, where the component is
/// the one the property sits in, inline objects included. Every other
/// property of a response is always sent.
const OMITTED_WHEN_EMPTY: &[(&str, &str)] = &[
    // `ChatMessageDto`, inline in the items of `MessagePage`.
    ("MessagePage", "client_id"),
];

/// Optional properties of response schemas are `null` when empty, and
/// present all the same: every property is required but those in
/// [`OMITTED_WHEN_EMPTY`]. `sent_as_null_only` leaves `required` as it is
/// (for a schema that is also a request body, where optional means absent).
fn refine_response(schema: &mut Value, name: &str, sent_as_null_only: bool) {
    if let Some(items) = schema.get_mut("items") {
        refine_response(items, name, sent_as_null_only);
    }
    let required: Vec<String> =
        schema["required"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect();
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else { return };
    let mut always = Vec::new();
    for (property, prop) in props.iter_mut() {
        if !required.contains(property) {
            set_nullable(prop);
        }
        if required.contains(property) || !OMITTED_WHEN_EMPTY.contains(&(name, property.as_str())) {
            always.push(json!(property));
        }
        refine_response(prop, name, sent_as_null_only);
    }
    if !sent_as_null_only && !always.is_empty() {
        schema["required"] = Value::Array(always);
    }
}

/// Names of the component schemas `value` refers to, transitively.
fn referenced(spec: &Value, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if let (Some(name), "$ref") =
                    (v.as_str().and_then(|r| r.strip_prefix("#/components/schemas/")), k.as_str())
                {
                    if !out.iter().any(|n| n == name) {
                        out.push(name.to_owned());
                        referenced(spec, &spec["components"]["schemas"][name], out);
                    }
                } else {
                    referenced(spec, v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| referenced(spec, v, out)),
        _ => {}
    }
}

/// Applies everything this module knows to the document's schemas.
pub fn refine(spec: &mut Value) {
    let mut responses = Vec::new();
    let mut requests = Vec::new();
    for item in spec["paths"].as_object().into_iter().flatten().map(|(_, item)| item) {
        for op in item.as_object().into_iter().flatten().map(|(_, op)| op) {
            referenced(spec, &op["responses"], &mut responses);
            referenced(spec, &op["requestBody"], &mut requests);
        }
    }
    let Some(schemas) = spec["components"]["schemas"].as_object_mut() else { return };
    for name in &responses {
        if let Some(schema) = schemas.get_mut(name).filter(|_| name != "Problem") {
            refine_response(schema, name, requests.contains(name));
        }
    }
    for (name, probe) in REQUEST_BODIES {
        if let Some(schema) = schemas.get_mut(*name) {
            refine_request(schema, *probe, &mut Vec::new());
        }
    }
    let rows = constraints();
    for name in &requests {
        if let Some(schema) = schemas.get_mut(name) {
            constrain(schema, name, &rows, true);
        }
    }
    verification(schemas);
}

/// Merges the rows of [`constraints`] for schema `name` into its properties
/// (`*` rows also into nested objects).
fn constrain(schema: &mut Value, name: &str, rows: &[(&str, &str, Value)], top: bool) {
    if let Some(items) = schema.get_mut("items") {
        constrain(items, name, rows, false);
    }
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else { return };
    for (property, prop) in props.iter_mut() {
        for (_, _, extra) in rows.iter().filter(|(t, p, _)| p == property && (*t == "*" || (top && *t == name))) {
            for (k, v) in extra.as_object().into_iter().flatten() {
                if k == "enum" && prop["nullable"] == json!(true) {
                    let mut values = v.as_array().cloned().unwrap_or_default();
                    values.push(Value::Null);
                    prop[k] = Value::Array(values);
                } else {
                    prop[k] = v.clone();
                }
            }
        }
        constrain(prop, name, rows, false);
    }
}

/// `POST /auth/verify` takes `email` + `code` or `token`, never a mix.
fn verification(schemas: &mut serde_json::Map<String, Value>) {
    let described = |name: &str| schemas.get("VerifyRequest").map(|s| s["properties"][name]["description"].clone());
    let (email_doc, code_doc, token_doc) = (described("email"), described("code"), described("token"));
    let mut email = email();
    email["description"] = email_doc.unwrap_or_default();
    let space = format!("[{TRIMMED}{SPACE}]");
    let code = json!({"type": "string", "pattern": format!("^{space}*[0-9]{{6}}{space}*$"),
                      "example": "042917", "description": code_doc.unwrap_or_default()});
    let token = json!({"type": "string", "pattern": format!("[^{TRIMMED}{SPACE}]"),
                       "description": token_doc.unwrap_or_default()});
    schemas.insert(
        "VerifyWithCode".to_owned(),
        json!({"type": "object", "description": "The 6-digit code from the mail and the address it was sent to.",
               "required": ["email", "code"], "additionalProperties": false,
               "properties": {"email": email, "code": code}}),
    );
    schemas.insert(
        "VerifyWithToken".to_owned(),
        json!({"type": "object", "description": "The token of the verification link.",
               "required": ["token"], "additionalProperties": false, "properties": {"token": token}}),
    );
    schemas.insert(
        "VerifyRequest".to_owned(),
        json!({"description": "`POST /auth/verify`: either `email` + `code`, or `token` (from the link).",
               "oneOf": [{"$ref": "#/components/schemas/VerifyWithCode"}, {"$ref": "#/components/schemas/VerifyWithToken"}]}),
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use coffee_domain::text::{Lines, note_text, plain_text};
    use regex::RegexBuilder;

    use super::*;

    fn matches(pattern: &str, value: &str) -> bool {
        RegexBuilder::new(pattern).size_limit(1 << 28).build().unwrap().is_match(value)
    }

    /// Texts at the edges of the plain-text policy.
    fn samples(max: usize) -> Vec<String> {
        let mut out: Vec<String> = ["", " ", "a", " a ", "\u{3000}a\u{a0}", "a b", "a<b", "a>", "\u{0}", "a\u{85}b"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        out.extend(["a\nb", "\ta\n", "a\u{b}b", "\u{feff}", "\u{2028}", "é"].map(str::to_owned));
        out.extend(["a\u{202e}b", "\u{200b}", "a\u{200d}b", "a\u{200c}b"].map(str::to_owned));
        out.extend(["<3", "2 > 1", "<", "a<<b", "<< 3", "x</p", "<!--", "<?", " <b> "].map(str::to_owned));
        out.push("x".repeat(max));
        out.push("x".repeat(max + 1));
        out.push(format!("  {}  ", "y".repeat(max)));
        out.push(format!(" {} ", "z".repeat(max + 1)));
        out
    }

    #[test]
    fn the_text_patterns_accept_exactly_what_the_validators_accept() {
        for max in [1, 2, 3, 100] {
            for s in samples(max) {
                let single = plain_text("f", &s, 1, max, Lines::Single).is_ok();
                assert_eq!(matches(&single_line(max), &s), single, "single line, max {max}: {s:?}");
                let multi = plain_text("f", &s, 0, max, Lines::Multi).is_ok();
                assert_eq!(matches(&multi_line(max), &s), multi, "multi line, max {max}: {s:?}");
                let schema = note(max);
                let both =
                    schema["allOf"].as_array().unwrap().iter().all(|p| matches(p["pattern"].as_str().unwrap(), &s));
                assert_eq!(both, note_text("f", &s, max).is_ok(), "note, max {max}: {s:?}");
            }
        }
    }

    #[test]
    fn the_search_pattern_bounds_the_trimmed_term() {
        let pattern = trimmed_text(3);
        for (s, ok) in [("", true), ("  abc\t", true), ("abcd", false), (" a b ", true), ("a\u{1}b", false)] {
            assert_eq!(matches(&pattern, s), ok, "{s:?}");
        }
    }

    #[test]
    fn every_request_probe_answers_for_its_own_fields() {
        // An unknown field fails at that field for the closed bodies, and
        // `null` for a required field fails at that field.
        for (name, probe) in REQUEST_BODIES {
            let unknown = probe(r#"{"unknown_field_probe": 0}"#);
            if *name == "LoginRequest" {
                assert_ne!(unknown.as_deref(), Some("unknown_field_probe"), "{name}");
            } else {
                assert_eq!(unknown.as_deref(), Some("unknown_field_probe"), "{name}");
            }
        }
        let signup = REQUEST_BODIES.iter().find(|(n, _)| *n == "SignupRequest").unwrap().1;
        assert_eq!(signup(r#"{"first_name": null}"#).as_deref(), Some("first_name"));
        let me = REQUEST_BODIES.iter().find(|(n, _)| *n == "UpdateMeRequest").unwrap().1;
        assert_eq!(me(r#"{"first_name": null}"#), None);
    }
}
