-- :n verified users user0001@bench.example.com … with the password hash of
-- the admin :admin (psql variables), for bench/run.sh and bench/ceiling.sh.
INSERT INTO users (id, email, password_hash, first_name, last_name, first_name_fold, last_name_fold,
                   phone, role, is_verified, verified_at, created_at, updated_at)
SELECT gen_random_uuid(),
       format('user%s@bench.example.com', lpad(g::text, 4, '0')),
       a.password_hash, 'First' || g, 'Last' || g, 'first' || g, 'last' || g, NULL, 'user',
       true, now(), now() - g * interval '1 minute', now()
FROM generate_series(1, :n) AS g,
     (SELECT password_hash FROM users WHERE email = :'admin') AS a;
ANALYZE users;
