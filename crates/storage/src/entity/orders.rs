use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub number: i64,
    pub user_id: Uuid,
    pub status: String,
    pub total: i64,
    #[sea_orm(column_type = "Text", nullable)]
    pub comment: Option<String>,
    /// `comment` case-folded, for `search` (`crate::list::fold`).
    pub comment_fold: Option<String>,
    pub pickup_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The order's lines (read with it in one statement).
    #[sea_orm(has_many = "super::order_items::Entity")]
    Items,
}

impl Related<super::order_items::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Items.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
