-- :n orders with their lines for bench/orders.sh (psql variables n and
-- days), placed by the seeded customers user0001… (bench/sql/seed_users.sql)
-- from the available products of the seeded menu (bench/sql/seed_menu.sql).
-- Deterministic apart from the ids' random bits: every choice comes from
-- hashtext() of the order's index g.
--
-- * created_at: spread evenly over the last :days days, oldest first (g = 1),
--   with up to a minute of jitter; number = g (the sequence continues after
--   the highest); ids are UUIDv7 built from created_at, as the API makes them,
--   so the primary key grows with time as in production.
-- * customers: every seeded user, unevenly (a quarter of the orders come from
--   the first 50 customers, the rest from all of them).
-- * 1–3 lines each (distinct products), quantity 1–3, the menu's name and
--   price; total = the sum of the line totals.
-- * status: orders of the last 3 hours are still on the board (pending,
--   confirmed, preparing, ready) or done; older ones are completed (92 %) or
--   cancelled (8 %). version = the number of changes + 1.
-- * pickup_at: as soon as possible (NULL) for 70 %, else 15–120 minutes
--   after the order.
BEGIN;
CREATE FUNCTION pg_temp.h(key text, m int) RETURNS int
    LANGUAGE sql IMMUTABLE AS $$ SELECT (abs(hashtext(key)::bigint) % m)::int $$;

CREATE TEMP TABLE seed_customers ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY email) AS n, id
FROM users WHERE email LIKE 'user%@bench.example.com';

CREATE TEMP TABLE seed_products ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY name, id) AS n, id, name, price
FROM products WHERE is_available;

CREATE TEMP TABLE seed_orders ON COMMIT DROP AS
SELECT g,
       created_at,
       (lpad(to_hex((extract(epoch FROM created_at) * 1000)::bigint), 12, '0') || '7' || substr(md5(g::text), 1, 3)
        || (ARRAY['8', '9', 'a', 'b'])[1 + pg_temp.h('v' || g, 4)] || substr(md5(random()::text), 1, 15))::uuid AS id,
       CASE WHEN pg_temp.h('c' || g, 4) = 0 THEN 1 + pg_temp.h('u' || g, least(50, nc))
            ELSE 1 + pg_temp.h('u' || g, nc) END AS customer,
       CASE WHEN created_at > now() - interval '3 hours'
                THEN (ARRAY['pending', 'confirmed', 'preparing', 'ready', 'completed', 'cancelled'])[1 + pg_temp.h('s' || g, 6)]
            WHEN pg_temp.h('s' || g, 100) < 8 THEN 'cancelled'
            ELSE 'completed' END AS status,
       CASE WHEN pg_temp.h('p' || g, 10) < 7 THEN NULL
            ELSE created_at + (15 + pg_temp.h('pt' || g, 106)) * interval '1 minute' END AS pickup_at
FROM (SELECT g, now() - (:n - g) * (:days * interval '1 day') / :n - pg_temp.h('t' || g, 60) * interval '1 second' AS created_at
      FROM generate_series(1, :n) AS g) AS t,
     (SELECT count(*)::int AS nc FROM seed_customers) AS c;

CREATE TEMP TABLE seed_lines ON COMMIT DROP AS
SELECT o.id AS order_id, i - 1 AS position, p.id AS product_id, p.name, p.price AS unit_price,
       q.quantity, p.price * q.quantity AS line_total
FROM seed_orders AS o
CROSS JOIN LATERAL generate_series(1, 1 + pg_temp.h('k' || o.g, 3)) AS i
CROSS JOIN LATERAL (SELECT 1 + pg_temp.h(o.g || ':' || i, 3) AS quantity) AS q
-- stride 7 over ≥ 22 products: the (at most 3) lines of an order are distinct products
JOIN seed_products AS p
  ON p.n = 1 + (pg_temp.h('b' || o.g, (SELECT count(*)::int FROM seed_products)) + (i - 1) * 7)
             % (SELECT count(*) FROM seed_products);

INSERT INTO orders (id, number, user_id, status, total, comment, pickup_at, created_at, updated_at, version)
SELECT o.id, o.g, c.id, o.status, l.total,
       CASE WHEN pg_temp.h('m' || o.g, 10) = 0 THEN 'Oat milk please, no sugar.' END,
       o.pickup_at, o.created_at,
       o.created_at + CASE o.status WHEN 'pending' THEN interval '0' ELSE pg_temp.h('d' || o.g, 40) * interval '1 minute' END,
       CASE o.status WHEN 'pending' THEN 1 WHEN 'confirmed' THEN 2 WHEN 'preparing' THEN 3 WHEN 'ready' THEN 4
                     WHEN 'completed' THEN 5 ELSE 2 END
FROM seed_orders AS o
JOIN seed_customers AS c ON c.n = o.customer
JOIN (SELECT order_id, sum(line_total) AS total FROM seed_lines GROUP BY order_id) AS l ON l.order_id = o.id;

-- name_fold as the application folds it (the seeded names are ASCII).
INSERT INTO order_items (order_id, position, product_id, name, name_fold, unit_price, quantity, line_total)
SELECT order_id, position, product_id, name, lower(name), unit_price, quantity, line_total FROM seed_lines;

SELECT setval('order_number_seq', greatest((SELECT max(number) FROM orders), 1));
COMMIT;
-- VACUUM too (sets the visibility map, as autovacuum eventually would), so
-- that autovacuum does not change the plans in the middle of a run.
VACUUM (ANALYZE) orders, order_items;
-- The insert above ran the counter triggers 100 000 times in one
-- transaction: 100 000 versions of ~40 rows that nothing could prune until
-- it ended, so order_counts grew to ~600 pages. A plain VACUUM empties them
-- but keeps the pages, and every unfiltered admin page sums the counters by
-- reading the whole table (0.5 of its 0.7 ms). Orders placed one by one keep
-- it at one page (HOT updates, pruned as they go: 12 000 checkouts at 800/s
-- left 1 page), so the shop this seed imitates has a compact table; FULL
-- rewrites it as that (bench/README.md, "The order counters' size").
VACUUM (FULL, ANALYZE) order_counts;
