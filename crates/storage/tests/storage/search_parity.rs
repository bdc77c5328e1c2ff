//! Search gives the same answer on every engine: `search=` over name and
//! description and the `name__contains` filter return the same products, in
//! the same order, with the same `total`, on SQLite (the embedded profile)
//! and on PostgreSQL — both a database with the `TEST_DATABASE_URL` server's
//! default collation and one with a linguistic (ICU `en-US`) collation, like
//! the `en_US.utf8` of a server from the official image (CI's, Compose's).
//!
//! One catalog, with the same ids, is seeded into every database; its names
//! and descriptions stress the case folding (Cyrillic, accented Latin, ß/ẞ,
//! Turkish dotted and dotless i), the LIKE metacharacters `%`, `_` and `\`,
//! and NULL descriptions. Each query is parsed by `parse_list_query` and run
//! through `SeaCatalogRepository`, the API's code path; every answer is
//! compared whole (rows, their category lists, total) with SQLite's. Engines
//! that were wrong in the same way would agree, so many cases also spell out
//! the expected rows.
//!
//! The last test does the same for the sorts of `GET /users`.
//!
//! Without `TEST_DATABASE_URL` only SQLite runs, and the test says so.

use std::collections::HashSet;

use coffee_domain::catalog::{
    CatalogRepository, Category, CategoryField, CategoryResource, NewProduct, Product, ProductField, ProductResource,
};
use coffee_domain::money::Money;
use coffee_domain::query::{Filter, ListQuery, Op, Page, Sort, Value, parse_list_query};
use coffee_domain::user::{User, UserRepository};
use coffee_storage::SeaCatalogRepository;
use coffee_testkit::TestDatabase;
use uuid::Uuid;

use crate::support::{Env, backends, hours, migrated, query, secs, t0, user};

/// `(name, description, categories)` in order of creation (three per hour,
/// so that the default newest-first sort has ties for the id to break).
/// Prices repeat as well, for the same reason.
const PRODUCTS: [(&str, Option<&str>, &[&str]); 18] = [
    ("КОФЕ Латте", Some("Двойной эспрессо с молоком"), &["Coffee"]),
    ("кофе по-турецки", None, &["Coffee"]),
    ("Latte Macchiato", Some("Espresso, steamed milk"), &["Coffee"]),
    ("Éclair", Some("Choux pastry, vanilla cream"), &["Pastry"]),
    ("éclair au café", Some("Coffee cream"), &["Été", "seasonal", "Pastry", "Coffee"]),
    ("Croissant", Some("Butter; filled like an ÉCLAIR"), &["Pastry"]),
    ("Straße Blend", Some("Dark roast"), &["Coffee"]),
    ("GROẞE Tasse", None, &["Coffee"]),
    ("STRASSE Roast", Some("Medium roast"), &["Coffee"]),
    ("Istanbul Çay", Some("Black tea"), &["Été"]),
    ("İzmir Kahvesi", Some("Turkish coffee"), &["Coffee"]),
    ("Sıcak Çikolata", Some("Hot chocolate"), &["seasonal"]),
    ("100% Arabica", Some("Single origin"), &["Coffee"]),
    ("Half_Half", Some("50/50 blend"), &["Coffee"]),
    // A `_` wildcard in `f_h` would match its "f h".
    ("Leaf Herbal Tea", None, &[]),
    ("Back\\slash Brew", Some("Cold brew"), &["Été"]),
    ("Autumn Special", Some("10% pumpkin, no_sugar syrup"), &["seasonal"]),
    ("Plain Water", None, &[]),
];

const PRICES: [i64; 6] = [380, 450, 500, 300, 450, 380];

/// `(name, description)`: the categories, created a second apart.
const CATEGORIES: [(&str, Option<&str>); 4] = [
    ("Coffee", Some("Espresso-based drinks")),
    ("Pastry", None),
    ("Été", Some("Seasonal, served cold")),
    ("seasonal", None),
];

/// The catalog every engine gets, ids included.
struct Catalog {
    categories: Vec<Category>,
    products: Vec<NewProduct>,
}

