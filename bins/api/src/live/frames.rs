//! The JSON text frames of `/ws`: what clients send, and what the server sends.

use chrono::{DateTime, Utc};
use coffee_domain::live::{LiveEvent, OrderUpdate};
use coffee_domain::support::{ClientId, Conversation, Message, MessageBody, OutgoingMessage};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::dto::order::OrderStatusDto;
use crate::dto::support::{ChatMessageDto, ConversationDto};
use crate::dto::user::RoleDto;

/// A frame from a client.
#[derive(Debug, PartialEq)]
pub enum ClientFrame {
    /// `{"type":"message","body","conversation_id"?,"client_id"?}`
    Message(OutgoingMessage),
    /// `{"type":"typing","conversation_id"?}`
    Typing {
        /// The conversation (staff must name it).
        conversation_id: Option<Uuid>,
    },
    /// `{"type":"close","conversation_id"}` (staff)
    Close {
        /// The conversation to close.
        conversation_id: Uuid,
    },
    /// `{"type":"resume","conversation_id","after_seq"}`
    Resume {
        /// The conversation.
        conversation_id: Uuid,
        /// Replay every message with a greater `seq`.
        after_seq: i64,
    },
}

/// Why a client frame was refused (sent back as an `error` frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// Stable code, as in problem responses.
    pub code: &'static str,
    /// For people.
    pub detail: String,
    /// The `client_id` of the refused message, when it named one.
    pub client_id: Option<String>,
}

