//! The user repository: users and their e-mail verifications.

use std::sync::OnceLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::RepoError;
use coffee_domain::query::{Filter, ListQuery, Op, Page, Value};
use coffee_domain::support::ConversationStatus;
use coffee_domain::user::{
    AttemptCount, AttemptLimits, Email, NewUser, NewVerification, RemovedWith, Role, User, UserChanges, UserField,
    UserRepository, UserWriteError, Verification,
};
use sea_orm::sea_query::{Expr, OnConflict, Query, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DerivePartialModel, EntityTrait,
    ExprTrait, FromQueryResult, PaginatorTrait, PartialModelTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    Set, Statement, TransactionTrait,
};
use uuid::Uuid;

use crate::cart::delete_lines_first;
use crate::entity::{cart_items, conversations, email_verifications as ev, orders, sessions, users};
use crate::list::{ListMapping, fetch_page, fold};
use crate::orders::{lock_counts_for_cascade, order_status};
use crate::{Conn, is_postgres, repo_err};

/// [`UserRepository`] over SeaORM.
#[derive(Debug, Clone)]
pub struct SeaUserRepository {
    db: Conn,
}

impl SeaUserRepository {
    /// A repository on the pool, or inside a unit of work.
    pub fn new(db: impl Into<Conn>) -> Self {
        Self { db: db.into() }
    }
}

pub(crate) const MAPPING: ListMapping<users::Entity, UserField> = ListMapping {
    column: |f| match f {
        UserField::Email => users::Column::Email,
        UserField::FirstName => users::Column::FirstName,
        UserField::LastName => users::Column::LastName,
        UserField::Role => users::Column::Role,
        UserField::IsVerified => users::Column::IsVerified,
        UserField::CreatedAt => users::Column::CreatedAt,
    },
    search: &[users::Column::Email, users::Column::FirstNameFold, users::Column::LastNameFold],
    search_beyond: None,
    folded: |f| match f {
        UserField::Email => Some(users::Column::Email),
        UserField::FirstName => Some(users::Column::FirstNameFold),
        UserField::LastName => Some(users::Column::LastNameFold),
        UserField::Role | UserField::IsVerified | UserField::CreatedAt => None,
    },
    id: users::Column::Id,
    custom: email_equality,
    version: None,
};

/// The access check of every authenticated request: the user `id` if
/// session `session_id` is theirs and not revoked, in one statement (the
/// user's primary-key read and, in the same plan, a probe of the session's).
///
/// Its SQL text is built by sea-query once per engine and reused with new
/// values: building it anew took about 6 % of the server's CPU on `GET /me`
/// (bench/README.md, "The access check reads the session too").
fn signed_in_statement(backend: DbBackend, id: Uuid, session_id: Uuid) -> Statement {
    static SQL: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
    let build = || {
        let live = Query::select()
            .expr(Expr::cust("1"))
            .from(sessions::Entity)
            .and_where(sessions::Column::Id.eq(Uuid::nil()))
            .and_where(
                Expr::col((sessions::Entity, sessions::Column::UserId)).equals((users::Entity, users::Column::Id)),
            )
            .and_where(sessions::Column::RevokedAt.is_null())
            .to_owned();
        // Two values, in this order: the user's id, then the session's.
        UserRow::select_cols(users::Entity::find_by_id(Uuid::nil()).select_only())
            .filter(Expr::exists(live))
            .build(backend)
            .sql
    };
    // One text per engine this crate runs on: SQLite's `?`, PostgreSQL's `$n`.
    let sql = SQL[usize::from(backend == DbBackend::Postgres)].get_or_init(build);
    Statement::from_sql_and_values(backend, sql.clone(), [id.into(), session_id.into()])
}

