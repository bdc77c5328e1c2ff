//! The list query language, end to end on users: parsed from query-string
//! pairs as the API does, run on the database.

use std::collections::HashSet;

use coffee_domain::query::Page;
use coffee_domain::user::{User, UserRepository};
use coffee_storage::{Conn, SeaUserRepository};
use coffee_testkit::TestDatabase;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::support::{Env, backends, hours, migrated_with_pool, query, t0, user};

/// Seven users an hour apart (ann first, zed last), with names that contain
/// the LIKE metacharacters `%`, `_` and `\`, and decoys that a wildcard
/// would match.
async fn seed(repo: &SeaUserRepository) {
    let at = |h| t0() + hours(h);
    user("ann@example.com").named("Ann", "Lee").admin().verified_at(at(0)).created_at(at(0)).create(repo).await;
    user("bob@example.com").named("Bob", "Stone").created_at(at(1)).create(repo).await;
    user("cara@example.org").named("Cara", "Lee").verified_at(at(2)).created_at(at(2)).create(repo).await;
    user("dan@example.org").named("Dan", "Fifty%").created_at(at(3)).create(repo).await;
    user("jo@example.net").named("Jo_Ann", "Smith").verified_at(at(4)).created_at(at(4)).create(repo).await;
    user("joxanne@example.net").named("Joxanne", "Back\\slash").created_at(at(5)).create(repo).await;
    user("zed@example.com").named("Zed", "Adams").admin().created_at(at(6)).create(repo).await;
}

/// The local parts of the listed addresses, in order.
fn names(page: &Page<User>) -> Vec<&str> {
    page.items.iter().map(|u| u.email.as_str().split('@').next().unwrap_or_default()).collect()
}

async fn list(repo: &SeaUserRepository, pairs: &[(&str, &str)]) -> Page<User> {
    repo.list(&query(pairs)).await.unwrap()
}

#[tokio::test]
async fn without_parameters_lists_newest_first_with_totals() {
    for env in backends().await {
        seed(&env.users).await;

        let page = list(&env.users, &[]).await;

        assert_eq!(names(&page), ["zed", "joxanne", "jo", "dan", "cara", "bob", "ann"]);
        assert_eq!((page.total, page.page, page.page_size, page.pages()), (7, 1, 20, 1));
    }
}

#[tokio::test]
async fn equality_and_in_filters_match_exact_values() {
    for env in backends().await {
        seed(&env.users).await;

        let sorted = |mut pairs: Vec<(&'static str, &'static str)>| {
            pairs.push(("sort", "email"));
            pairs
        };
        assert_eq!(names(&list(&env.users, &sorted(vec![("email", "bob@example.com")])).await), ["bob"]);
        assert_eq!(names(&list(&env.users, &sorted(vec![("last_name", "Lee")])).await), ["ann", "cara"]);
        // Equality is exact: no substring, no case folding, no wildcards.
        assert_eq!(list(&env.users, &[("last_name", "lee")]).await.total, 0);
        assert_eq!(list(&env.users, &[("last_name", "Le")]).await.total, 0);
        assert_eq!(list(&env.users, &[("last_name", "Fifty_")]).await.total, 0);
        let in_list = sorted(vec![("email__in", "zed@example.com,bob@example.com,nobody@example.com")]);
        assert_eq!(names(&list(&env.users, &in_list).await), ["bob", "zed"]);
        // Addresses are stored lower-cased: an address is found however it is written.
        assert_eq!(names(&list(&env.users, &[("email", "Bob@Example.COM")]).await), ["bob"]);
        assert_eq!(names(&list(&env.users, &[("email", "\u{ff22}ob@example.com")]).await), ["bob"], "fullwidth B");
        let in_list = sorted(vec![("email__in", "ZED@example.com,Bob@Example.com")]);
        assert_eq!(names(&list(&env.users, &in_list).await), ["bob", "zed"]);
    }
}

#[tokio::test]
async fn bool_and_enum_filters_select_by_state_and_role() {
    for env in backends().await {
        seed(&env.users).await;
        let by_email = ("sort", "email");

        assert_eq!(names(&list(&env.users, &[("role", "admin"), by_email]).await), ["ann", "zed"]);
        assert_eq!(list(&env.users, &[("role__in", "admin,user")]).await.total, 7);
        assert_eq!(names(&list(&env.users, &[("is_verified", "true"), by_email]).await), ["ann", "cara", "jo"]);
        let unverified_customers = [("is_verified", "false"), ("role", "user"), by_email];
        assert_eq!(names(&list(&env.users, &unverified_customers).await), ["bob", "dan", "joxanne"]);
    }
}

