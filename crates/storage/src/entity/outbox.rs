use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The job as JSON.
    #[sea_orm(column_type = "Text")]
    pub job: String,
    pub created_at: DateTimeUtc,
    pub available_at: DateTimeUtc,
    pub claimed_until: Option<DateTimeUtc>,
    pub attempts: i32,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub relayed_at: Option<DateTimeUtc>,
    pub parked_at: Option<DateTimeUtc>,
    /// When the worker ran the job (once; a repeated hand-out is skipped).
    pub delivered_at: Option<DateTimeUtc>,
    /// The run of the job that holds its delivery, until `delivering_until`.
    pub delivery_lease: Option<Uuid>,
    pub delivering_until: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