/// `email=` and `email__in=` in the form addresses are stored
/// ([`Email::parse`]'s), so `Ann@Example.com` finds `ann@example.com`; a
/// value that is no address is compared lower-cased (and finds nothing).
fn email_equality(filter: &Filter<UserField>) -> Option<SimpleExpr> {
    let normalised = || {
        filter.values.iter().filter_map(|v| match v {
            Value::Text(raw) => {
                Some(Email::parse("email", raw).map_or_else(|_| fold(raw.trim()), |e| e.as_str().to_owned()))
            }
            _ => None,
        })
    };
    match (filter.field, filter.op) {
        (UserField::Email, Op::Eq) => normalised().next().map(|a| users::Column::Email.eq(a)),
        (UserField::Email, Op::In) => Some(users::Column::Email.is_in(normalised())),
        _ => None,
    }
}

/// What a [`User`] is made of: the columns of `users` but the password
/// hash, which a login reads to check a password ([`find_credentials`]),
/// and the folded names the searches use. So the access check of every
/// signed-in request and the admin's pages of accounts do not carry a hash
/// out of the database.
///
/// [`find_credentials`]: UserRepository::find_credentials
#[derive(Debug, DerivePartialModel)]
#[sea_orm(entity = "users::Entity")]
struct UserRow {
    id: Uuid,
    email: String,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    role: String,
    is_verified: bool,
    verified_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<users::Model> for UserRow {
    fn from(m: users::Model) -> Self {
        let users::Model {
            id,
            email,
            first_name,
            last_name,
            phone,
            role,
            is_verified,
            verified_at,
            created_at,
            updated_at,
            ..
        } = m;
        Self { id, email, first_name, last_name, phone, role, is_verified, verified_at, created_at, updated_at }
    }
}

fn to_user(m: impl Into<UserRow>) -> Result<User, RepoError> {
    let m = m.into();
    let role =
        Role::parse(&m.role).ok_or_else(|| RepoError::Other(format!("unknown role {:?} in users", m.role).into()))?;
    Ok(User {
        id: m.id,
        email: Email::from_trusted(m.email),
        first_name: m.first_name,
        last_name: m.last_name,
        phone: m.phone,
        role,
        is_verified: m.is_verified,
        verified_at: m.verified_at,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn to_verification(m: ev::Model) -> Verification {
    Verification {
        user_id: m.user_id,
        code_hash: m.code_hash,
        attempts: m.attempts,
        expires_at: m.expires_at,
        sent_at: m.sent_at,
    }
}

fn verification_model(user_id: Uuid, v: &NewVerification) -> ev::ActiveModel {
    ev::ActiveModel {
        user_id: Set(user_id),
        code_hash: Set(v.code_hash.clone()),
        token_hash: Set(v.token_hash.clone()),
        attempts: Set(0),
        // Kept by a resend: the upsert does not update it.
        account_attempts: Set(0),
        expires_at: Set(v.expires_at),
        sent_at: Set(v.sent_at),
    }
}

/// The orders and the open conversation that go with user `id` (read in
/// the deleting transaction, after the locks that keep them from changing).
async fn removed_with(txn: &DatabaseTransaction, id: Uuid) -> Result<RemovedWith, RepoError> {
    let orders: Vec<(Uuid, i64, String)> = orders::Entity::find()
        .select_only()
        .columns([orders::Column::Id, orders::Column::Number, orders::Column::Status])
        .filter(orders::Column::UserId.eq(id))
        .into_tuple()
        .all(txn)
        .await
        .map_err(repo_err)?;
    let orders = orders
        .into_iter()
        .map(|(order, number, status)| Ok((order, number, order_status(&status)?)))
        .collect::<Result<_, RepoError>>()?;
    let open = conversations::Entity::find()
        .filter(conversations::Column::CustomerId.eq(id))
        .filter(conversations::Column::Status.eq(ConversationStatus::Open.as_str()))
        .one(txn)
        .await
        .map_err(repo_err)?;
    Ok(RemovedWith { orders, open_conversation: open.map(crate::support::conversation).transpose()? })
}

fn write_err(e: sea_orm::DbErr) -> UserWriteError {
    match repo_err(e) {
        RepoError::Conflict(_) => UserWriteError::EmailTaken,
        other => UserWriteError::Repo(other),
    }
}

fn tx_err(e: sea_orm::TransactionError<UserWriteError>) -> UserWriteError {
    match e {
        sea_orm::TransactionError::Connection(e) => write_err(e),
        sea_orm::TransactionError::Transaction(e) => e,
    }
}

/// Loads a user inside `txn`, row-locked on PostgreSQL.
async fn find_locked(txn: &DatabaseTransaction, id: Uuid) -> Result<Option<users::Model>, sea_orm::DbErr> {
    users::Entity::find_by_id(id).lock_exclusive().one(txn).await
}

/// Locks every admin row on PostgreSQL, in id order. Writes that may remove
/// an admin call this before locking their target row, so they all take
/// locks in the same order: locking the target first let two concurrent
/// demotions each hold one admin and wait for the other's (a deadlock).
/// SQLite runs one writer at a time (and this crate writes through one connection).
async fn lock_admins(txn: &DatabaseTransaction) -> Result<(), UserWriteError> {
    if is_postgres(txn) {
        users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .filter(users::Column::Role.eq(Role::Admin.as_str()))
            .order_by_asc(users::Column::Id)
            .lock_exclusive()
            .into_tuple::<Uuid>()
            .all(txn)
            .await
            .map_err(write_err)?;
    }
    Ok(())
}

/// Refuses to remove the last verified admin (the only kind that can log
/// in: with one left unverified, nobody could administer the system). Call
/// [`lock_admins`] first: while the admins are locked, no other transaction
/// can demote, un-verify or delete one, so a plain count is enough.
async fn guard_last_admin(txn: &DatabaseTransaction, target: &users::Model) -> Result<(), UserWriteError> {
    if target.role != Role::Admin.as_str() || !target.is_verified {
        return Ok(());
    }
    let count = users::Entity::find()
        .filter(users::Column::Role.eq(Role::Admin.as_str()))
        .filter(users::Column::IsVerified.eq(true))
        .count(txn)
        .await
        .map_err(write_err)?;
    if count <= 1 { Err(UserWriteError::LastAdmin) } else { Ok(()) }
}

#[async_trait]
impl UserRepository for SeaUserRepository {
    async fn create(&self, new: &NewUser, verification: Option<&NewVerification>) -> Result<(), UserWriteError> {
        let u = &new.user;
        let model = users::ActiveModel {
            id: Set(u.id),
            email: Set(u.email.as_str().to_owned()),
            password_hash: Set(new.password_hash.clone()),
            first_name: Set(u.first_name.clone()),
            last_name: Set(u.last_name.clone()),
            first_name_fold: Set(u.first_name.as_deref().map(fold)),
            last_name_fold: Set(u.last_name.as_deref().map(fold)),
            phone: Set(u.phone.clone()),
            role: Set(u.role.as_str().to_owned()),
            is_verified: Set(u.is_verified),
            verified_at: Set(u.verified_at),
            created_at: Set(u.created_at),
            updated_at: Set(u.updated_at),
        };
        let verification = verification.map(|v| verification_model(u.id, v));
        self.db
            .transaction::<_, (), UserWriteError>(|txn| {
                Box::pin(async move {
                    users::Entity::insert(model).exec_without_returning(txn).await.map_err(write_err)?;
                    if let Some(v) = verification {
                        ev::Entity::insert(v).exec_without_returning(txn).await.map_err(write_err)?;
                    }
                    Ok(())
                })
            })
            .await
            .map_err(tx_err)
    }

    async fn find(&self, id: Uuid) -> Result<Option<User>, RepoError> {
        let row = users::Entity::find_by_id(id).into_partial_model::<UserRow>().one(&self.db).await;
        row.map_err(repo_err)?.map(to_user).transpose()
    }

    async fn find_signed_in(&self, id: Uuid, session_id: Uuid) -> Result<Option<User>, RepoError> {
        let statement = signed_in_statement(self.db.get_database_backend(), id, session_id);
        UserRow::find_by_statement(statement).one(&self.db).await.map_err(repo_err)?.map(to_user).transpose()
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        let found =
            users::Entity::find().filter(users::Column::Email.eq(email.as_str())).into_partial_model::<UserRow>();
        found.one(&self.db).await.map_err(repo_err)?.map(to_user).transpose()
    }

    async fn find_credentials(&self, email: &Email) -> Result<Option<(User, String)>, RepoError> {
        let found = users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await
            .map_err(repo_err)?;
        found
            .map(|m| {
                let hash = m.password_hash.clone();
                to_user(m).map(|u| (u, hash))
            })
            .transpose()
    }

    async fn admin_emails(&self) -> Result<Vec<Email>, RepoError> {
        let emails: Vec<String> = users::Entity::find()
            .select_only()
            .column(users::Column::Email)
            .filter(users::Column::Role.eq(Role::Admin.as_str()))
            .filter(users::Column::IsVerified.eq(true))
            .order_by_asc(users::Column::Email)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(emails.into_iter().map(Email::from_trusted).collect())
    }

    async fn list(&self, query: &ListQuery<UserField>) -> Result<Page<User>, RepoError> {
        let select = UserRow::select_cols(users::Entity::find().select_only());
        let (rows, total): (Vec<UserRow>, _) = fetch_page(&self.db, select, query, &MAPPING).await.map_err(repo_err)?;
        let items = rows.into_iter().map(to_user).collect::<Result<Vec<_>, _>>()?;
        Ok(query.page_of(items, total))
    }

    async fn update(&self, id: Uuid, changes: &UserChanges, now: DateTime<Utc>) -> Result<User, UserWriteError> {
        let changes = changes.clone();
        let model = self
            .db
            .transaction::<_, users::Model, UserWriteError>(|txn| {
                Box::pin(async move {
                    // Demoting or un-verifying may remove the last admin who can log in.
                    let removes = changes.role.is_some_and(|r| r != Role::Admin)
                        || changes.verified.is_some_and(|(verified, _)| !verified);
                    if removes {
                        lock_admins(txn).await?;
                    }
                    let current = find_locked(txn, id).await.map_err(write_err)?.ok_or(UserWriteError::NotFound)?;
                    if removes {
                        guard_last_admin(txn, &current).await?;
                    }
                    let mut active: users::ActiveModel = current.clone().into();
                    // Only what differs is written: a change to nothing (`{}`,
                    // or the values the user has) keeps `updated_at`.
                    if let Some(v) = changes.first_name.filter(|v| *v != current.first_name) {
                        active.first_name_fold = Set(v.as_deref().map(fold));
                        active.first_name = Set(v);
                    }
                    if let Some(v) = changes.last_name.filter(|v| *v != current.last_name) {
                        active.last_name_fold = Set(v.as_deref().map(fold));
                        active.last_name = Set(v);
                    }
                    if let Some(v) = changes.phone.filter(|v| *v != current.phone) {
                        active.phone = Set(v);
                    }
                    if let Some(v) = changes.email.filter(|v| v.as_str() != current.email) {
                        // A code or link mailed to the old address must not
                        // verify the new one: a resend mails a new one there.
                        ev::Entity::delete_by_id(id).exec(txn).await.map_err(write_err)?;
                        active.email = Set(v.as_str().to_owned());
                    }
                    if let Some(v) = changes.role.filter(|v| v.as_str() != current.role) {
                        active.role = Set(v.as_str().to_owned());
                    }
                    if let Some((verified, at)) = changes.verified {
                        if !verified {
                            // Un-verified by an admin: the address must be
                            // proven again, with a new code (the old link
                            // would otherwise verify it once more).
                            ev::Entity::delete_by_id(id).exec(txn).await.map_err(write_err)?;
                        }
                        if verified != current.is_verified {
                            active.is_verified = Set(verified);
                            active.verified_at = Set(at);
                        }
                    }
                    if !active.is_changed() {
                        return Ok(current);
                    }
                    active.updated_at = Set(now);
                    active.update(txn).await.map_err(write_err)
                })
            })
            .await
            .map_err(tx_err)?;
        Ok(to_user(model)?)
    }

    async fn delete(&self, id: Uuid) -> Result<RemovedWith, UserWriteError> {
        self.db
            .transaction::<_, RemovedWith, UserWriteError>(|txn| {
                Box::pin(async move {
                    delete_lines_first(txn, cart_items::Column::UserId.eq(id)).await.map_err(write_err)?;
                    lock_admins(txn).await?;
                    let current = find_locked(txn, id).await.map_err(write_err)?.ok_or(UserWriteError::NotFound)?;
                    guard_last_admin(txn, &current).await?;
                    lock_counts_for_cascade(txn, &[id]).await.map_err(write_err)?;
                    let removed = removed_with(txn, id).await?;
                    users::Entity::delete_by_id(id).exec(txn).await.map_err(write_err)?;
                    Ok(removed)
                })
            })
            .await
            .map_err(tx_err)
    }

    async fn find_verification(&self, user_id: Uuid) -> Result<Option<Verification>, RepoError> {
        Ok(ev::Entity::find_by_id(user_id).one(&self.db).await.map_err(repo_err)?.map(to_verification))
    }

    async fn find_verification_by_token(&self, token_hash: &str) -> Result<Option<Verification>, RepoError> {
        let found = ev::Entity::find().filter(ev::Column::TokenHash.eq(token_hash)).one(&self.db).await;
        Ok(found.map_err(repo_err)?.map(to_verification))
    }

    async fn replace_verification(
        &self,
        user_id: Uuid,
        v: &NewVerification,
        sent_before: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        // One statement: insert, or overwrite only a row whose cooldown is over.
        let upsert = ev::Entity::insert(verification_model(user_id, v)).on_conflict(
            OnConflict::column(ev::Column::UserId)
                .update_columns([
                    ev::Column::CodeHash,
                    ev::Column::TokenHash,
                    ev::Column::Attempts,
                    ev::Column::ExpiresAt,
                    ev::Column::SentAt,
                ])
                .action_and_where(Expr::col((ev::Entity, ev::Column::SentAt)).lte(sent_before))
                .to_owned(),
        );
        Ok(upsert.exec_without_returning(&self.db).await.map_err(repo_err)? > 0)
    }

    async fn count_attempt(&self, user_id: Uuid, limits: AttemptLimits) -> Result<AttemptCount, RepoError> {
        // One conditional UPDATE: parallel guesses cannot pass either limit.
        let updated = ev::Entity::update_many()
            .col_expr(ev::Column::Attempts, Expr::col(ev::Column::Attempts).add(1))
            .col_expr(ev::Column::AccountAttempts, Expr::col(ev::Column::AccountAttempts).add(1))
            .filter(ev::Column::UserId.eq(user_id))
            .filter(ev::Column::Attempts.lt(limits.per_code))
            .filter(ev::Column::AccountAttempts.lt(limits.per_account))
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        let Some(row) = ev::Entity::find_by_id(user_id).one(&self.db).await.map_err(repo_err)? else {
            return Ok(AttemptCount::CodeSpent);
        };
        Ok(match updated.rows_affected {
            0 if row.account_attempts >= limits.per_account => AttemptCount::AccountSpent,
            0 => AttemptCount::CodeSpent,
            _ => AttemptCount::Counted { code: row.attempts, account: row.account_attempts },
        })
    }

    async fn mark_verified(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<User, UserWriteError> {
        users::Entity::update_many()
            .col_expr(users::Column::IsVerified, Expr::value(true))
            .col_expr(users::Column::VerifiedAt, Expr::value(now))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(user_id))
            .filter(users::Column::IsVerified.eq(false))
            .exec(&self.db)
            .await
            .map_err(write_err)?;
        self.find(user_id).await?.ok_or(UserWriteError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_check_binds_the_user_then_the_session_and_nothing_else() {
        let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
        // Which value is which is checked against both engines in
        // tests/storage/sessions.rs; here, that the text takes exactly these two.
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let statement = signed_in_statement(backend, user, session);
            let placeholders = statement.sql.matches('?').count() + statement.sql.matches('$').count();
            assert_eq!(placeholders, 2, "{}", statement.sql);
            assert_eq!(statement.values.map(|v| v.0).unwrap_or_default(), [user.into(), session.into()]);
        }
    }
}