#[tokio::test]
async fn created_at_ranges_include_the_lower_and_exclude_the_upper_bound() {
    for env in backends().await {
        seed(&env.users).await;
        let (from, until) = ((t0() + hours(2)).to_rfc3339(), (t0() + hours(5)).to_rfc3339());
        let (from, until) = (from.as_str(), until.as_str());

        let page =
            list(&env.users, &[("created_at__gte", from), ("created_at__lt", until), ("sort", "created_at")]).await;
        assert_eq!(names(&page), ["cara", "dan", "jo"]);

        let page =
            list(&env.users, &[("created_at__gt", from), ("created_at__lte", until), ("sort", "created_at")]).await;
        assert_eq!(names(&page), ["dan", "jo", "joxanne"]);

        // Offsets other than UTC mean the same instant.
        let plus_five = (t0() + hours(6)).with_timezone(&chrono::FixedOffset::east_opt(5 * 3600).unwrap()).to_rfc3339();
        assert_eq!(names(&list(&env.users, &[("created_at", plus_five.as_str())]).await), ["zed"]);
    }
}

#[tokio::test]
async fn search_matches_email_first_and_last_name_case_insensitively() {
    for env in backends().await {
        seed(&env.users).await;
        let search = |term: &'static str| [("search", term), ("sort", "email")];

        assert_eq!(names(&list(&env.users, &search("LEE")).await), ["ann", "cara"]);
        assert_eq!(names(&list(&env.users, &search("example.org")).await), ["cara", "dan"]);
        assert_eq!(names(&list(&env.users, &search("ann")).await), ["ann", "jo", "joxanne"]);
        assert_eq!(names(&list(&env.users, &search("sTon")).await), ["bob"]);
        assert_eq!(list(&env.users, &search("nobody")).await.total, 0);
        // Search narrows the other filters rather than widening them.
        assert_eq!(names(&list(&env.users, &[("search", "ann"), ("role", "admin")]).await), ["ann"]);
    }
}

#[tokio::test]
async fn like_metacharacters_in_search_and_contains_are_literal() {
    for env in backends().await {
        seed(&env.users).await;
        let search = |term: &'static str| [("search", term)];

        assert_eq!(names(&list(&env.users, &search("%")).await), ["dan"]);
        assert_eq!(names(&list(&env.users, &search("_")).await), ["jo"]);
        assert_eq!(names(&list(&env.users, &search("\\")).await), ["joxanne"]);
        // `o_a` as a pattern would also match "Joxanne".
        assert_eq!(names(&list(&env.users, &search("o_a")).await), ["jo"]);
        assert_eq!(names(&list(&env.users, &search("k\\s")).await), ["joxanne"]);
        assert_eq!(list(&env.users, &search("\\%")).await.total, 0);
        assert_eq!(names(&list(&env.users, &[("last_name__contains", "FTY%")]).await), ["dan"]);
        assert_eq!(names(&list(&env.users, &[("first_name__contains", "_")]).await), ["jo"]);
        assert_eq!(list(&env.users, &[("first_name__contains", "%")]).await.total, 0);
        assert_eq!(list(&env.users, &[("email__contains", "_")]).await.total, 0);
    }
}

#[tokio::test]
async fn an_injection_attempt_simply_matches_nothing() {
    for env in backends().await {
        seed(&env.users).await;

        for term in ["' OR '1'='1' --", "x'); DROP TABLE users; --", "%' OR 1=1 /*", "\" OR \"\"=\""] {
            assert_eq!(list(&env.users, &[("search", term)]).await.total, 0, "search {term:?}");
            assert_eq!(list(&env.users, &[("email__contains", term)]).await.total, 0, "contains {term:?}");
            assert_eq!(list(&env.users, &[("email", term)]).await.total, 0, "eq {term:?}");
        }
        assert_eq!(list(&env.users, &[]).await.total, 7);
    }
}

