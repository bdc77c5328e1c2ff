use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub key: String,
    pub fingerprint: String,
    pub order_id: Option<Uuid>,
    #[sea_orm(column_type = "Text", nullable)]
    pub response: Option<String>,
    /// The stored answer's HTTP status; `None` (rows from before it was
    /// stored) is a placed order, 201.
    pub status: Option<i16>,
    pub locked_until: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
