//! A message's `client_id` is unique per sender within its conversation, not
//! per conversation: a customer and an admin who both number their messages
//! 1, 2, 3 … (SPEC §7 lets clients choose) would otherwise see the second
//! one's message taken for a repeat of the first one's and dropped, with the
//! first one's message echoed back as its acknowledgement.

use sea_orm_migration::prelude::*;

use crate::index;

#[derive(DeriveIden)]
enum Messages {
    Table,
}

const OLD: &str = "ux_messages_conversation_client_id";
const NEW: &str = "ux_messages_conversation_sender_client_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // NULLs are distinct: messages without a client_id, or whose sender
        // was deleted (SET NULL), never collide.
        manager
            .create_index(
                index(NEW, Messages::Table, &["conversation_id", "sender_id", "client_id"]).unique().to_owned(),
            )
            .await?;
        manager.drop_index(Index::drop().name(OLD).table(Messages::Table).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Fails if a conversation now holds one client_id from two senders.
        manager
            .create_index(index(OLD, Messages::Table, &["conversation_id", "client_id"]).unique().to_owned())
            .await?;
        manager.drop_index(Index::drop().name(NEW).table(Messages::Table).to_owned()).await
    }
}

#[derive(DeriveMigrationName)]
pub struct Migration;