impl Catalog {
    fn new() -> Self {
        let categories: Vec<Category> = CATEGORIES
            .iter()
            .zip(0..)
            .map(|((name, description), i)| Category {
                id: Uuid::now_v7(),
                name: (*name).to_owned(),
                description: description.map(str::to_owned),
                created_at: t0() + secs(i),
                updated_at: t0() + secs(i),
            })
            .collect();
        let products = PRODUCTS
            .iter()
            .zip(0..)
            .map(|((name, description, in_categories), i)| {
                let at = t0() + hours(i / 3);
                let product = Product {
                    id: Uuid::now_v7(),
                    name: (*name).to_owned(),
                    description: description.map(str::to_owned),
                    price: Money::price("price", PRICES[usize::try_from(i).unwrap() % PRICES.len()]).unwrap(),
                    is_available: *name != "STRASSE Roast",
                    image: None,
                    categories: Vec::new(),
                    created_at: at,
                    updated_at: at,
                };
                let category_ids = in_categories.iter().map(|c| Self::find(&categories, c).id).collect();
                NewProduct { product, category_ids }
            })
            .collect();
        Self { categories, products }
    }

    fn find<'a>(categories: &'a [Category], name: &str) -> &'a Category {
        categories.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no category {name}"))
    }

    /// The id of a category, as query-string text.
    fn category_id(&self, name: &str) -> String {
        Self::find(&self.categories, name).id.to_string()
    }
}

/// One database under comparison.
struct Engine {
    label: String,
    repo: SeaCatalogRepository,
    _env: Env,
}

impl Engine {
    fn new(label: String, env: Env) -> Self {
        Self { label, repo: SeaCatalogRepository::new(env.pools.clone()), _env: env }
    }
}