#[tokio::test]
async fn sorts_follow_each_key_in_order_and_direction() {
    for env in backends().await {
        seed(&env.users).await;
        let sorted = |keys: &'static str| [("sort", keys)];

        assert_eq!(
            names(&list(&env.users, &sorted("email")).await),
            ["ann", "bob", "cara", "dan", "jo", "joxanne", "zed"]
        );
        assert_eq!(
            names(&list(&env.users, &sorted("-email")).await),
            ["zed", "joxanne", "jo", "dan", "cara", "bob", "ann"]
        );
        assert_eq!(
            names(&list(&env.users, &sorted("last_name,first_name")).await),
            ["zed", "joxanne", "dan", "ann", "cara", "jo", "bob"]
        );
        assert_eq!(
            names(&list(&env.users, &sorted("-last_name,-first_name")).await),
            ["bob", "jo", "cara", "ann", "dan", "joxanne", "zed"]
        );
        assert_eq!(
            names(&list(&env.users, &sorted("role,-created_at")).await),
            ["zed", "ann", "joxanne", "jo", "dan", "cara", "bob"]
        );
        assert_eq!(
            names(&list(&env.users, &sorted("is_verified,created_at")).await),
            ["bob", "dan", "joxanne", "zed", "ann", "cara", "jo"]
        );
        assert_eq!(names(&list(&env.users, &sorted("first_name")).await)[..2], ["ann", "bob"]);
    }
}

#[tokio::test]
async fn pages_split_the_matches_and_report_totals() {
    for env in backends().await {
        seed(&env.users).await;
        let page = |n: &'static str| [("sort", "email"), ("page_size", "3"), ("page", n)];

        let first = list(&env.users, &page("1")).await;
        let third = list(&env.users, &page("3")).await;
        let beyond = list(&env.users, &page("4")).await;

        assert_eq!(names(&first), ["ann", "bob", "cara"]);
        assert_eq!(names(&list(&env.users, &page("2")).await), ["dan", "jo", "joxanne"]);
        assert_eq!(names(&third), ["zed"]);
        assert!(beyond.items.is_empty());
        for p in [&first, &third, &beyond] {
            assert_eq!((p.total, p.page_size, p.pages()), (7, 3, 3));
        }
        let filtered = list(&env.users, &[("role", "user"), ("page_size", "2"), ("page", "3")]).await;
        assert_eq!((filtered.items.len(), filtered.total, filtered.pages()), (1, 5, 3));
    }
}

#[tokio::test]
async fn paging_through_equal_sort_keys_shows_every_user_exactly_once() {
    for env in backends().await {
        let mut all = HashSet::new();
        for name in ["a", "b", "c", "d", "e", "f", "g"] {
            all.insert(user(&format!("{name}@example.com")).create(&env.users).await.id);
        }

        for sort in [None, Some("created_at"), Some("-created_at"), Some("role,is_verified"), Some("-role,-created_at")]
        {
            let mut seen = Vec::new();
            for page in ["1", "2", "3", "4"] {
                let mut pairs = vec![("page_size", "2"), ("page", page)];
                pairs.extend(sort.map(|s| ("sort", s)));
                let got = list(&env.users, &pairs).await;
                assert_eq!((got.total, got.pages()), (7, 4));
                // The same request gives the same page.
                assert_eq!(list(&env.users, &pairs).await, got, "sort {sort:?} page {page} is not stable");
                seen.extend(got.items.iter().map(|u| u.id));
            }
            assert_eq!(seen.len(), 7, "sort {sort:?}");
            assert_eq!(seen.iter().copied().collect::<HashSet<_>>(), all, "sort {sort:?} repeated or skipped a user");
        }
    }
}

#[tokio::test]
async fn users_without_a_name_sort_after_named_ones_ascending_and_first_descending() {
    for env in backends().await {
        user("ann@example.com").named("Ann", "Lee").create(&env.users).await;
        user("nameless@example.com").create(&env.users).await;
        user("bob@example.com").named("Bob", "Stone").create(&env.users).await;

        assert_eq!(names(&list(&env.users, &[("sort", "first_name")]).await), ["ann", "bob", "nameless"]);
        assert_eq!(names(&list(&env.users, &[("sort", "-last_name")]).await), ["nameless", "bob", "ann"]);
    }
}

