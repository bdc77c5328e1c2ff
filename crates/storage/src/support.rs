//! The conversation repository: conversations numbered by a counter on
//! their own row, so that appending a message is one short transaction that
//! serialises on that row and numbers messages without gaps.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::RepoError;
use coffee_domain::query::{ListQuery, Page};
use coffee_domain::support::{
    Appended, Closing, Conversation, ConversationField, ConversationRepository, ConversationStatus, History,
    HistoryWindow, Message, NewMessage, Thread,
};
use coffee_domain::user::Role;
use sea_orm::sea_query::{Expr, InsertStatement, OnConflict, Query, UpdateStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::entity::{conversations as conv, messages as msg};
use crate::list::{ListMapping, fetch_page};
use crate::{Conn, repo_err};

/// [`ConversationRepository`] over SeaORM.
#[derive(Debug, Clone)]
pub struct SeaConversationRepository {
    db: Conn,
}

impl SeaConversationRepository {
    /// A repository on the pool, or inside a unit of work.
    pub fn new(db: impl Into<Conn>) -> Self {
        Self { db: db.into() }
    }
}

pub(crate) const MAPPING: ListMapping<conv::Entity, ConversationField> = ListMapping {
    column: |f| match f {
        ConversationField::Status => conv::Column::Status,
        ConversationField::CustomerId => conv::Column::CustomerId,
        ConversationField::LastMessageAt => conv::Column::LastMessageAt,
        ConversationField::CreatedAt => conv::Column::CreatedAt,
    },
    search: &[],
    search_beyond: None,
    folded: |_| None,
    id: conv::Column::Id,
    custom: |_| None,
    version: None,
};

fn corrupt(what: String) -> RepoError {
    RepoError::Other(what.into())
}

pub(crate) fn conversation(m: conv::Model) -> Result<Conversation, RepoError> {
    Ok(Conversation {
        status: ConversationStatus::parse(&m.status)
            .ok_or_else(|| corrupt(format!("unknown status {:?} in conversations", m.status)))?,
        id: m.id,
        customer_id: m.customer_id,
        created_at: m.created_at,
        last_message_at: m.last_message_at,
        last_seq: m.last_seq,
    })
}

fn message(m: msg::Model) -> Result<Message, RepoError> {
    Ok(Message {
        sender_role: Role::parse(&m.sender_role)
            .ok_or_else(|| corrupt(format!("unknown role {:?} in messages", m.sender_role)))?,
        id: m.id,
        conversation_id: m.conversation_id,
        seq: m.seq,
        sender_id: m.sender_id,
        body: m.body,
        client_id: m.client_id,
        created_at: m.created_at,
    })
}

/// `UPDATE conversations SET last_seq = last_seq + 1, last_message_at = now
/// WHERE <which> AND status = 'open' RETURNING *`: takes the next `seq` and,
/// on PostgreSQL, the row lock that makes concurrent appends wait their turn.
fn next_seq(which: Expr, now: DateTime<Utc>) -> UpdateStatement {
    use conv::Column as C;
    Query::update()
        .table(conv::Entity)
        .value(C::LastSeq, Expr::col(C::LastSeq).add(1))
        .value(C::LastMessageAt, now)
        .and_where(which)
        .and_where(Expr::col(C::Status).eq(ConversationStatus::Open.as_str()))
        .returning_all()
        .to_owned()
}

/// How often a message opens the customer's conversation anew when agents
/// keep closing the open one under it (once is the common race).
const OPEN_ATTEMPTS: u32 = 3;

/// Inserts an open conversation for `customer` unless one is open; returns
/// its id only when it was inserted.
fn open_for(customer: Uuid, at: DateTime<Utc>) -> Result<InsertStatement, RepoError> {
    use conv::Column as C;
    Ok(Query::insert()
        .into_table(conv::Entity)
        .columns([C::Id, C::CustomerId, C::Status, C::CreatedAt, C::LastMessageAt, C::LastSeq])
        .values([
            Uuid::now_v7().into(),
            customer.into(),
            ConversationStatus::Open.as_str().into(),
            at.into(),
            at.into(),
            0_i64.into(),
        ])
        .map_err(|e| RepoError::Other(Box::new(e)))?
        .on_conflict(
            OnConflict::column(C::CustomerId)
                // A literal, not a bound parameter: the databases match
                // it against the partial index's own predicate.
                .target_and_where(Expr::cust("status = 'open'"))
                .do_nothing()
                .to_owned(),
        )
        .returning_col(C::Id)
        .to_owned())
}

/// The message `new` repeats: the one its sender stored in `conversation`
/// under the same `client_id`. A client_id is its sender's own: another
/// sender's is no repeat.
async fn earlier(
    db: &impl ConnectionTrait,
    conversation: Uuid,
    new: &NewMessage,
) -> Result<Option<Message>, RepoError> {
    let Some(client_id) = &new.client_id else { return Ok(None) };
    msg::Entity::find()
        .filter(msg::Column::ConversationId.eq(conversation))
        .filter(msg::Column::SenderId.eq(new.sender_id))
        .filter(msg::Column::ClientId.eq(client_id.as_str()))
        .one(db)
        .await
        .map_err(repo_err)?
        .map(message)
        .transpose()
}

#[async_trait]
impl ConversationRepository for SeaConversationRepository {
    async fn find(&self, id: Uuid) -> Result<Option<Conversation>, RepoError> {
        conv::Entity::find_by_id(id).one(&self.db).await.map_err(repo_err)?.map(conversation).transpose()
    }

    async fn open_of(&self, customer: Uuid) -> Result<Option<Conversation>, RepoError> {
        conv::Entity::find()
            .filter(conv::Column::CustomerId.eq(customer))
            .filter(conv::Column::Status.eq(ConversationStatus::Open.as_str()))
            .one(&self.db)
            .await
            .map_err(repo_err)?
            .map(conversation)
            .transpose()
    }

    async fn list(
        &self,
        query: &ListQuery<ConversationField>,
        customer: Option<Uuid>,
    ) -> Result<Page<Conversation>, RepoError> {
        let mut select = conv::Entity::find();
        if let Some(customer) = customer {
            select = select.filter(conv::Column::CustomerId.eq(customer));
        }
        let (rows, total) = fetch_page(&self.db, select, query, &MAPPING).await.map_err(repo_err)?;
        let items = rows.into_iter().map(conversation).collect::<Result<_, _>>()?;
        Ok(query.page_of(items, total))
    }

    async fn append(&self, thread: Thread, new: &NewMessage) -> Result<Appended, RepoError> {
        use conv::Column as C;
        let atomic = self.db.atomic().await.map_err(repo_err)?;
        let db = atomic.conn();
        let (row, opened) = match thread {
            Thread::Existing(id) => (db.query_one(&next_seq(Expr::col(C::Id).eq(id), new.created_at)).await, false),
            Thread::OpenOf(customer) => {
                let mut attempts = 0;
                loop {
                    // Opens the customer's conversation unless one is open; the
                    // partial unique index decides between concurrent openers.
                    let opened = db.query_one(&open_for(customer, new.created_at)?).await.map_err(repo_err)?.is_some();
                    let row = db.query_one(&next_seq(Expr::col(C::CustomerId).eq(customer), new.created_at)).await;
                    attempts += 1;
                    // None: the open conversation that kept this one from
                    // opening was closed before the next statement (an agent
                    // closing it as the customer writes; READ COMMITTED sees
                    // the close). The customer's next message opens a new one,
                    // and this is that message.
                    if !matches!(row, Ok(None)) || attempts == OPEN_ATTEMPTS {
                        break (row, opened);
                    }
                }
            }
        };
        let Some(row) = row.map_err(repo_err)? else {
            drop(atomic);
            let Thread::Existing(id) = thread else {
                return Err(RepoError::Unavailable(
                    format!("the customer's open conversation was closed {OPEN_ATTEMPTS} times under a new message")
                        .into(),
                ));
            };
            let Some(closed) = self.find(id).await? else { return Ok(Appended::Missing) };
            // A retry of a message stored before the conversation closed (its
            // acknowledgement lost with the connection) is still that message.
            // A closed conversation takes no more, so no lock is needed.
            return Ok(match earlier(&self.db, id, new).await? {
                Some(earlier) => Appended::Duplicate { conversation: closed, message: earlier },
                None => Appended::Closed(closed),
            });
        };
        let after = conversation(conv::Model::from_query_result(&row, "").map_err(repo_err)?)?;
        // Under the row lock: a concurrent append with the same client_id has
        // committed (and is seen here) or waits behind this one.
        if let Some(earlier) = earlier(db, after.id, new).await? {
            drop(atomic); // gives the seq back
            let conversation = self.find(after.id).await?.ok_or_else(|| corrupt("conversation vanished".into()))?;
            return Ok(Appended::Duplicate { conversation, message: earlier });
        }
        let stored = msg::Model {
            id: new.id,
            conversation_id: after.id,
            seq: after.last_seq,
            sender_id: Some(new.sender_id),
            sender_role: new.sender_role.as_str().to_owned(),
            body: new.body.clone(),
            client_id: new.client_id.clone(),
            created_at: new.created_at,
        };
        msg::Entity::insert(msg::ActiveModel {
            id: Set(stored.id),
            conversation_id: Set(stored.conversation_id),
            seq: Set(stored.seq),
            sender_id: Set(stored.sender_id),
            sender_role: Set(stored.sender_role.clone()),
            body: Set(stored.body.clone()),
            client_id: Set(stored.client_id.clone()),
            created_at: Set(stored.created_at),
        })
        .exec_without_returning(db)
        .await
        .map_err(repo_err)?;
        atomic.commit().await.map_err(repo_err)?;
        Ok(Appended::Stored { conversation: after, message: message(stored)?, opened })
    }

    async fn history(&self, conversation: Uuid, window: &HistoryWindow) -> Result<History, RepoError> {
        let limit = u64::from(window.limit);
        let mut select = msg::Entity::find().filter(msg::Column::ConversationId.eq(conversation));
        if let Some(after) = window.after_seq {
            select = select.filter(msg::Column::Seq.gt(after));
        }
        if let Some(before) = window.before_seq {
            select = select.filter(msg::Column::Seq.lt(before));
        }
        let forward = window.after_seq.is_some();
        select = if forward { select.order_by_asc(msg::Column::Seq) } else { select.order_by_desc(msg::Column::Seq) };
        // One more than asked tells whether there is more.
        let mut rows = select.limit(limit + 1).all(&self.db).await.map_err(repo_err)?;
        let has_more = rows.len() as u64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        if !forward {
            rows.reverse();
        }
        let items = rows.into_iter().map(message).collect::<Result<_, _>>()?;
        Ok(History { items, has_more })
    }

    async fn close(&self, id: Uuid, _now: DateTime<Utc>) -> Result<Closing, RepoError> {
        use conv::Column as C;
        let close = Query::update()
            .table(conv::Entity)
            .value(C::Status, ConversationStatus::Closed.as_str())
            .and_where(Expr::col(C::Id).eq(id))
            .and_where(Expr::col(C::Status).eq(ConversationStatus::Open.as_str()))
            .returning_all()
            .to_owned();
        if let Some(row) = self.db.query_one(&close).await.map_err(repo_err)? {
            return Ok(Closing::Closed(conversation(conv::Model::from_query_result(&row, "").map_err(repo_err)?)?));
        }
        Ok(match self.find(id).await? {
            Some(c) => Closing::AlreadyClosed(c),
            None => Closing::Missing,
        })
    }
}
