//! The description of `GET /ws` for the OpenAPI document, which cannot
//! describe a WebSocket otherwise.

/// Markdown appended to the document's description.
pub const WEBSOCKET: &str = r#"

## Live chat and order updates: `GET /ws`

`GET /ws` (alias `GET /ws/support`) upgrades to a WebSocket carrying JSON text frames.

**Connecting.** Send `Authorization: Bearer <access token>`; browsers, which cannot, first get a
single-use ticket (30 s, any replica) from `POST /support/tickets` and connect to
`/ws?ticket=…`. Tokens are never accepted in the URL. Refusals are problem+json before the
upgrade: 400 (not an upgrade), 401 (`missing_token`, `invalid_token` — also when the account is
gone or the token's login ended —, `token_expired`), 403 `forbidden` (a browser `Origin` outside `CORS_ORIGINS` and the API's own
origin), 429 `too_many_sockets` (at most 5 sockets per user over all replicas). A ticket is
spent only by the upgrade it opens: one refused with 429, or with 503 while the replica shuts
down, works for another try.

**Client → server.**
* `{"type":"message","body","conversation_id"?,"client_id"?}` — a customer writes to their
  open conversation (their first message opens one); staff must name `conversation_id`. A
  repeated `client_id` (1–64 ASCII letters, digits, `-`, `_`, `.`, `:`) from the same sender
  in the same conversation is stored once and echoed again. `body` is 1–2000 characters of plain text: `<3` and `2 > 1` are
  text, but a `<` that would open markup (`<` followed by a letter, `/`, `!` or `?`) is
  refused.
* `{"type":"typing","conversation_id"?}` — passed on at most every 2 s.
* `{"type":"close","conversation_id"}` — staff only.
* `{"type":"resume","conversation_id","after_seq"}` — replays every stored message with a
  greater `seq`, in order; live delivery goes on without duplicates. A message that arrived
  live between connecting and `resume` is replayed too: keep messages by `seq`. A replay of
  more than 100 messages spends one more of the 30 other frames per 100; past the budget it
  stops with `rate_limited`, whose detail names the last `seq` sent: `resume` from there
  later.

**Server → client.**
* `{"type":"message","id","conversation_id","seq","sender_id","sender_role","body",
  "created_at","client_id"?}` — every stored message, also the sender's acknowledgement.
  `seq` counts 1, 2, 3 … per conversation without gaps, but frames can arrive out of `seq`
  order: a sender's own acknowledgement can overtake another sender's earlier message, and
  replicas publish independently. Place messages by `seq`, and `resume` from the last
  unbroken `seq` when a gap does not close within a moment.
* `{"type":"typing","conversation_id","sender_id","sender_role"}`
* `{"type":"conversation","id","customer_id","status","created_at","last_message_at",
  "last_seq"}` — opened or closed (also when its customer's account is deleted).
* `{"type":"order","id","number","status","updated_at","version","deleted"?}` — an order
  placed, moved, edited (comment, pickup time, items) or deleted (`"deleted": true`, with its
  last status; also each order of an account that `DELETE /users/{id}` removes, with
  `"version": 0`): the owner's own orders, every order for staff (the live order board).
  Frames of one order can arrive out of order (two admins moving it on two replicas): keep
  the one with the highest `version` (the order's `ETag`, as in `GET /orders`); a deletion
  is final.
* `{"type":"error","code","detail","client_id"?}` — a refused frame; the socket stays open.
  Codes: `malformed_frame` (not a JSON object, missing or wrong fields, binary),
  `unknown_frame_type`, `validation_failed` (body or `client_id`), `not_found` (a conversation
  you may not see), `forbidden` (a customer closing), `conversation_closed`,
  `rate_limited` (more than 10 messages, or 30 other frames, in any 10 s on one socket; a frame
  refused before it is handled — not JSON, an unknown type, invalid fields, binary — counts as
  another frame, and past the budget one `rate_limited` answers such frames for the next 10 s),
  `service_unavailable` (also when the account's rights, checked before every frame that
  acts, could not be read: send the frame again); and `resync` when live delivery was
  interrupted: `resume`.

Customers receive their own conversations and orders; staff receive everything.

**Closing.** A frame over 16 KiB closes the socket with 1009 (as soon as its header says so), a
text frame that is not UTF-8 with 1007. The server pings every 20 s and
closes a client silent for 60 s (1000). 4001: the credential expired, the account's access
changed, or the login the socket was opened with ended (`POST /auth/logout`; checked when it
happens, before every frame the client sends that acts, and again at every server ping and
when live delivery resumes, instead of `resync`, so within one ping interval even if the news
was lost) — connect again. 1013: the client fell
behind — reconnect and `resume`. 1001: the server is shutting down (from the start of its
drain an upgrade is refused with 503 `service_unavailable` and `Retry-After`: connect again,
to another replica). A client that stops reading is
dropped without a close frame once a frame has waited 5 s to be sent (the buffers between
server and client are full): reconnect and `resume`.
"#;