/// SQLite first, then every PostgreSQL flavour available, each seeded with `catalog`.
async fn seeded(catalog: &Catalog) -> Vec<Engine> {
    let mut engines: Vec<Engine> = backends().await.map(|env| Engine::new(format!("{:?}", env.backend), env)).collect();
    match TestDatabase::postgres_with_icu_locale("en-US").await {
        Some(database) => {
            engines.push(Engine::new("Postgres (ICU en-US collation)".to_owned(), migrated(database).await))
        }
        None => eprintln!("note: only SQLite ran; parity with PostgreSQL needs TEST_DATABASE_URL (CI sets it)"),
    }
    for engine in &engines {
        for category in &catalog.categories {
            engine.repo.create_category(category).await.unwrap();
        }
        for product in &catalog.products {
            engine.repo.create_product(product).await.unwrap();
        }
    }
    engines
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// `pairs` parsed as the API parses `GET /products`.
fn product_query(pairs: &[(&str, &str)]) -> ListQuery<ProductField> {
    parse_list_query::<ProductResource>(&owned(pairs)).unwrap_or_else(|e| panic!("{pairs:?} refused: {e:?}"))
}

/// A page's rows in a form that names what differs: name, id and category names.
fn rows(page: &Page<Product>) -> Vec<(&str, Uuid, Vec<&str>)> {
    page.items.iter().map(|p| (p.name.as_str(), p.id, p.categories.iter().map(|c| c.name.as_str()).collect())).collect()
}

/// Runs `query` on every engine, asserts that each answers exactly as the
/// first (SQLite) did, and returns that answer.
async fn products(engines: &[Engine], query: &ListQuery<ProductField>) -> Page<Product> {
    let mut answers = Vec::new();
    for engine in engines {
        let page =
            engine.repo.list_products(query).await.unwrap_or_else(|e| panic!("{query:?} on {}: {e:?}", engine.label));
        answers.push((engine.label.as_str(), page));
    }
    let (first_label, first) = &answers[0];
    for (label, page) in &answers[1..] {
        assert_eq!(
            (rows(page), page.total),
            (rows(first), first.total),
            "{label} and {first_label} disagree on {query:?}"
        );
        // Each database has a version of its own.
        let unversioned = |page: &Page<Product>| Page { version: None, ..page.clone() };
        assert_eq!(unversioned(page), unversioned(first), "{label} and {first_label} disagree on {query:?}");
    }
    answers.swap_remove(0).1
}

/// [`products`] of a query-string.
async fn listed(engines: &[Engine], pairs: &[(&str, &str)]) -> Page<Product> {
    products(engines, &product_query(pairs)).await
}

fn names(page: &Page<Product>) -> Vec<&str> {
    page.items.iter().map(|p| p.name.as_str()).collect()
}

/// The names `search=term` finds, sorted by name.
async fn search(engines: &[Engine], term: &str) -> Vec<String> {
    let page = listed(engines, &[("search", term), ("sort", "name")]).await;
    assert_eq!(page.total, u64::try_from(page.items.len()).unwrap(), "search {term:?} spans pages");
    names(&page).into_iter().map(str::to_owned).collect()
}

#[tokio::test]
async fn case_folding_beyond_ascii_finds_the_same_products_on_every_engine() {
    let catalog = Catalog::new();
    let engines = seeded(&catalog).await;

    // Cyrillic upper and lower case, in either direction.
    for term in ["кофе", "КОФЕ", "Кофе", "кОфЕ"] {
        assert_eq!(search(&engines, term).await, ["КОФЕ Латте", "кофе по-турецки"], "search {term:?}");
    }
    assert_eq!(search(&engines, "латте").await, ["КОФЕ Латте"]);
    // Latin "latte" is another word than Cyrillic "латте".
    assert_eq!(search(&engines, "LATTE").await, ["Latte Macchiato"]);

    // Accented Latin: names and a description ("… an ÉCLAIR").
    for term in ["éclair", "ÉCLAIR", "Éclair"] {
        assert_eq!(search(&engines, term).await, ["Croissant", "Éclair", "éclair au café"], "search {term:?}");
    }
    assert_eq!(search(&engines, "CAFÉ").await, ["éclair au café"]);
    // Folding is case only: accents are kept.
    assert!(search(&engines, "eclair").await.is_empty());

    // ß and capital ẞ fold together; "ss" is another spelling, not a case.
    for term in ["ß", "ẞ", "STRAẞE", "straße"] {
        let expected: &[&str] =
            if term.chars().count() == 1 { &["GROẞE Tasse", "Straße Blend"] } else { &["Straße Blend"] };
        assert_eq!(search(&engines, term).await, expected, "search {term:?}");
    }
    assert_eq!(search(&engines, "strasse").await, ["STRASSE Roast"]);
    assert_eq!(search(&engines, "GROSSE").await, Vec::<String>::new());

    // Turkish: dotless ı is its own letter; I folds to i (no Turkish
    // tailoring); İ folds to i + U+0307, so plain "izmir" does not find it.
    assert_eq!(search(&engines, "ı").await, ["Sıcak Çikolata"]);
    assert_eq!(search(&engines, "sıcak").await, ["Sıcak Çikolata"]);
    assert!(search(&engines, "SICAK").await.is_empty());
    assert_eq!(search(&engines, "ISTANBUL").await, ["Istanbul Çay"]);
    assert_eq!(search(&engines, "İzmir").await, ["İzmir Kahvesi"]);
    assert_eq!(search(&engines, "i\u{307}zmir").await, ["İzmir Kahvesi"]);
    assert!(search(&engines, "izmir").await.is_empty());
    assert_eq!(search(&engines, "ÇAY").await, ["Istanbul Çay"]);
    // A single folded letter matches across scripts and columns alike.
    for term in ["I", "i", "İ", "Ç", "é", "É", "О", "о", "e", "E", "a"] {
        search(&engines, term).await;
    }

    // `name__contains` folds the same way.
    let contains = |value| [("name__contains", value), ("sort", "name")];
    assert_eq!(names(&listed(&engines, &contains("КОФЕ")).await), ["КОФЕ Латте", "кофе по-турецки"]);
    assert_eq!(names(&listed(&engines, &contains("ÉCLAIR")).await), ["Éclair", "éclair au café"]);
    assert_eq!(names(&listed(&engines, &contains("ẞ")).await), ["GROẞE Tasse", "Straße Blend"]);
    assert_eq!(names(&listed(&engines, &contains("ı")).await), ["Sıcak Çikolata"]);
}

#[tokio::test]
async fn like_metacharacters_in_terms_and_names_match_literally_on_every_engine() {
    let catalog = Catalog::new();
    let engines = seeded(&catalog).await;

    // In names and in a description ("10% pumpkin, no_sugar syrup").
    assert_eq!(search(&engines, "%").await, ["100% Arabica", "Autumn Special"]);
    assert_eq!(search(&engines, "_").await, ["Autumn Special", "Half_Half"]);
    assert_eq!(search(&engines, "\\").await, ["Back\\slash Brew"]);
    assert_eq!(search(&engines, "0% a").await, ["100% Arabica"]);
    // As a pattern, `f_h` would also match "Leaf Herbal Tea".
    assert_eq!(search(&engines, "F_H").await, ["Half_Half"]);
    assert_eq!(search(&engines, "K\\S").await, ["Back\\slash Brew"]);
    // As patterns these would match many products.
    for term in ["%%", "a%e", "h_lf", "\\%", "\\_", "%\\", "_\\"] {
        assert!(search(&engines, term).await.is_empty(), "search {term:?}");
    }

    // `name__contains` is literal too, and looks at names only.
    let contains = |value| [("name__contains", value), ("sort", "name")];
    assert_eq!(names(&listed(&engines, &contains("%")).await), ["100% Arabica"]);
    assert_eq!(names(&listed(&engines, &contains("_")).await), ["Half_Half"]);
    assert_eq!(names(&listed(&engines, &contains("\\")).await), ["Back\\slash Brew"]);
    for value in ["h_l", "%a", "\\b", "0_%"] {
        assert_eq!(listed(&engines, &contains(value)).await.total, 0, "name__contains {value:?}");
    }
}

#[tokio::test]
async fn search_covers_descriptions_and_null_descriptions_alike_on_every_engine() {
    let catalog = Catalog::new();
    let engines = seeded(&catalog).await;

    // Terms only descriptions hold.
    assert_eq!(search(&engines, "PUMPKIN").await, ["Autumn Special"]);
    assert_eq!(search(&engines, "vanilla").await, ["Éclair"]);
    assert_eq!(search(&engines, "молоком").await, ["КОФЕ Латте"]);
    assert_eq!(listed(&engines, &[("name__contains", "pumpkin")]).await.total, 0);
    // Name or description, each product once.
    assert_eq!(search(&engines, "roast").await, ["STRASSE Roast", "Straße Blend"]);
    assert_eq!(search(&engines, "coffee").await, ["İzmir Kahvesi", "éclair au café"]);
    // Products without a description are found by their name, and only then.
    assert_eq!(search(&engines, "tasse").await, ["GROẞE Tasse"]);
    assert_eq!(search(&engines, "water").await, ["Plain Water"]);
    assert_eq!(search(&engines, "турецки").await, ["кофе по-турецки"]);

    // Nothing found: an empty page, a zero total.
    for pairs in [
        &[("search", "matcha")][..],
        &[("search", "matcha"), ("sort", "-price"), ("page", "2")],
        &[("search", "plain"), ("is_available", "false")],
        &[("name__contains", "cream")],
    ] {
        let page = listed(&engines, pairs).await;
        assert_eq!((page.items.len(), page.total, page.pages()), (0, 0, 0), "{pairs:?}");
    }

    // The language refuses `description__contains` (description is
    // searchable, not filterable); the repository's mapping of it folds
    // like the rest.
    assert!(parse_list_query::<ProductResource>(&owned(&[("description__contains", "x")])).is_err());
    let query = ListQuery {
        filters: vec![Filter {
            field: ProductField::Description,
            op: Op::Contains,
            values: vec![Value::Text("ÉCLAIR".to_owned())],
        }],
        search: None,
        sort: vec![Sort { field: ProductField::Name, descending: false }],
        page: 1,
        page_size: 20,
    };
    assert_eq!(names(&products(&engines, &query).await), ["Croissant"]);
}

/// `search`, `category_id` and `sort` parameters.
fn filtered<'a>(search: &'a str, category: &'a str, sort: &'a str) -> [(&'a str, &'a str); 3] {
    [("search", search), ("category_id", category), ("sort", sort)]
}

