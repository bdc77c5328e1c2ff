-- GET /products?page_size=20 asked again: a page remembered in the replica
-- is answered after this lookup of the menu's version alone, when it has not
-- moved (coffee-api's statement, from the server log; crates/storage/src/totals.rs).
SELECT "version" FROM "list_versions" WHERE "name" = 'products';