impl FrameError {
    fn malformed(detail: impl Into<String>) -> Self {
        Self { code: "malformed_frame", detail: detail.into(), client_id: None }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageFields {
    body: String,
    conversation_id: Option<Uuid>,
    client_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TypingFields {
    conversation_id: Option<Uuid>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseFields {
    conversation_id: Uuid,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResumeFields {
    conversation_id: Uuid,
    after_seq: i64,
}

fn fields<T: DeserializeOwned>(
    kind: &str,
    object: serde_json::Map<String, serde_json::Value>,
) -> Result<T, FrameError> {
    serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| FrameError::malformed(format!("A `{kind}` frame: {e}.")))
}

impl ClientFrame {
    /// Parses and validates a text frame.
    ///
    /// # Errors
    /// Not a JSON object, no or an unknown `type`, fields of the wrong shape
    /// (`malformed_frame`, `unknown_frame_type`), or a message breaking the
    /// text rules (`validation_failed`).
    pub fn parse(text: &str) -> Result<Self, FrameError> {
        let DistinctKeys(mut object) = serde_json::from_str(text)
            .map_err(|e| FrameError::malformed(format!("A frame is one JSON object: {e}.")))?;
        let kind = match object.remove("type") {
            Some(serde_json::Value::String(kind)) => kind,
            _ => return Err(FrameError::malformed("A frame needs a `type` (message, typing, close or resume).")),
        };
        match kind.as_str() {
            "message" => {
                let f: MessageFields = fields(&kind, object)?;
                let invalid = |e: coffee_domain::FieldError| FrameError {
                    code: "validation_failed",
                    detail: format!("{}: {}.", e.field, e.message),
                    client_id: f.client_id.clone(),
                };
                let body = MessageBody::parse(&f.body).map_err(invalid)?;
                let client_id = f.client_id.as_deref().map(ClientId::parse).transpose().map_err(invalid)?;
                Ok(Self::Message(OutgoingMessage { body, conversation_id: f.conversation_id, client_id }))
            }
            "typing" => Ok(Self::Typing { conversation_id: fields::<TypingFields>(&kind, object)?.conversation_id }),
            "close" => Ok(Self::Close { conversation_id: fields::<CloseFields>(&kind, object)?.conversation_id }),
            "resume" => {
                let f: ResumeFields = fields(&kind, object)?;
                if f.after_seq < 0 {
                    return Err(FrameError::malformed("`after_seq` must be 0 or greater."));
                }
                Ok(Self::Resume { conversation_id: f.conversation_id, after_seq: f.after_seq })
            }
            other => Err(FrameError {
                code: "unknown_frame_type",
                detail: format!("Unknown frame type {other:?}: use message, typing, close or resume."),
                client_id: None,
            }),
        }
    }
}

/// A JSON object whose keys are distinct. A frame naming a key twice is
/// refused, as a REST body is (serde's derived structs refuse a duplicate
/// field), rather than its last copy silently winning.
struct DistinctKeys(serde_json::Map<String, serde_json::Value>);

impl<'de> Deserialize<'de> for DistinctKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = DistinctKeys;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<DistinctKeys, A::Error> {
                let mut object = serde_json::Map::new();
                while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
                    if object.contains_key(&key) {
                        return Err(serde::de::Error::custom(format_args!("`{key}` appears twice")));
                    }
                    object.insert(key, value);
                }
                Ok(DistinctKeys(object))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

/// A frame from the server.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// A stored message (also the sender's acknowledgement, and what `resume` replays).
    Message(ChatMessageDto),
    /// Someone types in a conversation.
    Typing {
        /// The conversation.
        conversation_id: Uuid,
        /// Who types.
        sender_id: Uuid,
        /// Their role.
        sender_role: RoleDto,
    },
    /// A conversation was opened or closed.
    Conversation(ConversationDto),
    /// An order was placed or changed status.
    Order {
        /// The order.
        id: Uuid,
        /// Its number.
        number: i64,
        /// Its status now.
        status: OrderStatusDto,
        /// When it changed.
        updated_at: DateTime<Utc>,
        /// Its version after the change (its `ETag`): frames of one order
        /// can arrive out of order, and the highest version is the latest.
        /// 0 in a deletion that comes with its account's.
        version: i64,
        /// Deleted (absent from the frame otherwise): the board drops it.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        deleted: bool,
    },
    /// A refused frame, or news about the connection.
    Error {
        /// Stable code.
        code: &'static str,
        /// For people.
        detail: String,
        /// The `client_id` of the refused message.
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
}

impl ServerFrame {
    /// The frame of a stored message.
    pub fn message(m: Message) -> Self {
        Self::Message(m.into())
    }

    /// The frame of a conversation.
    pub fn conversation(c: Conversation) -> Self {
        Self::Conversation(c.into())
    }

    /// The frame of a refused client frame.
    pub fn error(e: FrameError) -> Self {
        Self::Error { code: e.code, detail: e.detail, client_id: e.client_id }
    }

    /// The frame that announces `event`; `None` for events that are not frames.
    pub fn of_event(event: &LiveEvent) -> Option<Self> {
        Some(match event {
            LiveEvent::Message { message, .. } => Self::message(message.clone()),
            LiveEvent::Typing { conversation_id, sender_id, sender_role, .. } => Self::Typing {
                conversation_id: *conversation_id,
                sender_id: *sender_id,
                sender_role: (*sender_role).into(),
            },
            LiveEvent::Conversation(c) => Self::conversation(c.clone()),
            LiveEvent::Order(OrderUpdate { id, number, status, updated_at, version, deleted, .. }) => Self::Order {
                id: *id,
                number: *number,
                status: (*status).into(),
                updated_at: *updated_at,
                version: *version,
                deleted: *deleted,
            },
            LiveEvent::AccessChanged { .. } => return None,
        })
    }

    /// The JSON text.
    pub fn text(&self) -> String {
        // Serialising these plain structs cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn code(text: &str) -> &'static str {
        ClientFrame::parse(text).unwrap_err().code
    }

    #[test]
    fn every_kind_of_frame_parses() {
        let id = Uuid::now_v7();
        let m = ClientFrame::parse(&format!(
            r#"{{"type":"message","body":"2 > 1 <3","conversation_id":"{id}","client_id":"c1"}}"#
        ))
        .unwrap();
        let ClientFrame::Message(m) = m else { panic!("a message") };
        assert_eq!((m.body.as_str(), m.conversation_id, m.client_id.unwrap().as_str()), ("2 > 1 <3", Some(id), "c1"));
        assert_eq!(ClientFrame::parse(r#"{"type":"typing"}"#).unwrap(), ClientFrame::Typing { conversation_id: None });
        assert_eq!(
            ClientFrame::parse(&format!(r#"{{"type":"close","conversation_id":"{id}"}}"#)).unwrap(),
            ClientFrame::Close { conversation_id: id }
        );
        assert_eq!(
            ClientFrame::parse(&format!(r#"{{"type":"resume","conversation_id":"{id}","after_seq":3}}"#)).unwrap(),
            ClientFrame::Resume { conversation_id: id, after_seq: 3 }
        );
    }

    #[test]
    fn bad_frames_are_named() {
        assert_eq!(code("hello"), "malformed_frame");
        assert_eq!(code("[1]"), "malformed_frame");
        assert_eq!(code(r#"{"type":"message","body":"hi","body":"<b>x</b>"}"#), "malformed_frame");
        assert_eq!(code(r#"{"type":"typing","type":"message","body":"x"}"#), "malformed_frame");
        assert!(ClientFrame::parse(r#"{"type":"message","body":"hi"}"#).is_ok());
        assert_eq!(code(r#"{"body":"x"}"#), "malformed_frame");
        assert_eq!(code(r#"{"type":"shout","body":"x"}"#), "unknown_frame_type");
        assert_eq!(code(r#"{"type":"message"}"#), "malformed_frame");
        assert_eq!(code(r#"{"type":"message","body":"x","extra":1}"#), "malformed_frame");
        assert_eq!(code(r#"{"type":"close"}"#), "malformed_frame");
        assert_eq!(code(r#"{"type":"resume","conversation_id":"nope","after_seq":1}"#), "malformed_frame");
        assert_eq!(code(r#"{"type":"message","body":""}"#), "validation_failed");
        assert_eq!(code(r#"{"type":"message","body":"<b>hi</b>"}"#), "validation_failed");
        let long = format!(r#"{{"type":"message","body":"{}","client_id":"k"}}"#, "x".repeat(2001));
        let e = ClientFrame::parse(&long).unwrap_err();
        assert_eq!((e.code, e.client_id.as_deref()), ("validation_failed", Some("k")));
    }

    #[test]
    fn server_frames_carry_their_type() {
        let text = ServerFrame::error(FrameError::malformed("x")).text();
        assert_eq!(text, r#"{"type":"error","code":"malformed_frame","detail":"x"}"#);
    }
}