#[tokio::test]
async fn search_with_a_category_filter_and_sort_orders_rows_alike_on_every_engine() {
    let catalog = Catalog::new();
    let engines = seeded(&catalog).await;
    let (coffee, pastry) = (catalog.category_id("Coffee"), catalog.category_id("Pastry"));
    let (coffee, pastry) = (coffee.as_str(), pastry.as_str());
    let two = format!("{},{}", catalog.category_id("seasonal"), catalog.category_id("Été"));
    let two = two.as_str();

    // Names sort ignoring case, then by code point, on every engine whatever
    // the database's collation: ASCII letters of either case, then accented
    // and non-Latin ones ("İzmir" folds to an "i" with a combining dot).
    let page = listed(&engines, &[("category_id", coffee), ("sort", "name")]).await;
    let expected = [
        "100% Arabica",
        "GROẞE Tasse",
        "Half_Half",
        "İzmir Kahvesi",
        "Latte Macchiato",
        "STRASSE Roast",
        "Straße Blend",
        "éclair au café",
        "КОФЕ Латте",
        "кофе по-турецки",
    ];
    assert_eq!((names(&page), page.total), (expected.to_vec(), 10));
    let descending = listed(&engines, &[("category_id", coffee), ("sort", "-name")]).await;
    assert_eq!(names(&descending), expected.iter().rev().copied().collect::<Vec<_>>());
    // So do a product's categories.
    let eclair = page.items.iter().find(|p| p.name == "éclair au café").unwrap();
    let in_order: Vec<&str> = eclair.categories.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(in_order, ["Coffee", "Pastry", "seasonal", "Été"]);

    assert_eq!(
        names(&listed(&engines, &filtered("éclair", pastry, "name")).await),
        ["Croissant", "Éclair", "éclair au café"]
    );
    assert_eq!(names(&listed(&engines, &filtered("éclair", coffee, "-name")).await), ["éclair au café"]);
    assert_eq!(names(&listed(&engines, &filtered("ROAST", coffee, "name")).await), ["STRASSE Roast", "Straße Blend"]);
    let available = [("search", "roast"), ("category_id", coffee), ("is_available", "true")];
    assert_eq!(names(&listed(&engines, &available).await), ["Straße Blend"]);
    assert_eq!(listed(&engines, &filtered("кофе", pastry, "name")).await.total, 0);
    assert_eq!(listed(&engines, &[("search", "a"), ("category_id__in", two)]).await.total, 5);

    // Every sort over searches and category filters, ties included.
    for sort in
        ["name", "-name", "price,name", "-price,-name", "price", "-created_at", "created_at", "is_available,-name"]
    {
        for term in ["a", "é", "кофе", "_"] {
            listed(&engines, &[("search", term), ("sort", sort)]).await;
            listed(&engines, &[("search", term), ("category_id", coffee), ("sort", sort)]).await;
            listed(&engines, &[("name__contains", term), ("category_id__in", two), ("sort", sort)]).await;
        }
    }
}

