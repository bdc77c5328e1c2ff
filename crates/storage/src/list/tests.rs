//! [`with_literal_bounds`]: a page's bounds written into its statement.

use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait as _, Query, SelectStatement};
use sea_orm::{DbBackend, Value, Values};

use super::with_literal_bounds;

fn page() -> SelectStatement {
    let mut page = Query::select();
    page.column(Asterisk).from(Alias::new("t")).and_where(Expr::col(Alias::new("a")).eq(5)).limit(20).offset(40);
    page
}

fn joined() -> SelectStatement {
    let mut outer = Query::select();
    outer.column(Asterisk).from_subquery(page(), Alias::new("page")).left_join(
        Alias::new("u"),
        Expr::col((Alias::new("u"), Alias::new("t_id"))).equals((Alias::new("page"), Alias::new("id"))),
    );
    outer
}

#[test]
fn a_page_s_bounds_are_written_as_numbers_and_its_filters_stay_bound() {
    let bound = Some(Values(vec![Value::Int(Some(5))]));
    let built = with_literal_bounds(DbBackend::Postgres, &page(), 20, 40);
    assert_eq!((built.sql.as_str(), &built.values), (r#"SELECT * FROM "t" WHERE "a" = $1 LIMIT 20 OFFSET 40"#, &bound));
    let built = with_literal_bounds(DbBackend::Sqlite, &joined(), 20, 40);
    assert_eq!(
        built.sql,
        r#"SELECT * FROM (SELECT * FROM "t" WHERE "a" = ? LIMIT 20 OFFSET 40) AS "page" LEFT JOIN "u" ON "u"."t_id" = "page"."id""#
    );
    assert_eq!(built.values, bound);
    let built = with_literal_bounds(DbBackend::Postgres, &joined(), 20, 40);
    assert!(built.sql.contains(r#""a" = $1 LIMIT 20 OFFSET 40) AS "page""#), "{}", built.sql);
}

#[test]
#[should_panic(expected = "the page's bounds are not its statement's last values")]
fn a_value_after_the_bounds_is_caught_in_tests() {
    let mut outer = joined();
    outer.and_where(Expr::col(Alias::new("b")).eq(7));
    // Release builds keep every value bound rather than guess; tests stop here.
    with_literal_bounds(DbBackend::Postgres, &outer, 20, 40);
}
