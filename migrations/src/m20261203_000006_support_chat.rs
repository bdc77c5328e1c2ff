//! Support chat: conversations and their numbered messages.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, pk_uuid, string_len, string_len_null, text, timestamp_with_time_zone, uuid, uuid_null,
};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
    CustomerId,
    Status,
    CreatedAt,
    LastMessageAt,
    LastSeq,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    ConversationId,
    Seq,
    SenderId,
    SenderRole,
    Body,
    ClientId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Conversations::Table)
                    .col(pk_uuid(Conversations::Id))
                    .col(uuid(Conversations::CustomerId))
                    .col(string_len(Conversations::Status, 16))
                    .col(timestamp_with_time_zone(Conversations::CreatedAt))
                    .col(timestamp_with_time_zone(Conversations::LastMessageAt))
                    .col(big_integer(Conversations::LastSeq).default(0))
                    .check(Expr::col(Conversations::Status).is_in(["open", "closed"]))
                    .check(Expr::col(Conversations::LastSeq).gte(0))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversations_customer")
                            .from(Conversations::Table, Conversations::CustomerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // At most one open conversation per customer, enforced by the store
        // (a partial unique index, on both backends); it also finds it.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_conversations_open_customer ON conversations (customer_id) \
                 WHERE status = 'open'",
            )
            .await?;
        // Every filter and sort of GET /support/conversations: a customer's own
        // newest first; the console's open conversations by latest message.
        for (name, cols) in [
            ("ix_conversations_customer_created_at", &["customer_id", "created_at"][..]),
            ("ix_conversations_status_last_message_at", &["status", "last_message_at"]),
            ("ix_conversations_last_message_at", &["last_message_at"]),
            ("ix_conversations_created_at", &["created_at"]),
        ] {
            manager.create_index(index(name, Conversations::Table, cols)).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .col(pk_uuid(Messages::Id))
                    .col(uuid(Messages::ConversationId))
                    .col(big_integer(Messages::Seq))
                    .col(uuid_null(Messages::SenderId))
                    .col(string_len(Messages::SenderRole, 16))
                    .col(text(Messages::Body))
                    .col(string_len_null(Messages::ClientId, 64))
                    .col(timestamp_with_time_zone(Messages::CreatedAt))
                    .check(Expr::col(Messages::Seq).gte(1))
                    .check(Expr::col(Messages::SenderRole).is_in(["user", "admin"]))
                    .check(Expr::cust("length(body) BETWEEN 1 AND 2000"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_messages_conversation")
                            .from(Messages::Table, Messages::ConversationId)
                            .to(Conversations::Table, Conversations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // A deleted author's messages stay in the conversation, unsigned.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_messages_sender")
                            .from(Messages::Table, Messages::SenderId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // `seq` is gap-free and unique per conversation (and the history's index);
        // a repeated client_id cannot be stored twice (NULLs are distinct).
        manager
            .create_index(
                index("ux_messages_conversation_seq", Messages::Table, &["conversation_id", "seq"]).unique().to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("ux_messages_conversation_client_id", Messages::Table, &["conversation_id", "client_id"])
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("ix_messages_sender", Messages::Table, &["sender_id"])).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Messages::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Conversations::Table).to_owned()).await?;
        Ok(())
    }
}