#[tokio::test]
async fn pages_of_a_search_split_it_alike_on_every_engine() {
    let catalog = Catalog::new();
    let engines = seeded(&catalog).await;

    for sort in [None, Some("name"), Some("-name"), Some("price"), Some("-price,name"), Some("created_at")] {
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = vec![("search", "a")];
            pairs.extend(sort.map(|s| ("sort", s)));
            pairs.extend_from_slice(extra);
            pairs
        };
        let whole = listed(&engines, &with(&[("page_size", "100")])).await;
        assert!(whole.total > 8, "the term should span pages");
        let mut seen = Vec::new();
        for page in ["1", "2", "3", "4"] {
            let got = listed(&engines, &with(&[("page_size", "4"), ("page", page)])).await;
            assert_eq!((got.total, got.pages()), (whole.total, whole.total.div_ceil(4)), "sort {sort:?} page {page}");
            seen.extend(got.items);
        }
        // The pages are the whole list cut in four: no row twice, none lost.
        assert_eq!(seen, whole.items, "sort {sort:?}");
        let beyond = listed(&engines, &with(&[("page_size", "4"), ("page", "5")])).await;
        assert_eq!((beyond.items.len(), beyond.total), (0, whole.total));
    }
    let ids: HashSet<Uuid> =
        listed(&engines, &[("search", "a"), ("page_size", "100")]).await.items.iter().map(|p| p.id).collect();
    assert_eq!(ids.len(), 16);
}

