//! `email_verifications.account_attempts`: code attempts over all of an
//! account's codes.
//!
//! A resend replaced the code and reset `attempts`, so five guesses per
//! resend cooldown (60 s) for the 48 hours an unverified account lives came
//! to 14 400 guesses at a 6-digit code: a 1.4 % chance, per address, of
//! verifying an address one signed up with but never received mail at.
//! This count is not reset by a resend, and past its limit (20, the domain's
//! `MAX_ACCOUNT_CODE_ATTEMPTS`) only the mailed link verifies the account.
//! Rows that exist start from their current code's attempts.

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum EmailVerifications {
    Table,
    AccountAttempts,
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(EmailVerifications::Table)
                    .add_column(ColumnDef::new(EmailVerifications::AccountAttempts).integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("UPDATE email_verifications SET account_attempts = attempts")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(EmailVerifications::Table)
                    .drop_column(EmailVerifications::AccountAttempts)
                    .to_owned(),
            )
            .await
    }
}
