//! Users, their e-mail verifications and their refresh sessions.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    boolean, integer, pk_uuid, string, string_len, string_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    PasswordHash,
    FirstName,
    LastName,
    Phone,
    Role,
    IsVerified,
    VerifiedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum EmailVerifications {
    Table,
    UserId,
    CodeHash,
    TokenHash,
    Attempts,
    ExpiresAt,
    SentAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    FamilyId,
    CreatedAt,
    ExpiresAt,
    RotatedAt,
    RevokedAt,
}

fn index(name: &str, table: impl IntoIden, cols: &[&'static str]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(Alias::new(*col));
    }
    stmt.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_uuid(Users::Id))
                    // Stored normalised; the check makes the unique index case-insensitive.
                    .col(string_len(Users::Email, 254).unique_key())
                    .col(string(Users::PasswordHash))
                    .col(string_null(Users::FirstName))
                    .col(string_null(Users::LastName))
                    .col(string_null(Users::Phone))
                    .col(string_len(Users::Role, 16).default("user"))
                    .col(boolean(Users::IsVerified).default(false))
                    .col(timestamp_with_time_zone_null(Users::VerifiedAt))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .check(Expr::col(Users::Email).eq(Func::lower(Expr::col(Users::Email))))
                    .check(Expr::col(Users::Role).is_in(["user", "admin"]))
                    .to_owned(),
            )
            .await?;
        // Every filter and sort of GET /users, and the cleanup's (is_verified, created_at) scan.
        for (name, cols) in [
            ("ix_users_created_at", &["created_at"][..]),
            ("ix_users_first_name", &["first_name"]),
            ("ix_users_last_name", &["last_name"]),
            ("ix_users_role", &["role", "created_at"]),
            ("ix_users_unverified", &["is_verified", "created_at"]),
        ] {
            manager.create_index(index(name, Users::Table, cols)).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(EmailVerifications::Table)
                    .col(pk_uuid(EmailVerifications::UserId))
                    .col(string(EmailVerifications::CodeHash))
                    .col(string(EmailVerifications::TokenHash).unique_key())
                    .col(integer(EmailVerifications::Attempts).default(0))
                    .col(timestamp_with_time_zone(EmailVerifications::ExpiresAt))
                    .col(timestamp_with_time_zone(EmailVerifications::SentAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_email_verifications_user")
                            .from(EmailVerifications::Table, EmailVerifications::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("ix_email_verifications_expires_at", EmailVerifications::Table, &["expires_at"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(pk_uuid(Sessions::Id))
                    .col(uuid(Sessions::UserId))
                    .col(uuid(Sessions::FamilyId))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Sessions::RotatedAt))
                    .col(timestamp_with_time_zone_null(Sessions::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sessions_user")
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("ix_sessions_user_id", &["user_id"][..]),
            ("ix_sessions_family_id", &["family_id"]),
            ("ix_sessions_expires_at", &["expires_at"]),
        ] {
            manager.create_index(index(name, Sessions::Table, cols)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Sessions::Table.into_iden(), EmailVerifications::Table.into_iden(), Users::Table.into_iden()] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
