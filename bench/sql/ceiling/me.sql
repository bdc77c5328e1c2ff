-- GET /me: the caller's row if the token's login is live (coffee-api's
-- statement, from the server log).
SELECT "users"."id", "users"."email", "users"."password_hash", "users"."first_name", "users"."last_name", "users"."phone", "users"."first_name_fold", "users"."last_name_fold", "users"."role", "users"."is_verified", "users"."verified_at", "users"."created_at", "users"."updated_at" FROM "users" WHERE "users"."id" = :user_id AND EXISTS(SELECT 1 FROM "sessions" WHERE "sessions"."id" = :user_sid AND "sessions"."user_id" = "users"."id" AND "sessions"."revoked_at" IS NULL);