/// PostgreSQL runs a statement it has prepared with one generic plan, made
/// without the values, once that plan looks no dearer than the five custom
/// plans before it, and keeps it on that connection. For a search, whose
/// term may match five rows or half the table, that plan walked a whole
/// index for a rare term (125 ms instead of 4 at 100 000 products,
/// `bench/README.md`). Searched lists (`search`, `__contains`) are therefore
/// never prepared: each runs as an unnamed statement, planned with its
/// terms. Other lists stay prepared. Among them, a filter on a closed set
/// (an enum, a boolean) has its value written into the statement: bound, a
/// skewed column's generic plan looked dearer than the custom ones, so
/// PostgreSQL planned it anew on every request; written, each value's
/// statement is planned once. Open-set values (times here) stay bound. A
/// range on a column other than the leading sort key may hold no row or all
/// of them, so such a list is planned with its bounds, as a search is.
#[tokio::test]
async fn searched_lists_are_planned_with_their_terms_and_closed_set_filters_once() {
    // A pool of one runs each statement on sqlx's pool; a pool of two lends
    // them (`lender.rs`) and keeps one connection. Either way every list
    // below, and the probe after them, meets the same connection.
    for max_connections in [1, 2] {
        let Some(database) = TestDatabase::postgres().await else {
            eprintln!("TEST_DATABASE_URL is not set: PostgreSQL-only case skipped");
            return;
        };
        eprintln!("--- a pool of {max_connections}");
        planned_as_said(migrated_with_pool(database, max_connections).await).await;
    }
}

async fn planned_as_said(env: Env) {
    let users = &env.users;
    seed(users).await;

    let runs = 10;
    for _ in 0..runs {
        assert_eq!(list(users, &[]).await.total, 7);
        assert_eq!(names(&list(users, &[("search", "lee"), ("sort", "email")]).await), ["ann", "cara"]);
        assert_eq!(names(&list(users, &[("last_name__contains", "fifty")]).await), ["dan"]);
        assert_eq!(names(&list(users, &[("role", "admin"), ("sort", "email")]).await), ["ann", "zed"]);
        assert_eq!(names(&list(users, &[("is_verified", "true"), ("role__in", "user,admin")]).await).len(), 3);
        assert_eq!(list(users, &[("created_at__gte", "2026-01-01T00:00:00Z")]).await.total, 7);
        let ranged = list(users, &[("created_at__gte", "2026-01-01T00:00:00Z"), ("sort", "email")]).await;
        assert_eq!((ranged.total, names(&ranged)[0]), (7, "ann"));
        // Past the last page the total comes from a second statement.
        let past = list(users, &[("search", "lee"), ("page", "3"), ("page_size", "1")]).await;
        assert_eq!((past.items.len(), past.total), (0, 2));
    }

    let prepared = Conn::from(env.pools.clone())
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| {
            let plans = |column| row.try_get::<i64>("", column).unwrap();
            (row.try_get::<String>("", "statement").unwrap(), plans("generic_plans"), plans("custom_plans"))
        })
        .filter(|(sql, ..)| sql.contains(r#"AS "list_total""#))
        .collect::<Vec<_>>();
    let find = |what: &str, test: &dyn Fn(&str) -> bool| {
        let found = prepared.iter().filter(|(sql, ..)| test(sql)).collect::<Vec<_>>();
        assert_eq!(found.len(), 1, "{what}: one prepared statement: {prepared:#?}");
        found[0].clone()
    };
    let (_, generic, custom) = find("the plain list", &|sql| !sql.contains('$') && !sql.contains("WHERE \"users\"."));
    assert_eq!((generic, custom), (runs, 0), "the plain list is planned once");
    for (what, literal) in [
        ("role=admin", r#""role" = 'admin'"#),
        ("is_verified", r#""is_verified" = TRUE"#),
        ("role__in", r#""role" IN ('user', 'admin')"#),
    ] {
        let (sql, generic, custom) = find(what, &|sql| sql.contains(literal));
        assert!(!sql.contains('$'), "{what}: every value written: {sql}");
        assert_eq!((generic, custom), (runs, 0), "{what}: planned once, not per request: {sql}");
    }
    // The range on the leading sort key (newest first) is prepared; the one
    // sorted by e-mail is not.
    let (sql, ..) = find("created_at__gte", &|sql| sql.contains(r#""created_at" >= $1"#));
    assert!(sql.contains(r#"ORDER BY "users"."created_at" DESC"#), "{sql}");
    let searched = prepared.iter().filter(|(sql, ..)| sql.contains("LIKE")).collect::<Vec<_>>();
    assert!(searched.is_empty(), "searched lists prepared, open to a generic plan: {searched:#?}");
}
