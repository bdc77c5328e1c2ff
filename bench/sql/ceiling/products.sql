-- GET /products?page_size=20: the total, the page, the categories of the
-- page's products (coffee-api's statements, from the server log;
-- __PAGE_IDS__ is replaced by ceiling.sh with the first page's ids).
SELECT COUNT(*) AS num_items FROM (SELECT "products"."id", "products"."name", "products"."description", "products"."name_fold", "products"."description_fold", "products"."price", "products"."is_available", "products"."image", "products"."created_at", "products"."updated_at" FROM "products" WHERE TRUE) AS "sub_query";
SELECT "products"."id", "products"."name", "products"."description", "products"."name_fold", "products"."description_fold", "products"."price", "products"."is_available", "products"."image", "products"."created_at", "products"."updated_at" FROM "products" WHERE TRUE ORDER BY "products"."created_at" DESC NULLS FIRST, "products"."id" DESC LIMIT 20 OFFSET 0;
SELECT "product_categories"."product_id", "categories"."id", "categories"."name" FROM "product_categories" INNER JOIN "categories" ON "categories"."id" = "product_categories"."category_id" WHERE "product_categories"."product_id" IN (__PAGE_IDS__) ORDER BY "categories"."name" ASC;
