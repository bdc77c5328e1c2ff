//! How each [`Mail`] looks: subject, plain text and HTML (sent as multipart/alternative).

use coffee_domain::mail::{Mail, OrderSummary};
use coffee_domain::money::Currency;
use coffee_domain::text::escape_html;

/// A mail ready to send: every part is complete, interpolated values in
/// [`html`](Self::html) are HTML-escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    /// The `Subject` header.
    pub subject: String,
    /// The `text/plain` part.
    pub text: String,
    /// The `text/html` part.
    pub html: String,
}

/// Renders `mail` in English.
pub fn render(mail: &Mail) -> RenderedMail {
    match mail {
        Mail::Verification { code, link, valid_minutes, .. } => verification(code, link, *valid_minutes),
        Mail::NewOrder { order, .. } => new_order(order),
        Mail::OrderStatus { order, status, .. } => order_status(order, status),
    }
}

/// An amount of minor units as people write it: `12.50 UZS`, `350 JPY`.
pub fn format_money(minor: i64, currency: &str) -> String {
    // The code comes from the shop's validated configuration; one this build
    // does not know (a payload queued by another version) is shown as is.
    Currency::parse("currency", currency)
        .map_or_else(|_| format!("{minor} (minor units) {currency}"), |c| c.format(minor))
}

fn pickup_text(order: &OrderSummary) -> String {
    order.pickup.as_deref().map_or_else(|| "as soon as possible".to_owned(), |at| format!("at {at} (shop time)"))
}

/// The customer's text with every line quoted (`> `): however it is laid
/// out, no line of it can pass for the mail's own (a forged signature, a
/// second "New order" block).
fn quoted(text: &str) -> String {
    text.lines().map(|line| format!("> {}", line.replace('\r', ""))).collect::<Vec<_>>().join("\n")
}

fn new_order(order: &OrderSummary) -> RenderedMail {
    let subject = format!("New order #{} — {}", order.number, format_money(order.total, &order.currency));
    let lines: Vec<String> = order
        .items
        .iter()
        .map(|l| format!("  {} × {} — {}", l.quantity, l.name, format_money(l.line_total, &order.currency)))
        .collect();
    let comment =
        order.comment.as_deref().map(|c| format!("\nThe customer's comment:\n{}\n", quoted(c))).unwrap_or_default();
    let text = format!(
        "New order #{number} from {customer}.\n\n{lines}\n\nTotal: {total}\nPickup: {pickup}\n{comment}",
        number = order.number,
        customer = order.customer,
        lines = lines.join("\n"),
        total = format_money(order.total, &order.currency),
        pickup = pickup_text(order),
    );
    let rows: String = order
        .items
        .iter()
        .map(|l| {
            format!(
                "<tr><td>{}</td><td>{}</td><td style=\"text-align:right\">{}</td></tr>",
                l.quantity,
                escape_html(&l.name),
                escape_html(&format_money(l.line_total, &order.currency))
            )
        })
        .collect();
    let comment_html = order
        .comment
        .as_deref()
        .map(|c| {
            format!(
                "<p><b>The customer's comment:</b></p>\n<blockquote style=\"white-space:pre-wrap;margin:0 0 0 8px;\
                 padding-left:8px;border-left:3px solid #ccc\">{}</blockquote>",
                escape_html(c)
            )
        })
        .unwrap_or_default();
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family:Arial,Helvetica,sans-serif;color:#222;line-height:1.5">
<h1 style="font-size:22px">New order #{number}</h1>
<p>From {customer}.</p>
<table style="border-collapse:collapse" cellpadding="4">{rows}
<tr><td></td><td><b>Total</b></td><td style="text-align:right"><b>{total}</b></td></tr></table>
<p><b>Pickup:</b> {pickup}</p>
{comment_html}
</body>
</html>
"#,
        title = escape_html(&subject),
        number = order.number,
        customer = escape_html(&order.customer),
        total = escape_html(&format_money(order.total, &order.currency)),
        pickup = escape_html(&pickup_text(order)),
    );
    RenderedMail { subject, text, html }
}

