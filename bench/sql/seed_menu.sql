-- The seeded menu of bench/menu.sh and bench/ceiling.sh: 20 categories and
-- :n products (psql variables n and term); see bench/README.md.
BEGIN;
-- A deterministic pseudo-random integer in [0, m) from a text key.
CREATE FUNCTION pg_temp.h(key text, m int) RETURNS int
    LANGUAGE sql IMMUTABLE AS $$ SELECT (abs(hashtext(key)::bigint) % m)::int $$;

CREATE TEMP TABLE seed_categories ON COMMIT DROP AS
SELECT n, gen_random_uuid() AS id,
       (ARRAY['Espresso', 'Filter Coffee', 'Cold Brew', 'Tea', 'Herbal Tea', 'Hot Chocolate',
              'Smoothies', 'Juices', 'Pastries', 'Cakes', 'Cookies', 'Breakfast', 'Sandwiches',
              'Salads', 'Soups', 'Bowls', 'Vegan', 'Gluten Free', 'Seasonal', 'Merchandise'])[n] AS name
FROM generate_series(1, 20) AS n;

INSERT INTO categories (id, name, name_key, description, created_at, updated_at)
SELECT id, name, lower(name), 'Everything in ' || lower(name) || '.', now() - n * interval '1 day', now()
FROM seed_categories;

CREATE TEMP TABLE seed_products ON COMMIT DROP AS
SELECT g, gen_random_uuid() AS id FROM generate_series(1, :n) AS g;

INSERT INTO products (id, name, description, price, is_available, image, created_at, updated_at)
SELECT p.id,
       CASE WHEN p.g % 40 = 1 THEN initcap(:'term') || ' ' ELSE '' END
           || (ARRAY['Classic', 'Double', 'Iced', 'Smoked', 'Spiced', 'Honey', 'Maple', 'Toasted',
                     'Velvet', 'Wild'])[1 + pg_temp.h('adj' || p.g, 10)]
           || ' '
           || (ARRAY['Latte', 'Cappuccino', 'Mocha', 'Flat White', 'Americano', 'Croissant', 'Muffin',
                     'Brownie', 'Scone', 'Bagel'])[1 + pg_temp.h('item' || p.g, 10)]
           || ' ' || p.g,
       CASE WHEN p.g % 10 = 0 THEN NULL
            ELSE 'Made fresh every morning with '
                 || (ARRAY['oat milk', 'whole milk', 'dark chocolate', 'vanilla', 'cinnamon', 'almonds',
                           'berries', 'caramel', 'hazelnuts', 'honey'])[1 + pg_temp.h('with' || p.g, 10)]
                 || CASE WHEN p.g % 40 = 21 THEN ' and a ' || :'term' || ' crunch' ELSE '' END
                 || '. Ask the barista about today''s variations.'
       END,
       100 + pg_temp.h('price' || p.g, 900),
       p.g % 25 <> 0,
       NULL,
       now() - p.g * interval '1 minute',
       now()
FROM seed_products AS p;

INSERT INTO product_categories (product_id, category_id)
SELECT DISTINCT p.id, c.id
FROM seed_products AS p
CROSS JOIN LATERAL generate_series(1, 1 + pg_temp.h('k' || p.g, 3)) AS i
JOIN seed_categories AS c ON c.n = 1 + pg_temp.h(p.g || ':' || i, 20);
-- The case-folded copies search reads (the application writes them with
-- Unicode lower case; for this ASCII seed lower() is the same).
UPDATE products SET name_fold = lower(name), description_fold = lower(description);
UPDATE categories SET description_fold = lower(description);
COMMIT;
-- VACUUM too (sets the visibility map, as autovacuum eventually would), so
-- that autovacuum does not change the plans in the middle of a run.
VACUUM (ANALYZE) categories, products, product_categories;
