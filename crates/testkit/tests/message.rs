//! Reading received messages back: headers, parts, code and link.
#![allow(clippy::unwrap_used)]

use coffee_testkit::ReceivedMail;

fn mail(data: &str) -> ReceivedMail {
    ReceivedMail { from: "a@x.test".into(), to: vec!["b@y.test".into()], data: data.replace('\n', "\r\n") }
}

#[test]
fn plain_message_without_content_type_is_text() {
    let m = mail("Subject: Hello\n\nYour code is 000123.\n");
    assert_eq!(m.subject().unwrap(), "Hello");
    assert_eq!(m.text().unwrap(), "Your code is 000123.\n");
    assert_eq!(m.html(), None);
    assert_eq!(m.verification_code().unwrap(), "000123");
    assert_eq!(m.verification_link(), None);
}

#[test]
fn folded_headers_and_encoded_words() {
    let m = mail("Subject: =?utf-8?b?0J/RgNC40LLQtdGC?=\n =?utf-8?q?_world?= and more\nX-Other: a\n\tb\n\nbody\n");
    assert_eq!(m.subject().unwrap(), "Привет world and more");
    assert_eq!(m.header("x-other").unwrap(), "a\tb");
    assert_eq!(m.header("Missing"), None);
}

#[test]
fn nested_multipart_with_both_encodings() {
    let m = mail(concat!(
        "Content-Type: multipart/mixed; boundary=outer\n",
        "\n",
        "preamble\n",
        "--outer\n",
        "Content-Type: multipart/alternative;\n boundary=\"in ner\"\n",
        "\n",
        "--in ner\n",
        "Content-Type: text/plain; charset=utf-8\n",
        "Content-Transfer-Encoding: quoted-printable\n",
        "\n",
        "Caf=C3=A9 code 987654 at https://x.test/auth/verify?token=3D1234567=\n",
        "8.\n",
        "--in ner\n",
        "Content-Type: text/html; charset=utf-8\n",
        "Content-Transfer-Encoding: base64\n",
        "\n",
        "PGI+aGk8L2I+\n",
        "--in ner--\n",
        "--outer--\n",
    ));
    assert_eq!(m.text().unwrap(), "Café code 987654 at https://x.test/auth/verify?token=12345678.");
    assert_eq!(m.html().unwrap(), "<b>hi</b>");
    assert_eq!(m.verification_code().unwrap(), "987654");
    assert_eq!(m.verification_link().unwrap(), "https://x.test/auth/verify?token=12345678");
}

#[test]
fn code_ignores_digits_inside_words_links_and_longer_numbers() {
    let m = mail("\nOrder 1234567, ref abc123456, https://x.test/123456 then (424242).\n");
    assert_eq!(m.verification_code().unwrap(), "424242");
}

#[test]
fn link_prefers_the_verify_link() {
    let m = mail("\nSee https://shop.test/menu or <https://shop.test/auth/verify?token=t>.\n");
    assert_eq!(m.verification_link().unwrap(), "https://shop.test/auth/verify?token=t");
}