#[tokio::test]
async fn category_search_and_name_sort_agree_on_every_engine() {
    let catalog = Catalog::new();
    let engines = seeded(&catalog).await;
    let categories = async |pairs: &[(&str, &str)]| {
        let query: ListQuery<CategoryField> = parse_list_query::<CategoryResource>(&owned(pairs)).unwrap();
        let mut answers = Vec::new();
        for engine in &engines {
            answers.push((engine.label.as_str(), engine.repo.list_categories(&query).await.unwrap()));
        }
        for (label, page) in &answers[1..] {
            assert_eq!(page, &answers[0].1, "{label} and {} disagree on {pairs:?}", answers[0].0);
        }
        let page = answers.swap_remove(0).1;
        page.items.into_iter().map(|c| c.name).collect::<Vec<_>>()
    };

    assert_eq!(categories(&[("sort", "name")]).await, ["Coffee", "Pastry", "seasonal", "Été"]);
    assert_eq!(categories(&[("sort", "-name")]).await, ["Été", "seasonal", "Pastry", "Coffee"]);
    assert_eq!(categories(&[("search", "ÉTÉ")]).await, ["Été"]);
    // The name of one, the description ("Seasonal, served cold") of the other.
    assert_eq!(categories(&[("search", "SEASONAL"), ("sort", "name")]).await, ["seasonal", "Été"]);
    assert_eq!(categories(&[("name__contains", "Season")]).await, ["seasonal"]);
    assert_eq!(categories(&[("search", "%")]).await, Vec::<String>::new());
}

/// `GET /users` sorts by e-mail and by names alike on every engine too: by
/// code point (migration `m20261207_000010_user_name_order`), names ignoring
/// case first (`m20261208_000011_case_insensitive_name_order`), missing
/// names last when ascending. A linguistic collation would ignore the `.`, `_`,
/// `-` and `+` of the addresses at first and put "émile" before "Zoe".
#[tokio::test]
async fn users_sort_by_email_and_names_alike_on_every_engine() {
    let mut engines: Vec<(String, Env)> = backends().await.map(|env| (format!("{:?}", env.backend), env)).collect();
    if let Some(database) = TestDatabase::postgres_with_icu_locale("en-US").await {
        engines.push(("Postgres (ICU en-US collation)".to_owned(), migrated(database).await));
    }
    let people: [(&str, Option<(&str, &str)>); 7] = [
        ("ab@example.com", Some(("Zoe", "Ölberg"))),
        ("a.b@example.com", Some(("émile", "Oak"))),
        ("a_c@example.com", Some(("Émile", "oak"))),
        ("a-z@example.com", Some(("zoë", "O'Neil"))),
        ("a+1@example.com", Some(("Zoe", "Oak"))),
        ("b@example.com", None),
        ("ábc@example.com", Some(("Anne-Marie", "Annemarie"))),
    ];
    for (_, env) in &engines {
        for (i, (email, names)) in people.iter().enumerate() {
            let builder = user(email).created_at(t0() + secs(i64::try_from(i).unwrap()));
            let builder = match names {
                Some((first, last)) => builder.named(first, last),
                None => builder,
            };
            builder.create(&env.users).await;
        }
    }
    let local = |page: &Page<User>| -> Vec<String> {
        page.items.iter().map(|u| u.email.as_str().split('@').next().unwrap_or_default().to_owned()).collect()
    };
    let mut sorted = Vec::new();
    for sort in ["email", "-email", "first_name", "-first_name", "last_name", "-last_name"] {
        let mut answers = Vec::new();
        for (label, env) in &engines {
            let page = env.users.list(&query(&[("sort", sort)])).await.unwrap();
            answers.push((label, local(&page)));
        }
        let (first_label, first) = &answers[0];
        for (label, answer) in &answers[1..] {
            assert_eq!(answer, first, "{label} and {first_label} disagree on sort={sort}");
        }
        sorted.push(first.clone());
    }
    assert_eq!(sorted[0], ["a+1", "a-z", "a.b", "a_c", "ab", "b", "ábc"], "code point order");
    // Case aside, ASCII before accented letters; then capitals first; no name last; ties by id.
    assert_eq!(sorted[2], ["ábc", "ab", "a+1", "a-z", "a_c", "a.b", "b"], "by first name");
    assert_eq!(sorted[4], ["ábc", "a-z", "a.b", "a+1", "a_c", "ab", "b"], "by last name");
}