fn order_status(order: &OrderSummary, status: &str) -> RenderedMail {
    let (subject, message) = if status == "ready" {
        (format!("Your order #{} is ready", order.number), "is ready. Come and pick it up at the counter.")
    } else {
        (format!("Your order #{} was cancelled", order.number), "was cancelled by the shop. We are sorry.")
    };
    let total = format_money(order.total, &order.currency);
    let text =
        format!("Hello,\n\nyour order #{number} ({total}) {message}\n\nThe Coffee Shop team\n", number = order.number);
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family:Arial,Helvetica,sans-serif;color:#222;line-height:1.5">
<p>Hello,</p>
<p>your order <b>#{number}</b> ({total}) {message}</p>
<p>The Coffee Shop team</p>
</body>
</html>
"#,
        title = escape_html(&subject),
        number = order.number,
        total = escape_html(&total),
        message = escape_html(message),
    );
    RenderedMail { subject, text, html }
}

fn verification(code: &str, link: &str, valid_minutes: i64) -> RenderedMail {
    let subject = "Confirm your e-mail address for Coffee Shop".to_owned();
    let valid = human_duration(valid_minutes);
    let text = format!(
        "Hello,\n\
         \n\
         thank you for signing up at Coffee Shop. To confirm your e-mail address, \
         enter this code:\n\
         \n\
         \x20   {code}\n\
         \n\
         or open this link:\n\
         \n\
         {link}\n\
         \n\
         The code and the link are valid for {valid}.\n\
         \n\
         If you did not sign up, you can ignore this e-mail.\n\
         \n\
         The Coffee Shop team\n"
    );
    let (code, link, valid, title) = (escape_html(code), escape_html(link), escape_html(&valid), escape_html(&subject));
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family:Arial,Helvetica,sans-serif;color:#222;line-height:1.5">
<p>Hello,</p>
<p>thank you for signing up at Coffee Shop. To confirm your e-mail address, enter this code:</p>
<p style="font-family:monospace;font-size:32px;font-weight:bold;letter-spacing:6px">{code}</p>
<p>or <a href="{link}">confirm your address with one click</a>.</p>
<p style="font-size:13px;color:#555">If the link does not open, copy it into your browser:<br>{link}</p>
<p>The code and the link are valid for {valid}.</p>
<p style="color:#555">If you did not sign up, you can ignore this e-mail.</p>
<p>The Coffee Shop team</p>
</body>
</html>
"#
    );
    RenderedMail { subject, text, html }
}

/// A duration in minutes for people: `"15 minutes"`, `"1 hour 30 minutes"`,
/// `"24 hours"`, `"2 days"`.
pub fn human_duration(minutes: i64) -> String {
    const HOUR: i64 = 60;
    const DAY: i64 = 24 * HOUR;
    let minutes = minutes.max(0);
    if minutes >= 2 * DAY && minutes % DAY == 0 {
        plural(minutes / DAY, "day")
    } else if minutes >= HOUR && minutes % HOUR == 0 {
        plural(minutes / HOUR, "hour")
    } else if minutes > HOUR {
        format!("{} {}", plural(minutes / HOUR, "hour"), plural(minutes % HOUR, "minute"))
    } else {
        plural(minutes, "minute")
    }
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verification_mail(link: &str) -> Mail {
        Mail::Verification {
            to: "ann@example.com".into(),
            code: "042137".into(),
            link: link.into(),
            valid_minutes: 24 * 60,
        }
    }

    #[test]
    fn verification_mail_shows_code_link_and_validity() {
        let link = "http://localhost:8080/auth/verify?token=abc";
        let r = render(&verification_mail(link));
        assert_eq!(r.subject, "Confirm your e-mail address for Coffee Shop");
        for part in [&r.text, &r.html] {
            assert!(part.contains("042137"), "{part}");
            assert!(part.contains(link), "{part}");
            assert!(part.contains("valid for 24 hours"), "{part}");
        }
        assert!(r.text.contains("\n    042137\n"));
        assert!(r.html.contains(&format!(r#"<a href="{link}">"#)));
    }

    #[test]
    fn html_part_escapes_interpolated_values() {
        let link = r#"https://x.test/v?a=1&b="><script>alert('x')</script>"#;
        let r = render(&verification_mail(link));
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("a=1&amp;b=&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        // The plain-text part is not HTML and keeps the link verbatim.
        assert!(r.text.contains(link));
    }

    fn order() -> OrderSummary {
        OrderSummary {
            number: 42,
            customer: "Ann <ann@example.com>".to_owned(),
            items: vec![
                coffee_domain::mail::OrderSummaryLine { name: "Latte".to_owned(), quantity: 2, line_total: 700 },
                coffee_domain::mail::OrderSummaryLine {
                    name: "<b>Cake</b>".to_owned(),
                    quantity: 1,
                    line_total: 1_299,
                },
            ],
            total: 1_999,
            currency: "UZS".to_owned(),
            pickup: Some("Fri 6 Mar 2026, 20:15".to_owned()),
            comment: Some("Oat milk & no sugar".to_owned()),
        }
    }

    #[test]
    fn the_new_order_mail_lists_number_customer_lines_total_and_pickup() {
        let r = render(&Mail::NewOrder { to: vec!["boss@example.com".to_owned()], order: order() });
        assert_eq!(r.subject, "New order #42 — 19.99 UZS");
        for part in [&r.text, &r.html] {
            for needle in ["#42", "ann@example.com", "Latte", "7.00 UZS", "19.99 UZS", "Fri 6 Mar 2026, 20:15"] {
                assert!(part.contains(needle), "{needle} missing in {part}");
            }
        }
        assert!(r.text.contains("> Oat milk & no sugar"));
        assert!(r.html.contains("Oat milk &amp; no sugar") && !r.html.contains("<b>Cake</b>"));
    }

    #[test]
    fn every_line_of_a_comment_is_quoted_so_none_passes_for_the_mails_own() {
        let forged = "thanks\r\n\nThe Coffee Shop team\n--\nNew order #1 from ceo@example.com.\n\nTotal: 0.00 UZS";
        let r =
            render(&Mail::NewOrder { to: vec![], order: OrderSummary { comment: Some(forged.to_owned()), ..order() } });
        let comment = r.text.split_once("The customer's comment:\n").expect("the comment is in the mail").1;
        assert_eq!(
            comment.trim_end(),
            "> thanks\n> \n> The Coffee Shop team\n> --\n> New order #1 from ceo@example.com.\n> \n> Total: 0.00 UZS"
        );
        assert_eq!(
            r.text.matches("\nNew order #").count() + usize::from(r.text.starts_with("New order #")),
            1,
            "{}",
            r.text
        );
        assert!(!r.text.contains('\r'));
    }

    #[test]
    fn the_customer_is_told_when_the_order_is_ready_or_cancelled() {
        let ready =
            render(&Mail::OrderStatus { to: "ann@example.com".to_owned(), order: order(), status: "ready".to_owned() });
        assert_eq!(ready.subject, "Your order #42 is ready");
        assert!(ready.text.contains("pick it up"));
        let cancelled = render(&Mail::OrderStatus {
            to: "ann@example.com".to_owned(),
            order: order(),
            status: "cancelled".to_owned(),
        });
        assert_eq!(cancelled.subject, "Your order #42 was cancelled");
        let asap = OrderSummary { pickup: None, ..order() };
        assert!(render(&Mail::NewOrder { to: vec![], order: asap }).text.contains("as soon as possible"));
        assert_eq!(format_money(5, "EUR"), "0.05 EUR");
        assert_eq!(format_money(500, "JPY"), "500 JPY");
        assert_eq!(format_money(1_250, "KWD"), "1.250 KWD");
        assert_eq!(format_money(500, "ZZZ"), "500 (minor units) ZZZ");
    }

    #[test]
    fn durations_read_naturally() {
        let cases = [
            (0, "0 minutes"),
            (1, "1 minute"),
            (15, "15 minutes"),
            (60, "1 hour"),
            (90, "1 hour 30 minutes"),
            (121, "2 hours 1 minute"),
            (24 * 60, "24 hours"),
            (36 * 60, "36 hours"),
            (48 * 60, "2 days"),
            (7 * 24 * 60, "7 days"),
            (-5, "0 minutes"),
        ];
        for (minutes, expected) in cases {
            assert_eq!(human_duration(minutes), expected, "{minutes}");
        }
    }
}
